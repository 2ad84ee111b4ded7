package tail

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/stockade-ids/stockade/internal/yamlnode"
	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/sources"
	"github.com/stockade-ids/stockade/sources/nginx"
)

// FilesConfig is a files source as a configuration file writes it: its
// keys sit beside files: in the source's entry
// (`- files: [/var/log/auth.log]` then `type: syslog`).
type FilesConfig struct {
	Files []string `yaml:"files"`
	// Type forces the format; empty detects it from each file's first lines.
	Type string `yaml:"type"`
	// Start is where a file first seen without a checkpoint is read from:
	// "end" (default) or "beginning".
	Start string `yaml:"start"`
	// LogFormat is the access-log layout (nginx log_format or Apache
	// LogFormat syntax); RealIPFrom the trusted proxies whose
	// X-Forwarded-For is believed.
	LogFormat  string   `yaml:"log_format"`
	RealIPFrom []string `yaml:"real_ip_from"`
	// Poll is how often the files are looked at for rotation, truncation
	// and new files (default 250ms); inotify, where it works, only makes
	// appended lines arrive sooner.
	Poll time.Duration `yaml:"poll"`
}

// Validate reports every problem of c, each with its key.
func (c FilesConfig) Validate() error {
	var ps yamlnode.Problems
	if len(c.Files) == 0 {
		ps.Add("files", "name at least one file or glob")
	}
	for i, g := range c.Files {
		if g == "" {
			ps.Add(fmt.Sprintf("files[%d]", i), "empty")
		} else if _, err := filepath.Match(g, ""); err != nil {
			ps.Add(fmt.Sprintf("files[%d]", i), "%q is not a valid glob", g)
		}
	}
	if _, err := ParseType(c.Type); err != nil {
		ps.Add("type", "%s", err)
	}
	if c.Poll < 0 || c.Poll > 0 && c.Poll < 10*time.Millisecond {
		ps.Add("poll", "%v: want 10ms or more (0 is the default, 250ms)", c.Poll)
	}
	if c.Start != "" && c.Start != "end" && c.Start != "beginning" {
		ps.Add("start", "%q: want end or beginning", c.Start)
	}
	_, _ = Web(c.LogFormat, c.RealIPFrom, &ps)
	if (c.LogFormat != "" || len(c.RealIPFrom) > 0) && len(c.Files) == 0 {
		ps.Add("", "log_format and real_ip_from apply to files")
	}
	return ps.Err()
}

// Web are the web-log options of log_format and real_ip_from, each
// problem added to ps under its key when ps is given.
func Web(logFormat string, realIPFrom []string, ps *yamlnode.Problems) (sources.Web, error) {
	var w sources.Web
	var own yamlnode.Problems
	if ps == nil {
		ps = &own
	}
	n := len(*ps)
	var err error
	if logFormat != "" {
		if w.Layout, err = nginx.Compile(logFormat); err != nil {
			ps.Add("log_format", "%s", err)
		}
	}
	if w.RealIP, err = nginx.ParseRealIP(realIPFrom); err != nil {
		ps.Add("real_ip_from", "%s", err)
	}
	if len(*ps) > n {
		return w, (*ps)[n:]
	}
	return w, nil
}

// ParseType is the format a source's type: names ("" detects it).
func ParseType(s string) (pipeline.Format, error) {
	if s == "" {
		return pipeline.FormatUnknown, nil
	}
	f, ok := pipeline.ParseFormat(s)
	if !ok {
		return f, fmt.Errorf("unknown format %q (want syslog, nginx, fastlog, eve, fail2ban, decision or plain)", s)
	}
	return f, nil
}
