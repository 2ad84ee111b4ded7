package rules

// Pack tests, like promtool's rule tests: a pack carries sample log lines
// and the decisions they must (and must not) cause, and `stockade test` runs
// them through a real engine over that pack alone.
//
//	tests:
//	  - name: five failures ban          # optional (default: #N)
//	    format: syslog                   # optional: else detected from the lines
//	    now: 2025-11-08T23:00:00Z        # optional: the reference of year inference
//	                                     #   (lines without a year); default: when the test runs
//	    tz: UTC                          # optional: zone of zone-less timestamps; default UTC
//	    source: /var/log/auth.log        # optional: the source id `sources:` globs see; default "test"
//	    allow: [192.0.2.0/24]            # optional: the engine's allowlist (nothing else is allowed)
//	    lines: |                         # the log, one line per line (or a list of strings)
//	      2025-11-08T22:00:01+00:00 web1 sshd[1]: Failed password for root from 203.0.113.7 port 22 ssh2
//	      ...
//	    inputs:                          # instead of lines: several logs, merged by event
//	      - {format: fastlog, lines: ...}  #   time as replay merges files (each may set
//	      - {format: eve, lines: ...}      #   format and source)
//	    expect:                          # each must match a distinct ban decision on the
//	      - {target: 203.0.113.7, rule: sshd, offense: 1, duration: 10m, at: 2025-11-08T22:00:05Z}
//	    expect_none:                     # no ban may cover these (an address or a CIDR,
//	      - 198.51.100.9                 #   or {target: ..., rule: ...} for one rule's bans)
//	    expect_count: 1                  # the number of ban decisions, exactly
//
// Every line must parse: a sample that its parser refuses proves nothing, so
// a bad line fails the test (lines the format skips, such as eve records
// that are not alerts, are fine).

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/stockade-ids/stockade/pipeline"
)

// PackTest is one entry of a pack's tests: block.
type PackTest struct {
	Name     string
	Pos      Pos
	Now      time.Time // zero: when the test runs
	Loc      *time.Location
	Allow    []netip.Prefix
	Inputs   []TestInput
	Expect   []Expectation
	None     []Expectation // bans that must not happen
	Count    int           // ban decisions expected; -1: not checked
	CountPos Pos
}

// TestInput is one log of a test.
type TestInput struct {
	Format pipeline.Format // FormatUnknown: detect from the lines
	Source string
	Lines  []TestLine
	Pos    Pos
}

// TestLine is one sample line and where it is in the pack.
type TestLine struct {
	Text string
	Pos  Pos
}

// Expectation describes ban decisions by the fields it gives; zero fields
// match anything.
type Expectation struct {
	Pos      Pos
	Target   netip.Prefix
	Rule     string
	Offense  int
	Duration time.Duration
	At       time.Time
}

// Matches reports whether d is a ban the expectation describes (exactly the
// target, for expect:).
func (x *Expectation) Matches(d *pipeline.Decision) bool {
	if d.Action != pipeline.ActionBan {
		return false
	}
	if x.Target.IsValid() {
		t, err := d.Prefix()
		if err != nil || t != x.Target {
			return false
		}
	}
	return x.fieldsMatch(d)
}

// covers reports whether d bans anything in the expectation's target (for
// expect_none: a CIDR forbids every ban inside it, and any range over it).
func (x *Expectation) covers(d *pipeline.Decision) bool {
	if d.Action != pipeline.ActionBan {
		return false
	}
	if x.Target.IsValid() {
		t, err := d.Prefix()
		if err != nil || !t.Overlaps(x.Target) {
			return false
		}
	}
	return x.fieldsMatch(d)
}

func (x *Expectation) fieldsMatch(d *pipeline.Decision) bool {
	switch {
	case x.Rule != "" && d.Rule != x.Rule:
	case x.Offense != 0 && d.Offense != x.Offense:
	case x.Duration != 0 && time.Duration(d.Duration)*time.Second != x.Duration:
	case !x.At.IsZero() && !d.At.Equal(x.At):
	default:
		return true
	}
	return false
}

func (x *Expectation) String() string {
	var b strings.Builder
	b.WriteString("a ban")
	if x.Target.IsValid() {
		t, _ := pipeline.TargetString(x.Target)
		b.WriteString(" of " + t)
	}
	if x.Rule != "" {
		b.WriteString(" by " + x.Rule)
	}
	var more []string
	if x.Offense != 0 {
		more = append(more, fmt.Sprintf("offense %d", x.Offense))
	}
	if x.Duration != 0 {
		more = append(more, "for "+FormatDuration(x.Duration))
	}
	if !x.At.IsZero() {
		more = append(more, "at "+x.At.Format(time.RFC3339Nano))
	}
	if len(more) > 0 {
		b.WriteString(" (" + strings.Join(more, ", ") + ")")
	}
	return b.String()
}

const testKeys = "name, format, now, tz, source, allow, lines, inputs, expect, expect_none, expect_count"

// ParseTests reads the tests: block of a pack file (nil when it has none).
// Errors carry file:line:col, all of them, like Parse's.
func ParseTests(file string, data []byte) ([]*PackTest, error) {
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, Errors{{Pos: yamlErrPos(file, err), Msg: strings.TrimPrefix(err.Error(), "yaml: ")}}
	}
	var es Errors
	pos := func(n *yaml.Node) Pos { return Pos{File: file, Line: n.Line, Col: n.Column} }
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
	var tests []*PackTest
	names := map[string]Pos{}
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

func parseTest(n *yaml.Node, pos func(*yaml.Node) Pos, indent func(int) int, es *Errors) *PackTest {
	fields, ok := mapping(n, pos, es, "test")
	if !ok {
		return nil
	}
	before := len(*es)
	t := &PackTest{Pos: pos(n), Loc: time.UTC, Count: -1}
	var format pipeline.Format
	source := "test"
	var lines, inputs *yaml.Node
	for _, f := range fields {
		v := f.value
		switch f.key.Value {
		case "name":
			t.Name = scalar(v, pos, es)
		case "format":
			format = testFormat(v, pos, es)
		case "now":
			t.Now = testTime(v, pos, es, "now")
		case "tz":
			loc, err := time.LoadLocation(scalar(v, pos, es))
			if err != nil {
				es.Add(pos(v), "tz: %v", err)
			} else {
				t.Loc = loc
			}
		case "source":
			source = scalar(v, pos, es)
		case "allow":
			for _, s := range stringList(v, pos, es) {
				p, err := ParsePrefix(s.Value)
				if err != nil {
					es.Add(pos(s), "allow: %v", err)
					continue
				}
				t.Allow = append(t.Allow, p)
			}
		case "lines":
			lines = v
		case "inputs":
			inputs = v
		case "expect":
			if v.Kind != yaml.SequenceNode {
				es.Add(pos(v), "expect: want a list of {target, rule, offense, duration, at}")
				continue
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
			es.Add(pos(f.key), "unknown key %q in test (known: %s)", f.key.Value, testKeys)
		}
	}
	switch {
	case lines != nil && inputs != nil:
		es.Add(t.Pos, "test %q: give lines or inputs, not both", t.Name)
	case lines != nil:
		t.Inputs = []TestInput{{Format: format, Source: source, Pos: pos(lines), Lines: testLines(lines, pos, indent, es)}}
	case inputs != nil:
		if inputs.Kind != yaml.SequenceNode {
			es.Add(pos(inputs), "inputs: want a list of {format, source, lines}")
			break
		}
		for _, c := range inputs.Content {
			if in, ok := testInput(c, format, source, pos, indent, es); ok {
				t.Inputs = append(t.Inputs, in)
			}
		}
	default:
		es.Add(t.Pos, "test %q has no lines (or inputs)", t.Name)
	}
	if len(t.Expect) == 0 && len(t.None) == 0 && t.Count < 0 && len(*es) == before {
		es.Add(t.Pos, "test %q expects nothing: add expect, expect_none or expect_count", t.Name)
	}
	if len(*es) > before {
		return nil
	}
	return t
}

func testInput(n *yaml.Node, format pipeline.Format, source string, pos func(*yaml.Node) Pos, indent func(int) int, es *Errors) (TestInput, bool) {
	fields, ok := mapping(n, pos, es, "input")
	if !ok {
		return TestInput{}, false
	}
	in := TestInput{Format: format, Source: source, Pos: pos(n)}
	var lines *yaml.Node
	for _, f := range fields {
		switch f.key.Value {
		case "format":
			in.Format = testFormat(f.value, pos, es)
		case "source":
			in.Source = scalar(f.value, pos, es)
		case "lines":
			lines = f.value
		default:
			es.Add(pos(f.key), "unknown key %q in input (known: format, source, lines)", f.key.Value)
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
func testLines(n *yaml.Node, pos func(*yaml.Node) Pos, indent func(int) int, es *Errors) []TestLine {
	var out []TestLine
	add := func(text string, p Pos) {
		if strings.TrimSpace(text) != "" {
			out = append(out, TestLine{Text: strings.TrimRight(text, "\r"), Pos: p})
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

func testFormat(v *yaml.Node, pos func(*yaml.Node) Pos, es *Errors) pipeline.Format {
	s := scalar(v, pos, es)
	f, ok := pipeline.ParseFormat(s)
	if !ok {
		es.Add(pos(v), "unknown format %q (known: syslog, nginx, fastlog, eve, fail2ban)", s)
	}
	return f
}

func testTime(v *yaml.Node, pos func(*yaml.Node) Pos, es *Errors, what string) time.Time {
	s := scalar(v, pos, es)
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
func expectation(n *yaml.Node, pos func(*yaml.Node) Pos, es *Errors, what string, full bool) (Expectation, bool) {
	x := Expectation{Pos: pos(n)}
	before := len(*es)
	target := func(v *yaml.Node) {
		p, err := ParsePrefix(scalar(v, pos, es))
		if err != nil {
			es.Add(pos(v), "%s: %v", what, err)
		}
		x.Target = p
	}
	if n.Kind == yaml.ScalarNode && !full {
		target(n)
		return x, len(*es) == before
	}
	fields, ok := mapping(n, pos, es, what+" item")
	if !ok {
		return x, false
	}
	known := "target, rule"
	if full {
		known = "target, rule, offense, duration, at"
	}
	for _, f := range fields {
		v := f.value
		switch k := f.key.Value; {
		case k == "target":
			target(v)
		case k == "rule":
			x.Rule = scalar(v, pos, es)
		case k == "offense" && full:
			if err := v.Decode(&x.Offense); err != nil || x.Offense < 1 {
				es.Add(pos(v), "offense: want a number from 1 (the first ban)")
			}
		case k == "duration" && full:
			x.Duration = duration(v, pos, es, "duration")
		case k == "at" && full:
			x.At = testTime(v, pos, es, "at")
		default:
			es.Add(pos(f.key), "unknown key %q in %s item (known: %s)", k, what, known)
		}
	}
	if !full && !x.Target.IsValid() && len(*es) == before {
		es.Add(x.Pos, "expect_none: name a target")
	}
	return x, len(*es) == before
}

// TestEnv is what running pack tests needs from outside this package: the
// parsers live in package sources, which rules does not import (cmd wires
// them: sources.Detect and sources.NewParser).
type TestEnv struct {
	Detect    func(head []byte) pipeline.Format
	NewParser func(f pipeline.Format, ref time.Time, loc *time.Location) pipeline.Parser
	// Now is the year-inference reference of tests without now: (default
	// time.Now).
	Now func() time.Time
}

// TestResult is what one test did.
type TestResult struct {
	Test      *PackTest
	Failures  Errors
	Decisions []TestDecision
	// Seen counts, per rule, the events the rule could see (its format and
	// program); Regex counts, per rule and failregex, the lines it matched.
	Seen  map[string]int
	Regex map[string][]int
}

// Passed reports whether every expectation held.
func (r *TestResult) Passed() bool { return len(r.Failures) == 0 }

// TestDecision is a decision and the sample line that caused it.
type TestDecision struct {
	pipeline.Decision
	Line Pos
}

func (d *TestDecision) String() string {
	return fmt.Sprintf("%s: %s %s by %s for %s (offense %d) at %s", d.Line, d.Action, d.Target, d.Rule,
		FormatDuration(time.Duration(d.Duration)*time.Second), d.Offense, d.At.Format(time.RFC3339Nano))
}

type testEvent struct {
	ev  pipeline.Event
	pos Pos
}

// Run runs the test over a fresh engine whose rules are p's alone.
func (t *PackTest) Run(p *Pack, env TestEnv) *TestResult {
	res := &TestResult{Test: t, Seen: map[string]int{}, Regex: map[string][]int{}}
	set, err := NewSet(p)
	if err != nil {
		res.Failures.Add(t.Pos, "%v", err)
		return res
	}
	for _, r := range set.Rules() {
		res.Regex[r.Policy.Name] = make([]int, len(r.FailRegexes()))
	}
	ref := t.Now
	if ref.IsZero() {
		if env.Now != nil {
			ref = env.Now()
		} else {
			ref = time.Now()
		}
	}
	streams := make([][]testEvent, 0, len(t.Inputs))
	for _, in := range t.Inputs {
		streams = append(streams, t.parse(in, ref, env, res))
	}
	if !res.Passed() {
		return res
	}

	rec := NewRecorder(set)
	eng := pipeline.NewEngine(rec, pipeline.Config{Origin: "test", Allow: t.Allow})
	mergeEvents(streams, func(te *testEvent) {
		rec.Verdicts = rec.Verdicts[:0]
		for _, d := range eng.Process(&te.ev) {
			res.Decisions = append(res.Decisions, TestDecision{Decision: d, Line: te.pos})
		}
		for _, v := range rec.Verdicts {
			name := v.Rule.Policy.Name
			res.Seen[name]++
			if v.Regex >= 0 && v.Verdict != BadAddress {
				res.Regex[name][v.Regex]++
			}
		}
	})
	t.check(res)
	return res
}

func (t *PackTest) parse(in TestInput, ref time.Time, env TestEnv, res *TestResult) []testEvent {
	format := in.Format
	if format == pipeline.FormatUnknown {
		var head bytes.Buffer
		for _, l := range in.Lines {
			head.WriteString(l.Text)
			head.WriteByte('\n')
		}
		format = env.Detect(head.Bytes())
		if format == pipeline.FormatUnknown {
			res.Failures.Add(in.Pos, "cannot detect the format of these lines: add format: (syslog, nginx, fastlog, eve, fail2ban)")
			return nil
		}
	}
	parser := env.NewParser(format, ref, t.Loc)
	if parser == nil {
		res.Failures.Add(in.Pos, "no parser for format %s", format)
		return nil
	}
	var out []testEvent
	for _, l := range in.Lines {
		var te testEvent
		err := parser.Parse([]byte(l.Text), &te.ev)
		if err == pipeline.ErrSkip {
			continue
		}
		if err != nil {
			var bl *pipeline.BadLine
			reason := err.Error()
			if errors.As(err, &bl) {
				reason = bl.Reason
			}
			res.Failures.Add(l.Pos, "line does not parse as %s: %s", format, reason)
			continue
		}
		te.ev.Source = in.Source
		if te.ev.Line == "" {
			te.ev.Line = l.Text
		}
		te.ev = te.ev.Clone()
		te.pos = l.Pos
		out = append(out, te)
	}
	return out
}

// mergeEvents calls fn on the events of every stream in event-time order;
// ties go to the earlier stream, and each stream keeps its own order, as
// pipeline.Replay merges files.
func mergeEvents(streams [][]testEvent, fn func(*testEvent)) {
	next := make([]int, len(streams))
	for {
		best := -1
		for i, s := range streams {
			if next[i] >= len(s) {
				continue
			}
			if best < 0 || s[next[i]].ev.Time.Before(streams[best][next[best]].ev.Time) {
				best = i
			}
		}
		if best < 0 {
			return
		}
		fn(&streams[best][next[best]])
		next[best]++
	}
}

func (t *PackTest) check(res *TestResult) {
	ds := res.Decisions
	// Each expectation takes a decision of its own: a maximum bipartite
	// matching, so a loose {target: X} never steals the decision a precise
	// {target: X, offense: 2} needed.
	owner := make([]int, len(ds))
	for i := range owner {
		owner[i] = -1
	}
	var assign func(x int, tried []bool) bool
	assign = func(x int, tried []bool) bool {
		for d := range ds {
			if tried[d] || !t.Expect[x].Matches(&ds[d].Decision) {
				continue
			}
			tried[d] = true
			if owner[d] < 0 || assign(owner[d], tried) {
				owner[d] = x
				return true
			}
		}
		return false
	}
	for x := range t.Expect {
		if !assign(x, make([]bool, len(ds))) {
			res.Failures.Add(t.Expect[x].Pos, "expected %s: %s", t.Expect[x].String(), instead(ds, &t.Expect[x]))
		}
	}
	for i := range t.None {
		x := &t.None[i]
		for _, d := range ds {
			if x.covers(&d.Decision) {
				res.Failures.Add(x.Pos, "expected no ban of %s, but %s", targetOrAny(x), d.String())
			}
		}
	}
	if t.Count >= 0 {
		n := 0
		for _, d := range ds {
			if d.Action == pipeline.ActionBan {
				n++
			}
		}
		if n != t.Count {
			res.Failures.Add(t.CountPos, "expected %d ban decision(s), got %d", t.Count, n)
		}
	}
}

func targetOrAny(x *Expectation) string {
	s, _ := pipeline.TargetString(x.Target)
	if x.Rule != "" {
		s += " by " + x.Rule
	}
	return s
}

// instead says what happened instead of an expected decision: the decisions
// about the same target, or that there were none at all.
func instead(ds []TestDecision, x *Expectation) string {
	if len(ds) == 0 {
		return "no decision at all"
	}
	var same []string
	for _, d := range ds {
		if t, err := d.Prefix(); err == nil && (!x.Target.IsValid() || t == x.Target) {
			same = append(same, d.String())
		}
	}
	if len(same) == 0 {
		return fmt.Sprintf("no decision about it (%d about other targets)", len(ds))
	}
	return "got instead " + strings.Join(same, "; ")
}

// FormatDuration writes a duration the way packs do: 10m, 1h30m, 1w, 2d12h.
func FormatDuration(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	var b strings.Builder
	for _, u := range []struct {
		unit string
		d    time.Duration
	}{{"w", 7 * 24 * time.Hour}, {"d", 24 * time.Hour}, {"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}} {
		if n := d / u.d; n > 0 {
			fmt.Fprintf(&b, "%d%s", n, u.unit)
			d -= n * u.d
		}
	}
	if d > 0 || b.Len() == 0 {
		// Below a second: say it exactly rather than round it away.
		return b.String() + d.String()
	}
	return b.String()
}
