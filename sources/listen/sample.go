package listen

import _ "embed"

// SyslogSample and JournaldSample are commented examples of these
// sources' sections in a configuration file, every key shown with its
// default.
var (
	//go:embed syslog.sample.yaml
	SyslogSample string
	//go:embed journald.sample.yaml
	JournaldSample string
)
