package listen

import _ "embed"

// EveSample is a commented example of eve_socket's section in a
// configuration file, every key shown with its default.
//
//go:embed eve.sample.yaml
var EveSample string
