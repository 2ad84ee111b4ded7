package daemon

import (
	"github.com/stockade-ids/stockade/config"
)

// Config is `stockade run --config FILE`: the config package reads it
// (each source and sink section is its component's own Config), and
// deploy/stockade.reference.yaml documents every key.
type Config = config.Daemon

// LoadConfig reads the daemon's configuration at path, refusing it with
// every problem at file:line:col.
func LoadConfig(path string) (*Config, error) { return config.Load(path) }
