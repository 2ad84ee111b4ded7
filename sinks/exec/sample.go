package exec

import _ "embed"

// Sample is a commented example of this component's section in a
// configuration file, every key shown with its default.
//
//go:embed sample.yaml
var Sample string
