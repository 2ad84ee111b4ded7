// Package rules loads YAML rule packs and judges events against them.
//
// A pack is a file with a name and a list of rules. Everything compiles at
// load time: a bad regex, an unknown field, a predicate that does not
// type-check or is not boolean is reported with its file:line:col, and every
// error of every pack is reported together.
package rules

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/stockade-ids/stockade/internal/yamlnode"

	"github.com/stockade-ids/stockade/pipeline"
)

// Default escalation, as the replay core promises: a returning attacker's
// ban doubles each time, up to a week.
var defaultEscalation = pipeline.Escalation{Factor: 2, Max: 7 * 24 * time.Hour}

// Pack is one loaded rule pack.
type Pack struct {
	Name        string
	Description string
	File        string
	Rules       []*Rule
	// Enable names rules, of any pack, that are off by default
	// (`enabled: false`) and that this pack turns on: an admin's own pack
	// holding only `enable: [sshd-aggressive]` is fail2ban's jail.local
	// `mode = aggressive`.
	Enable []string
	// Allowlists are ranges no rule of the set bans, once on.
	Allowlists []*Allowlist

	enablePos map[string]Pos // where each name of Enable is written
	ref       *stateRef      // how its predicates reach engine state
}

// Rule is one compiled rule.
type Rule struct {
	Policy   *pipeline.Policy
	Pos      Pos
	Formats  []pipeline.Format
	Programs []string
	Sources  []string // globs over the source id (path or base name)
	UseLine  bool     // match regexes against the whole line, not the message
	// Off: `enabled: false`, a rule that counts only where a pack's
	// enable: names it (see Pack.Enable).
	Off bool
	// unread: loaded for sources that yield no event of its formats (see
	// DefaultPacksFor, sees): read, not compiled, and left out of the Set.
	unread bool
	// mode is the rule's own `mode:` (empty: the pack's).
	mode string

	m    matcher // stockade's regexes, or a fail2ban filter
	when *predicate
	key  *keyExpr
}

// LoadFile loads one pack file.
func LoadFile(path string) (*Pack, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// LoadFS loads every *.yaml / *.yml file under root in fsys, sorted by path.
func LoadFS(fsys fs.FS, root string) ([]*Pack, error) { return loadFS(fsys, root, nil) }

// loadFS is LoadFS for sources of the formats reading (nil: of any),
// compiling only the rules that may see their events (see Rule.sees).
func loadFS(fsys fs.FS, root string, reading []pipeline.Format) ([]*Pack, error) {
	var seen []pipeline.Format
	if reading != nil {
		seen = seenFormats(reading)
	}
	var names []string
	err := fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && isPackFile(p) {
			names = append(names, p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	datas := make([][]byte, len(names))
	for i, n := range names {
		if datas[i], err = fs.ReadFile(fsys, n); err != nil {
			return nil, err
		}
	}
	var packs []*Pack
	var all Errors
	for _, r := range parseEach(names, datas, seen) {
		if r.err != nil {
			var es Errors
			if errors.As(r.err, &es) {
				all = append(all, es...)
				continue
			}
			return nil, r.err
		}
		packs = append(packs, r.pack)
	}
	return packs, all.Err()
}

type parsed struct {
	pack *Pack
	err  error
}

// parseEach parses the packs on as many goroutines as may run at once:
// compiling their regexes and predicates is most of what a replay of an
// ordinary log does before its first line (the built-in packs' 40 files),
// and the packs are independent. The results are in names' order.
func parseEach(names []string, datas [][]byte, seen []pipeline.Format) []parsed {
	out := make([]parsed, len(names))
	var (
		next atomic.Int64
		wg   sync.WaitGroup
	)
	for range min(runtime.GOMAXPROCS(0), len(names)) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(names); i = int(next.Add(1) - 1) {
				out[i].pack, out[i].err = parse(names[i], datas[i], seen)
			}
		})
	}
	wg.Wait()
	return out
}

// LoadPath loads a pack file, or every pack file in a directory.
// It refuses packs that another user could change (see CheckTrusted).
func LoadPath(path string) ([]*Pack, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if err := CheckTrusted(path); err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		p, err := LoadFile(path)
		if err != nil {
			return nil, err
		}
		return []*Pack{p}, nil
	}
	packs, err := LoadFS(os.DirFS(path), ".")
	for _, p := range packs {
		p.File = filepath.Join(path, p.File)
		for _, r := range p.Rules {
			r.Pos.File = p.File
		}
	}
	var es Errors
	if errors.As(err, &es) {
		for i := range es {
			es[i].Pos.File = filepath.Join(path, es[i].Pos.File)
		}
		return packs, es
	}
	return packs, err
}

func isPackFile(p string) bool {
	return strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")
}

// Parse loads a pack from data; file names it in errors.
func Parse(file string, data []byte) (*Pack, error) { return parse(file, data, nil) }

// parse is Parse compiling only the rules that may see an event of the
// formats seen (nil: every rule; see Rule.sees).
func parse(file string, data []byte, seen []pipeline.Format) (*Pack, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, Errors{{Pos: Pos{File: file, Line: 1, Col: 1}, Msg: "empty pack"}}
		}
		return nil, Errors{{Pos: yamlnode.ErrPos(file, err), Msg: strings.TrimPrefix(err.Error(), "yaml: ")}}
	}
	var es Errors
	pos := func(n *yaml.Node) Pos { return Pos{File: file, Line: n.Line, Col: n.Column} }
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	p := &Pack{File: file, ref: &stateRef{}}
	fields, ok := yamlnode.Mapping(root, pos, &es, "pack")
	if !ok {
		return nil, es
	}
	var rulesNode *yaml.Node
	mode := ""
	for _, f := range fields {
		switch f.Key.Value {
		case "pack", "name":
			p.Name = yamlnode.Scalar(f.Value, pos, &es)
			p.ref.pack = p.Name
		case "description":
			p.Description = yamlnode.Scalar(f.Value, pos, &es)
		case "rules":
			rulesNode = f.Value
		case "mode":
			mode = parseMode(f.Value, pos, &es)
		case "enable":
			for _, s := range yamlnode.StringList(f.Value, pos, &es) {
				p.Enable = append(p.Enable, s.Value)
				if p.enablePos == nil {
					p.enablePos = map[string]Pos{}
				}
				p.enablePos[s.Value] = pos(s)
			}
		case "allowlists":
			p.Allowlists = parseAllowlists(f.Value, pos, &es)
		case "tests":
			// Pack tests are run by `stockade test`; the loader only checks
			// that they are a list.
			if f.Value.Kind != yaml.SequenceNode {
				es.Add(pos(f.Value), "tests: want a list")
			}
		default:
			es.Add(pos(f.Key), "unknown key %q in pack (known: pack, description, mode, rules, enable, allowlists, tests)", f.Key.Value)
		}
	}
	if p.Name == "" {
		es.Add(pos(root), "pack has no name (add `pack: NAME`)")
	}
	if rulesNode == nil && len(p.Enable) == 0 && len(p.Allowlists) == 0 {
		es.Add(pos(root), "pack has no rules")
	} else if rulesNode == nil {
		// A pack that only enables rules of others.
	} else if rulesNode.Kind != yaml.SequenceNode {
		es.Add(pos(rulesNode), "rules: want a list")
	} else {
		names := map[string]Pos{}
		for _, rn := range rulesNode.Content {
			r := parseRule(rn, p.Name, p.ref, seen, pos, &es)
			if r == nil {
				continue
			}
			if prev, dup := names[r.Policy.Name]; dup {
				es.Add(r.Pos, "rule %q is defined twice (first at %s)", r.Policy.Name, prev)
				continue
			}
			names[r.Policy.Name] = r.Pos
			r.Policy.Simulate = cmp.Or(r.mode, mode) == "simulate"
			p.Rules = append(p.Rules, r)
		}
	}
	if len(es) > 0 {
		return nil, es
	}
	return p, nil
}

var ruleKeys = []string{"name", "description", "formats", "programs", "sources", "match",
	"failregex", "ignoreregex", "when", "key", "threshold", "window", "ban", "escalate",
	"allow", "evidence", "range", "grow", "v6_count_prefix", "enabled", "mode", "dialect", "prefregex", "datepattern", "maxlines", "usedns"}

// ruleNodes are the values of a rule's keys that are read together, once
// every key is known.
type ruleNodes struct {
	when, key, window, ban, match *yaml.Node
	grow                          *yaml.Node
	fail                          []failItem
	ignore                        []*yaml.Node
	dialect                       dialectNodes
}

func parseRule(n *yaml.Node, pack string, ref *stateRef, seen []pipeline.Format, pos func(*yaml.Node) Pos, es *Errors) *Rule {
	fields, ok := yamlnode.Mapping(n, pos, es, "rule")
	if !ok {
		return nil
	}
	before := len(*es)
	r := &Rule{Pos: pos(n), Policy: &pipeline.Policy{Pack: pack, Threshold: 1, Evidence: 3, V6Count: defaultV6Count}}
	esc := defaultEscalation
	r.Policy.Escalate = &esc
	var rn ruleNodes
	for _, f := range fields {
		if !r.selectionKey(f, &rn, pos, es) && !countingKey(r.Policy, f, &rn, pos, es) && !rn.matchingKey(f, pos, es) {
			es.Add(pos(f.Key), "unknown key %q in rule (known: %s)", f.Key.Value, strings.Join(ruleKeys, ", "))
		}
	}
	r.checkShape(&rn, pos, es)
	if len(*es) == before && seen != nil && r.Policy.Range == nil && !r.sees(seen) {
		// Its name and switches are read (a pack's enable: or the
		// config's packs: may name it); its regexes and predicates,
		// most of a load's work, are not compiled.
		r.unread = true
		return r
	}
	if rn.dialect.fail2ban(pos, es) {
		compileFail2ban(r, &rn, pos, es)
	} else {
		// A line whose parser found the client (an access log, an alert)
		// needs no <HOST>: the regex says what the client did, the parser
		// who did it. Syslog lines carry no address but the regex's.
		needHost := len(r.Formats) == 0 || slices.Contains(r.Formats, pipeline.FormatSyslog)
		r.m = compileNative(rn.fail, rn.ignore, needHost, pos, es)
		for _, f := range rn.fail {
			r.Policy.Connections = r.Policy.Connections || f.pair || f.open || f.close
		}
	}
	if len(rn.fail) == 0 && slices.Contains(r.Formats, pipeline.FormatSyslog) {
		es.Add(r.Pos, "rule %q: syslog lines carry no address field: add a failregex with <HOST>", r.Policy.Name)
	}
	r.compileExprs(&rn, ref, pos, es)
	if len(*es) > before {
		return nil
	}
	return r
}

// sees reports whether the rule reads one of the formats of events seen
// (seenFormats of the sources' formats). A range rule reads none: it
// counts bans, whatever the format of the lines that made them.
func (r *Rule) sees(seen []pipeline.Format) bool {
	return slices.ContainsFunc(r.Formats, func(f pipeline.Format) bool { return slices.Contains(seen, f) })
}

// parseMode reads `mode: enforce|simulate`. A rule in simulate decides
// and its decisions are logged and listed (stockade bans --simulated),
// never enforced: how a new pack is tried on production traffic.
func parseMode(v *yaml.Node, pos func(*yaml.Node) Pos, es *Errors) string {
	switch s := yamlnode.Scalar(v, pos, es); s {
	case "enforce", "simulate":
		return s
	default:
		es.Add(pos(v), "mode: want enforce or simulate, not %q", s)
		return ""
	}
}

// selectionKey reads a key that names the rule or says which events it
// sees; false if f is none of those.
func (r *Rule) selectionKey(f yamlnode.Field, rn *ruleNodes, pos func(*yaml.Node) Pos, es *Errors) bool {
	v := f.Value
	switch f.Key.Value {
	case "name":
		r.Policy.Name = yamlnode.Scalar(v, pos, es)
	case "description":
		r.Policy.Description = yamlnode.Scalar(v, pos, es)
	case "formats":
		for _, s := range yamlnode.StringList(v, pos, es) {
			fm, ok := pipeline.ParseFormat(s.Value)
			if !ok {
				es.Add(pos(s), "unknown format %q (known: syslog, nginx, fastlog, eve, fail2ban)", s.Value)
				continue
			}
			r.Formats = append(r.Formats, fm)
		}
	case "programs":
		for _, s := range yamlnode.StringList(v, pos, es) {
			if why := checkProgram(s.Value); why != "" {
				es.Add(pos(s), "program %q: %s", s.Value, why)
			}
			r.Programs = append(r.Programs, s.Value)
		}
	case "sources":
		for _, s := range yamlnode.StringList(v, pos, es) {
			if _, err := filepath.Match(s.Value, ""); err != nil {
				es.Add(pos(s), "bad source glob %q: %v", s.Value, err)
			}
			r.Sources = append(r.Sources, s.Value)
		}
	case "enabled":
		var on bool
		if err := v.Decode(&on); err != nil {
			es.Add(pos(v), "enabled: want true or false")
		}
		r.Off = !on
	case "mode":
		r.mode = parseMode(v, pos, es)
	case "match":
		rn.match = v
		switch s := yamlnode.Scalar(v, pos, es); s {
		case "message", "":
		case "line":
			r.UseLine = true
		default:
			es.Add(pos(v), "match: want message or line, not %q", s)
		}
	default:
		return false
	}
	return true
}

// countingKey reads a key of how the rule's matches are counted and
// banned; false if f is none of those.
func countingKey(p *pipeline.Policy, f yamlnode.Field, rn *ruleNodes, pos func(*yaml.Node) Pos, es *Errors) bool {
	v := f.Value
	switch f.Key.Value {
	case "threshold":
		if err := v.Decode(&p.Threshold); err != nil || p.Threshold < 1 || p.Threshold > 10000 {
			es.Add(pos(v), "threshold: want a whole number from 1 to 10000, not %q", v.Value)
		}
	case "window":
		rn.window = v
		p.Window = duration(v, pos, es, "window")
	case "ban":
		rn.ban = v
		p.Ban = duration(v, pos, es, "ban")
	case "escalate":
		p.Escalate = escalation(v, pos, es)
	case "allow":
		for _, s := range yamlnode.StringList(v, pos, es) {
			a, err := ParsePrefix(s.Value)
			if err != nil {
				es.Add(pos(s), "allow: %v", err)
				continue
			}
			p.Allow = append(p.Allow, a)
		}
	case "range":
		p.Range = rangeSpec(v, pos, es)
	case "grow":
		rn.grow = v
	case "v6_count_prefix":
		if err := v.Decode(&p.V6Count); err != nil || p.V6Count < 48 || p.V6Count > 128 {
			es.Add(pos(v), "v6_count_prefix: want a prefix length from 48 to 128 (128: each address alone)")
		}
	case "evidence":
		if err := v.Decode(&p.Evidence); err != nil || p.Evidence < 0 || p.Evidence > 100 {
			es.Add(pos(v), "evidence: want a number of lines from 0 to 100")
		}
	default:
		return false
	}
	return true
}

// matchingKey keeps the node of a key read once all are known: the
// regexes, the dialect's keys, the predicates; false if f is none of
// those.
func (rn *ruleNodes) matchingKey(f yamlnode.Field, pos func(*yaml.Node) Pos, es *Errors) bool {
	v := f.Value
	switch f.Key.Value {
	case "failregex":
		rn.fail = failList(v, pos, es)
	case "ignoreregex":
		rn.ignore = yamlnode.StringList(v, pos, es)
	case "dialect":
		rn.dialect.dialect = v
	case "prefregex":
		rn.dialect.pref = v
	case "datepattern":
		rn.dialect.dates = v
	case "maxlines":
		rn.dialect.maxLines = v
	case "usedns":
		rn.dialect.useDNS = v
	case "when":
		rn.when = v
	case "key":
		rn.key = v
	default:
		return false
	}
	return true
}

// checkShape checks what the keys say together: a name, what the rule
// sees, a ban, a window for a threshold.
func (r *Rule) checkShape(rn *ruleNodes, pos func(*yaml.Node) Pos, es *Errors) {
	if r.Policy.Name == "" {
		es.Add(r.Pos, "rule has no name")
	}
	if r.Policy.Range != nil {
		// A range rule sees bans, not lines.
		if len(r.Formats) > 0 || len(rn.fail) > 0 || rn.when != nil || rn.key != nil {
			es.Add(r.Pos, "rule %q: a range rule counts bans: it takes no formats, failregex, when or key", r.Policy.Name)
		}
		if r.Policy.Threshold < 2 {
			es.Add(r.Pos, "rule %q: a range rule needs a threshold of at least 2 banned addresses", r.Policy.Name)
		}
	} else if len(r.Formats) == 0 {
		es.Add(r.Pos, "rule %q: formats: name at least one of syslog, nginx, fastlog, eve, fail2ban", r.Policy.Name)
	}
	if rn.ban == nil {
		es.Add(r.Pos, "rule %q: ban: a duration is required (e.g. ban: 1h)", r.Policy.Name)
	}
	if rn.grow != nil {
		if r.Policy.Range == nil {
			es.Add(pos(rn.grow), "rule %q: grow: widens range bans: give range: too", r.Policy.Name)
		} else {
			r.Policy.Range.Grow = growth(rn.grow, r.Policy.Range, pos, es)
		}
	}
	if r.Policy.Threshold > 1 && r.Policy.Window <= 0 {
		p := r.Pos
		if rn.window != nil {
			p = pos(rn.window)
		}
		es.Add(p, "rule %q: a threshold above 1 needs a window", r.Policy.Name)
	}
}

// compileNative compiles a stockade rule's regexes.
func compileNative(failNodes []failItem, ignoreNodes []*yaml.Node, needHost bool, pos func(*yaml.Node) Pos, es *Errors) *nativeMatcher {
	m := &nativeMatcher{}
	for _, s := range failNodes {
		re, host, err := compileRegex(s.node.Value, needHost)
		if err == nil && host >= 0 && slices.Index(re.Names, "host") != host {
			err = fmt.Errorf("failregex has several address tags; at most one is allowed")
		}
		if err != nil {
			es.Add(pos(s.node), "failregex: %v", err)
			continue
		}
		m.fail = append(m.fail, &failRegex{Regex: *re, host: host, pair: s.pair, open: s.open, close: s.close})
	}
	for _, s := range ignoreNodes {
		re, _, err := compileRegex(s.Value, false)
		if err != nil {
			es.Add(pos(s), "ignoreregex: %v", err)
			continue
		}
		m.ignore = append(m.ignore, re)
	}
	m.index()
	return m
}

// compileExprs compiles the rule's `when:` and `key:`.
func (r *Rule) compileExprs(rn *ruleNodes, ref *stateRef, pos func(*yaml.Node) Pos, es *Errors) {
	if rn.when != nil {
		pr, err := compilePredicate(yamlnode.Scalar(rn.when, pos, es), ref)
		if err != nil {
			es.Add(exprPos(pos(rn.when), rn.when, err), "when: %v", exprMsg(err))
		} else {
			r.when = pr
		}
	}
	if rn.key != nil {
		k, err := compileKey(yamlnode.Scalar(rn.key, pos, es), ref)
		if err != nil {
			es.Add(exprPos(pos(rn.key), rn.key, err), "key: %v", exprMsg(err))
		} else {
			r.key = k
		}
	}
}

func escalation(v *yaml.Node, pos func(*yaml.Node) Pos, es *Errors) *pipeline.Escalation {
	if v.Kind == yaml.ScalarNode {
		var on bool
		if err := v.Decode(&on); err != nil {
			es.Add(pos(v), "escalate: want true, false or {factor: 2, max: 1w}")
			return nil
		}
		if !on {
			return nil
		}
		e := defaultEscalation
		return &e
	}
	fields, ok := yamlnode.Mapping(v, pos, es, "escalate")
	if !ok {
		return nil
	}
	e := defaultEscalation
	for _, f := range fields {
		switch f.Key.Value {
		case "factor":
			if err := f.Value.Decode(&e.Factor); err != nil || e.Factor < 1 || e.Factor > 100 {
				es.Add(pos(f.Value), "escalate.factor: want a number from 1 to 100")
			}
		case "max":
			e.Max = duration(f.Value, pos, es, "escalate.max")
		case "multipliers":
			// fail2ban's bantime.multipliers: the n-th ban lasts ban × m[n-1],
			// the last multiplier for every ban after.
			if err := f.Value.Decode(&e.Multipliers); err != nil || len(e.Multipliers) == 0 {
				es.Add(pos(f.Value), "escalate.multipliers: want a list of numbers, e.g. [1, 2, 4, 8, 24]")
			}
			for _, m := range e.Multipliers {
				if m <= 0 {
					es.Add(pos(f.Value), "escalate.multipliers: every multiplier must be positive")
					break
				}
			}
		case "formula":
			fn, err := compileFormula(yamlnode.Scalar(f.Value, pos, es))
			if err != nil {
				es.Add(exprPos(pos(f.Value), f.Value, err), "escalate.formula: %v", exprMsg(err))
				continue
			}
			e.Formula = fn
		case "per_rule":
			// fail2ban counts a jail's own bans unless bantime.overalljails;
			// stockade counts every rule's bans unless per_rule is set.
			if err := f.Value.Decode(&e.PerRule); err != nil {
				es.Add(pos(f.Value), "escalate.per_rule: want true or false")
			}
		default:
			es.Add(pos(f.Key), "unknown key %q in escalate (known: factor, max, multipliers, formula, per_rule)", f.Key.Value)
		}
	}
	return &e
}

func rangeSpec(v *yaml.Node, pos func(*yaml.Node) Pos, es *Errors) *pipeline.RangeSpec {
	fields, ok := yamlnode.Mapping(v, pos, es, "range")
	if !ok {
		return nil
	}
	r := &pipeline.RangeSpec{}
	for _, f := range fields {
		var dst *int
		limit := 0
		switch f.Key.Value {
		case "v4":
			dst, limit = &r.V4Bits, 31
		case "v6":
			dst, limit = &r.V6Bits, 127
		default:
			es.Add(pos(f.Key), "unknown key %q in range (known: v4, v6)", f.Key.Value)
			continue
		}
		if err := f.Value.Decode(dst); err != nil || *dst < 8 || *dst > limit {
			es.Add(pos(f.Value), "range.%s: want a prefix length from 8 to %d", f.Key.Value, limit)
		}
	}
	if r.V4Bits == 0 && r.V6Bits == 0 {
		es.Add(pos(v), "range: give v4 (e.g. 24) and/or v6 (e.g. 64)")
	}
	return r
}

// growth reads grow: {v4: 16, v6: 48, members: 3}, the density mode of a
// range rule (see pipeline.Growth): each family grows from its range:
// length to the one given, by 4 bits (IPv4) or 8 (IPv6) a step, never
// wider than /16 (IPv6: /32), the broadest a firewall's policy takes by
// default (enforce's min_bits4 and min_bits6).
func growth(v *yaml.Node, r *pipeline.RangeSpec, pos func(*yaml.Node) Pos, es *Errors) *pipeline.Growth {
	fields, ok := yamlnode.Mapping(v, pos, es, "grow")
	if !ok {
		return nil
	}
	g := &pipeline.Growth{Members: 3}
	for _, f := range fields {
		switch f.Key.Value {
		case "v4", "v6":
			dst, from, lo := &g.V4Bits, r.V4Bits, 16
			if f.Key.Value == "v6" {
				dst, from, lo = &g.V6Bits, r.V6Bits, 32
			}
			if from == 0 {
				es.Add(pos(f.Key), "grow.%s: range: has no %s to grow from", f.Key.Value, f.Key.Value)
				continue
			}
			if err := f.Value.Decode(dst); err != nil || *dst < lo || *dst >= from {
				es.Add(pos(f.Value), "grow.%s: want a prefix length from %d to %d (wider than range.%s: /%d)", f.Key.Value, lo, from-1, f.Key.Value, from)
			}
		case "members":
			if err := f.Value.Decode(&g.Members); err != nil || g.Members < 2 || g.Members > 256 {
				es.Add(pos(f.Value), "grow.members: want a number of banned ranges from 2 to 256")
			}
		default:
			es.Add(pos(f.Key), "unknown key %q in grow (known: v4, v6, members)", f.Key.Value)
		}
	}
	if g.V4Bits == 0 && g.V6Bits == 0 {
		es.Add(pos(v), "grow: give v4 (e.g. 16) and/or v6 (e.g. 48), the widest prefix a ban grows to")
	}
	return g
}

// ParsePrefix accepts an address or a CIDR, canonical (IPv4-mapped unmapped).
func ParsePrefix(s string) (netip.Prefix, error) {
	return pipeline.ParseTarget(strings.TrimSpace(s))
}

// failItem is one failregex: a plain string, or {re: ..., pair: next}
// (or pair: open, pair: close).
type failItem struct {
	node              *yaml.Node
	pair, open, close bool
}

func failList(n *yaml.Node, pos func(*yaml.Node) Pos, es *Errors) []failItem {
	if n.Kind == yaml.ScalarNode {
		return []failItem{{node: n}}
	}
	if n.Kind != yaml.SequenceNode {
		es.Add(pos(n), "failregex: want a list")
		return nil
	}
	var out []failItem
	for _, c := range n.Content {
		switch c.Kind {
		case yaml.ScalarNode:
			out = append(out, failItem{node: c})
		case yaml.MappingNode:
			fields, _ := yamlnode.Mapping(c, pos, es, "failregex item")
			var it failItem
			for _, f := range fields {
				switch f.Key.Value {
				case "re":
					if f.Value.Kind != yaml.ScalarNode {
						es.Add(pos(f.Value), "re: want a regex")
						continue
					}
					it.node = f.Value
				case "pair":
					switch yamlnode.Scalar(f.Value, pos, es) {
					case "next":
						it.pair = true
					case "open":
						it.open = true
					case "close":
						it.close = true
					default:
						es.Add(pos(f.Value), "pair: want next (the same process logs the same attempt again right after), open (the lines after it, of any kind, log the attempt it opens) or close (the line closes a connection whose attempts counted already)")
					}
				default:
					es.Add(pos(f.Key), "unknown key %q in failregex item (known: re, pair)", f.Key.Value)
				}
			}
			if it.node == nil {
				es.Add(pos(c), "failregex item has no re")
				continue
			}
			out = append(out, it)
		default:
			es.Add(pos(c), "failregex: want a regex or {re: ..., pair: next}")
		}
	}
	return out
}

func duration(n *yaml.Node, pos func(*yaml.Node) Pos, es *Errors, what string) time.Duration {
	d, err := ParseDuration(yamlnode.Scalar(n, pos, es))
	if err != nil {
		es.Add(pos(n), "%s: %v", what, err)
	}
	return d
}
