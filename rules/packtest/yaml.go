package packtest

import (
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/stockade-ids/stockade/internal/yamlnode"
	"github.com/stockade-ids/stockade/rules"
)

// duration reads a tests: block's duration as rules reads a pack's: the
// same message at the same position (the node helpers are
// internal/yamlnode's, which rules uses too).
func duration(n *yaml.Node, pos func(*yaml.Node) rules.Pos, es *rules.Errors, what string) time.Duration {
	d, err := rules.ParseDuration(yamlnode.Scalar(n, pos, es))
	if err != nil {
		es.Add(pos(n), "%s: %v", what, err)
	}
	return d
}
