package packtest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/stockade-ids/stockade/internal/yamlnode"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/rules"
)

const testKeys = "name, format, now, tz, source, allow, enable, lines, inputs, expect, expect_none, expect_count"

// Parse reads the tests: block of a pack file (nil when it has none).
// Errors carry file:line:col, all of them, like Parse's.
func Parse(file string, data []byte) ([]*Test, error) {
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, rules.Errors{{Pos: yamlnode.ErrPos(file, err), Msg: strings.TrimPrefix(err.Error(), "yaml: ")}}
	}
	var es rules.Errors
	pos := func(n *yaml.Node) rules.Pos { return rules.Pos{File: file, Line: n.Line, Col: n.Column} }
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return nil, nil // Parse reports it
	}
	var list *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "tests" {
			list = root.Content[i+1]
		}
	}
	if list == nil {
		return nil, nil
	}
	if list.Kind != yaml.SequenceNode {
		es.Add(pos(list), "tests: want a list")
		return nil, es
	}
	// A literal block's node says where its indicator is; the columns of
	// its lines come from the text itself.
	src := strings.Split(string(data), "\n")
	indent := func(line int) int {
		if line < 1 || line > len(src) {
			return 1
		}
		l := src[line-1]
		return len(l) - len(strings.TrimLeft(l, " ")) + 1
	}
	var tests []*Test
	names := map[string]rules.Pos{}
	for i, n := range list.Content {
		t := parseTest(n, pos, indent, &es)
		if t == nil {
			continue
		}
		if t.Name == "" {
			t.Name = fmt.Sprintf("#%d", i+1)
		}
		if prev, dup := names[t.Name]; dup {
			es.Add(t.Pos, "test %q is defined twice (first at %s)", t.Name, prev)
		}
		names[t.Name] = t.Pos
		tests = append(tests, t)
	}
	if len(es) > 0 {
		return nil, es
	}
	return tests, nil
}

func parseTest(n *yaml.Node, pos func(*yaml.Node) rules.Pos, indent func(int) int, es *rules.Errors) *Test {
	fields, ok := yamlnode.Mapping(n, pos, es, "test")
	if !ok {
		return nil
	}
	before := len(*es)
	t := &Test{Pos: pos(n), Loc: time.UTC, Count: -1}
	in := inputKeys{source: "test"}
	for _, f := range fields {
		if !t.setting(f, &in, pos, es) && !t.expects(f, pos, es) {
			es.Add(pos(f.Key), "unknown key %q in test (known: %s)", f.Key.Value, testKeys)
		}
	}
	t.addInputs(&in, pos, indent, es)
	if len(t.Expect) == 0 && len(t.None) == 0 && t.Count < 0 && len(*es) == before {
		es.Add(t.Pos, "test %q expects nothing: add expect, expect_none or expect_count", t.Name)
	}
	if len(*es) > before {
		return nil
	}
	return t
}

// inputKeys are a test's keys about its logs, read before the logs are:
// format and source apply to every input that does not set its own.
type inputKeys struct {
	format        pipeline.Format
	source        string
	lines, inputs *yaml.Node
}

// setting reads a key about how the test runs; false: not one of those.
func (t *Test) setting(f yamlnode.Field, in *inputKeys, pos func(*yaml.Node) rules.Pos, es *rules.Errors) bool {
	v := f.Value
	switch f.Key.Value {
	case "name":
		t.Name = yamlnode.Scalar(v, pos, es)
	case "format":
		in.format = testFormat(v, pos, es)
	case "now":
		t.Now = testTime(v, pos, es, "now")
	case "tz":
		loc, err := time.LoadLocation(yamlnode.Scalar(v, pos, es))
		if err != nil {
			es.Add(pos(v), "tz: %v", err)
		} else {
			t.Loc = loc
		}
	case "source":
		in.source = yamlnode.Scalar(v, pos, es)
	case "allow":
		for _, s := range yamlnode.StringList(v, pos, es) {
			p, err := rules.ParsePrefix(s.Value)
			if err != nil {
				es.Add(pos(s), "allow: %v", err)
				continue
			}
			t.Allow = append(t.Allow, p)
		}
	case "enable":
		for _, s := range yamlnode.StringList(v, pos, es) {
			t.Enable = append(t.Enable, s.Value)
		}
	case "lines":
		in.lines = v
	case "inputs":
		in.inputs = v
	default:
		return false
	}
	return true
}

// expects reads a key about the decisions expected; false: not one
// of those.
func (t *Test) expects(f yamlnode.Field, pos func(*yaml.Node) rules.Pos, es *rules.Errors) bool {
	v := f.Value
	switch f.Key.Value {
	case "expect":
		if v.Kind != yaml.SequenceNode {
			es.Add(pos(v), "expect: want a list of {target, rule, offense, duration, at}")
			break
		}
		for _, c := range v.Content {
			if x, ok := expectation(c, pos, es, "expect", true); ok {
				t.Expect = append(t.Expect, x)
			}
		}
	case "expect_none":
		for _, c := range seqOrOne(v) {
			if x, ok := expectation(c, pos, es, "expect_none", false); ok {
				t.None = append(t.None, x)
			}
		}
	case "expect_count":
		t.CountPos = pos(v)
		if err := v.Decode(&t.Count); err != nil || t.Count < 0 {
			es.Add(pos(v), "expect_count: want a number of ban decisions (0 or more)")
		}
	default:
		return false
	}
	return true
}

// addInputs reads the test's lines, or its inputs.
func (t *Test) addInputs(in *inputKeys, pos func(*yaml.Node) rules.Pos, indent func(int) int, es *rules.Errors) {
	switch {
	case in.lines != nil && in.inputs != nil:
		es.Add(t.Pos, "test %q: give lines or inputs, not both", t.Name)
	case in.lines != nil:
		t.Inputs = []Input{{Format: in.format, Source: in.source, Pos: pos(in.lines), Lines: testLines(in.lines, pos, indent, es)}}
	case in.inputs != nil:
		if in.inputs.Kind != yaml.SequenceNode {
			es.Add(pos(in.inputs), "inputs: want a list of {format, source, lines}")
			break
		}
		for _, c := range in.inputs.Content {
			if i, ok := testInput(c, in.format, in.source, pos, indent, es); ok {
				t.Inputs = append(t.Inputs, i)
			}
		}
	default:
		es.Add(t.Pos, "test %q has no lines (or inputs)", t.Name)
	}
}

func testInput(n *yaml.Node, format pipeline.Format, source string, pos func(*yaml.Node) rules.Pos, indent func(int) int, es *rules.Errors) (Input, bool) {
	fields, ok := yamlnode.Mapping(n, pos, es, "input")
	if !ok {
		return Input{}, false
	}
	in := Input{Format: format, Source: source, Pos: pos(n)}
	var lines *yaml.Node
	for _, f := range fields {
		switch f.Key.Value {
		case "format":
			in.Format = testFormat(f.Value, pos, es)
		case "source":
			in.Source = yamlnode.Scalar(f.Value, pos, es)
		case "lines":
			lines = f.Value
		default:
			es.Add(pos(f.Key), "unknown key %q in input (known: format, source, lines)", f.Key.Value)
		}
	}
	if lines == nil {
		es.Add(in.Pos, "input has no lines")
		return in, false
	}
	in.Lines = testLines(lines, pos, indent, es)
	return in, true
}

// testLines splits a block of lines, keeping each line's position in the
// pack so that failures point at the sample. A literal block (|) starts on
// the line below its indicator; a list gives every line its own node.
func testLines(n *yaml.Node, pos func(*yaml.Node) rules.Pos, indent func(int) int, es *rules.Errors) []Line {
	var out []Line
	add := func(text string, p rules.Pos) {
		if strings.TrimSpace(text) != "" {
			out = append(out, Line{Text: strings.TrimRight(text, "\r"), Pos: p})
		}
	}
	switch {
	case n.Kind == yaml.SequenceNode:
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode {
				es.Add(pos(c), "lines: want a string per line")
				continue
			}
			add(c.Value, pos(c))
		}
	case n.Kind == yaml.ScalarNode && n.Style == yaml.FoldedStyle:
		es.Add(pos(n), "lines: a folded block (>) joins lines: use a literal block (|)")
	case n.Kind == yaml.ScalarNode:
		for i, l := range strings.Split(n.Value, "\n") {
			p := pos(n)
			if n.Style == yaml.LiteralStyle {
				p.Line = n.Line + 1 + i
				p.Col = indent(p.Line)
			}
			add(l, p)
		}
	default:
		es.Add(pos(n), "lines: want a block of lines (|) or a list of strings")
	}
	if len(out) == 0 && n.Kind != yaml.MappingNode {
		es.Add(pos(n), "lines: no lines")
	}
	return out
}

func testFormat(v *yaml.Node, pos func(*yaml.Node) rules.Pos, es *rules.Errors) pipeline.Format {
	s := yamlnode.Scalar(v, pos, es)
	f, ok := pipeline.ParseFormat(s)
	if !ok {
		es.Add(pos(v), "unknown format %q (known: syslog, nginx, fastlog, eve, fail2ban)", s)
	}
	return f
}

func testTime(v *yaml.Node, pos func(*yaml.Node) rules.Pos, es *rules.Errors, what string) time.Time {
	s := yamlnode.Scalar(v, pos, es)
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		es.Add(pos(v), "%s: want an RFC 3339 time such as 2025-11-08T22:00:00Z, not %q", what, s)
	}
	return t
}

func seqOrOne(n *yaml.Node) []*yaml.Node {
	if n.Kind == yaml.SequenceNode {
		return n.Content
	}
	return []*yaml.Node{n}
}

// expectation reads {target, rule, offense, duration, at}; expect_none
// also takes a bare address or CIDR, and only target and rule.
func expectation(n *yaml.Node, pos func(*yaml.Node) rules.Pos, es *rules.Errors, what string, full bool) (Expectation, bool) {
	x := Expectation{Pos: pos(n)}
	before := len(*es)
	target := func(v *yaml.Node) {
		p, err := rules.ParsePrefix(yamlnode.Scalar(v, pos, es))
		if err != nil {
			es.Add(pos(v), "%s: %v", what, err)
		}
		x.Target = p
	}
	if n.Kind == yaml.ScalarNode && !full {
		target(n)
		return x, len(*es) == before
	}
	fields, ok := yamlnode.Mapping(n, pos, es, what+" item")
	if !ok {
		return x, false
	}
	known := "target, rule"
	if full {
		known = "target, rule, offense, duration, at"
	}
	for _, f := range fields {
		v := f.Value
		switch k := f.Key.Value; {
		case k == "target":
			target(v)
		case k == "rule":
			x.Rule = yamlnode.Scalar(v, pos, es)
		case k == "offense" && full:
			if err := v.Decode(&x.Offense); err != nil || x.Offense < 1 {
				es.Add(pos(v), "offense: want a number from 1 (the first ban)")
			}
		case k == "duration" && full:
			x.Duration = duration(v, pos, es, "duration")
		case k == "at" && full:
			x.At = testTime(v, pos, es, "at")
		default:
			es.Add(pos(f.Key), "unknown key %q in %s item (known: %s)", k, what, known)
		}
	}
	if !full && !x.Target.IsValid() && len(*es) == before {
		es.Add(x.Pos, "expect_none: name a target")
	}
	return x, len(*es) == before
}
