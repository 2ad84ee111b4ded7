// Package yamlnode reads the nodes of a YAML document the way every
// stockade loader does (the rule-pack loader, its tests: blocks): each
// problem is added to a srcpos.Errors at the node's position, in the same
// words, and reading goes on, so one pass reports every problem.
package yamlnode

import (
	"fmt"

	"go.yaml.in/yaml/v3"

	"github.com/stockade-ids/stockade/internal/srcpos"
)

// Field is one key of a mapping with the node of its value.
type Field struct {
	Key   *yaml.Node
	Value *yaml.Node
}

// Mapping returns the keys of n in order, refusing a key given twice; it
// reports false when n is not a mapping.
func Mapping(n *yaml.Node, pos func(*yaml.Node) srcpos.Pos, es *srcpos.Errors, what string) ([]Field, bool) {
	if n.Kind != yaml.MappingNode {
		es.Add(pos(n), "%s: want a mapping", what)
		return nil, false
	}
	var fs []Field
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if seen[k.Value] {
			es.Add(pos(k), "key %q is repeated", k.Value)
			continue
		}
		seen[k.Value] = true
		fs = append(fs, Field{Key: k, Value: n.Content[i+1]})
	}
	return fs, true
}

// Scalar is n's value, or "" when n is not a single value.
func Scalar(n *yaml.Node, pos func(*yaml.Node) srcpos.Pos, es *srcpos.Errors) string {
	if n.Kind != yaml.ScalarNode {
		es.Add(pos(n), "want a single value")
		return ""
	}
	return n.Value
}

// StringList is a list of scalars; a single scalar is a list of one.
func StringList(n *yaml.Node, pos func(*yaml.Node) srcpos.Pos, es *srcpos.Errors) []*yaml.Node {
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

// ErrPos digs the line out of a yaml.v3 syntax error ("yaml: line 7: ...").
func ErrPos(file string, err error) srcpos.Pos {
	var line int
	if _, e := fmt.Sscanf(err.Error(), "yaml: line %d:", &line); e != nil || line == 0 {
		line = 1
	}
	return srcpos.Pos{File: file, Line: line, Col: 1}
}
