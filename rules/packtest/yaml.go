package packtest

import (
	"fmt"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/stockade-ids/stockade/rules"
)

// The YAML helpers of a tests: block read it as rules reads the rest of a
// pack: the same messages at the same positions.

// field is one key of a YAML mapping with the node of its value.
type field struct {
	key   *yaml.Node
	value *yaml.Node
}

func mapping(n *yaml.Node, pos func(*yaml.Node) rules.Pos, es *rules.Errors, what string) ([]field, bool) {
	if n.Kind != yaml.MappingNode {
		es.Add(pos(n), "%s: want a mapping", what)
		return nil, false
	}
	var fs []field
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if seen[k.Value] {
			es.Add(pos(k), "key %q is repeated", k.Value)
			continue
		}
		seen[k.Value] = true
		fs = append(fs, field{key: k, value: n.Content[i+1]})
	}
	return fs, true
}

func scalar(n *yaml.Node, pos func(*yaml.Node) rules.Pos, es *rules.Errors) string {
	if n.Kind != yaml.ScalarNode {
		es.Add(pos(n), "want a single value")
		return ""
	}
	return n.Value
}

func stringList(n *yaml.Node, pos func(*yaml.Node) rules.Pos, es *rules.Errors) []*yaml.Node {
	if n.Kind == yaml.ScalarNode {
		return []*yaml.Node{n}
	}
	if n.Kind != yaml.SequenceNode {
		es.Add(pos(n), "want a list of strings")
		return nil
	}
	var out []*yaml.Node
	for _, c := range n.Content {
		if c.Kind != yaml.ScalarNode {
			es.Add(pos(c), "want a string")
			continue
		}
		out = append(out, c)
	}
	return out
}

func duration(n *yaml.Node, pos func(*yaml.Node) rules.Pos, es *rules.Errors, what string) time.Duration {
	d, err := rules.ParseDuration(scalar(n, pos, es))
	if err != nil {
		es.Add(pos(n), "%s: %v", what, err)
	}
	return d
}

// yamlErrPos digs the line out of a yaml.v3 syntax error ("yaml: line 7: ...").
func yamlErrPos(file string, err error) rules.Pos {
	var line int
	if _, e := fmt.Sscanf(err.Error(), "yaml: line %d:", &line); e != nil || line == 0 {
		line = 1
	}
	return rules.Pos{File: file, Line: line, Col: 1}
}
