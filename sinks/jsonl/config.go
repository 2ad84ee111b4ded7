package jsonl

import (
	"errors"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/stockade-ids/stockade/internal/yamlnode"
)

// Config is where decisions go: a file, appended to, or "-" for standard
// output. A configuration file writes it as the path alone
// (`- jsonl: /var/log/stockade/decisions.jsonl`).
type Config struct {
	Path string
}

// UnmarshalYAML reads the path.
func (c *Config) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return errors.New(`want a file path, or "-" for standard output`)
	}
	c.Path = n.Value
	return nil
}

// Validate reports every problem of c, each with its key.
func (c Config) Validate() error {
	var ps yamlnode.Problems
	if strings.TrimSpace(c.Path) == "" {
		ps.Add("", `want a file path, or "-" for standard output`)
	}
	return ps.Err()
}

// Open is the sink c describes.
func Open(c Config) (*Sink, error) {
	if c.Path == "-" {
		return New(os.Stdout), nil
	}
	return OpenFile(c.Path)
}
