package rules

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"

	"github.com/stockade-ids/stockade/pipeline"
)

// Set is the compiled union of packs: the pipeline's Matcher. Rules are
// dispatched by format and program, so a line meets only the rules that can
// match it (an sshd rule never sees a line written by another program).
//
// A Set is not safe for concurrent use (it owns one reused expr VM); use
// Clone for another goroutine.
type Set struct {
	packs    []*Pack
	rules    []*Rule
	policies []*pipeline.Policy
	byFormat [8]dispatch
	vm       vm.VM

	// fail2ban-dialect rules: per rule and source state, the clock and zone
	// of dates found on lines, and the details of the last judgement (for
	// Explain).
	f2b     map[f2bKey]*f2bState
	clock   func() time.Time
	loc     *time.Location
	lastF2B f2bResult
	// unbanned counts, per rule and bounded reason, the lines a
	// fail2ban-dialect rule matched but could not count.
	unbanned map[unbannedKey]uint64
	// sub is the submatch index buffer the regexes fill, reused so that a
	// match allocates nothing.
	sub []int
}

type dispatch struct {
	any       []*Rule            // rules with no program filter
	byProgram map[string][]*Rule // per program: its rules and the any rules, in order
}

// NewSet compiles packs into one set. Rule names must be unique across packs.
func NewSet(packs ...*Pack) (*Set, error) {
	s := &Set{packs: packs}
	var es Errors
	seen := map[string]Pos{}
	for _, p := range packs {
		for _, r := range p.Rules {
			if prev, dup := seen[r.Policy.Name]; dup {
				es.Add(r.Pos, "rule %q is also defined at %s", r.Policy.Name, prev)
				continue
			}
			seen[r.Policy.Name] = r.Pos
			r.Policy.ID = len(s.rules)
			s.rules = append(s.rules, r)
			s.policies = append(s.policies, r.Policy)
		}
	}
	if err := es.Err(); err != nil {
		return nil, err
	}
	for _, r := range s.rules {
		for _, f := range r.Formats {
			d := &s.byFormat[f]
			if len(r.Programs) == 0 {
				d.any = append(d.any, r)
				continue
			}
			if d.byProgram == nil {
				d.byProgram = map[string][]*Rule{}
			}
			for _, prog := range r.Programs {
				d.byProgram[prog] = append(d.byProgram[prog], r)
			}
		}
	}
	// Each program's list also holds the rules for any program, so dispatch
	// is a single map lookup; keep the load order so results are stable.
	for f := range s.byFormat {
		d := &s.byFormat[f]
		for prog, rs := range d.byProgram {
			merged := append(append([]*Rule(nil), rs...), d.any...)
			sortByID(merged)
			d.byProgram[prog] = merged
		}
	}
	return s, nil
}

func sortByID(rs []*Rule) {
	for i := 1; i < len(rs); i++ {
		for j := i; j > 0 && rs[j].Policy.ID < rs[j-1].Policy.ID; j-- {
			rs[j], rs[j-1] = rs[j-1], rs[j]
		}
	}
}

// SetState implements pipeline.StatefulMatcher: the engine hands itself in
// so that offenses(), banned(), failures() and distinct() can read it.
func (s *Set) SetState(v pipeline.StateView) {
	for _, p := range s.packs {
		if p.ref != nil {
			p.ref.state = v
		}
	}
}

// Clone returns a Set sharing the compiled rules with its own VM.
func (s *Set) Clone() *Set {
	c := *s
	c.vm = vm.VM{}
	c.f2b = nil
	c.unbanned = nil
	c.sub = nil
	return &c
}

// Fork implements pipeline.ConcurrentMatcher: a Clone for another
// goroutine.
func (s *Set) Fork() pipeline.Matcher { return s.Clone() }

// Concurrent implements pipeline.ConcurrentMatcher: events of these formats
// (all formats when none are given) can be judged on several goroutines and
// counted by address on several workers when no rule that sees them keeps
// state between lines (the fail2ban dialect's sessions, buffers and date
// detector), reads the engine's state (offenses, banned, failures,
// distinct), or counts by a key other than the address; and when no rule
// bans ranges, which counts the bans of every address of a prefix.
func (s *Set) Concurrent(formats []pipeline.Format) bool {
	for _, r := range s.rules {
		if r.Policy.Range != nil {
			return false
		}
		if len(formats) > 0 && !slices.ContainsFunc(r.Formats, func(f pipeline.Format) bool { return slices.Contains(formats, f) }) {
			continue
		}
		if r.f2b != nil || r.key != nil || (r.when != nil && readsState(r.when.prog)) {
			return false
		}
	}
	return true
}

// readsState reports whether a compiled expression calls a helper that
// reads the engine's state.
func readsState(p *vm.Program) bool {
	v := &stateCalls{}
	n := p.Node()
	ast.Walk(&n, v)
	return v.found
}

type stateCalls struct{ found bool }

func (v *stateCalls) Visit(n *ast.Node) {
	if c, ok := (*n).(*ast.CallNode); ok {
		if id, ok := c.Callee.(*ast.IdentifierNode); ok {
			switch id.Value {
			case "offenses", "banned", "failures", "distinct":
				v.found = true
			}
		}
	}
}

// Packs returns the packs in the set.
func (s *Set) Packs() []*Pack { return s.packs }

// Rules returns the rules in load order.
func (s *Set) Rules() []*Rule { return s.rules }

// Policies implements pipeline.Matcher.
func (s *Set) Policies() []*pipeline.Policy { return s.policies }

// Candidates returns the rules that can see ev (format and program).
func (s *Set) Candidates(ev *pipeline.Event) []*Rule {
	if int(ev.Format) >= len(s.byFormat) {
		return nil
	}
	d := &s.byFormat[ev.Format]
	if d.byProgram != nil {
		if rs, ok := d.byProgram[ev.Program]; ok {
			return rs
		}
	}
	return d.any
}

// Match implements pipeline.Matcher.
func (s *Set) Match(ev *pipeline.Event, hits []pipeline.Hit) []pipeline.Hit {
	for _, r := range s.Candidates(ev) {
		if h, v := s.judge(r, ev); v == Hit {
			hits = append(hits, h)
		}
	}
	return hits
}

// Verdict is why a rule did or did not judge an event an offense.
type Verdict uint8

const (
	Hit          Verdict = iota
	WrongSource          // the source glob does not match
	RegexMiss            // no failregex matched
	BadAddress           // the <HOST> text is not an address
	Ignored              // an ignoreregex matched
	PredicateNo          // `when:` is false
	NoAddress            // the event carries no address to ban
	PredicateErr         // `when:` or `key:` failed at run time
	// fail2ban dialect:
	Helper   // a line that is no failure: <F-NOFAIL>, or a session (<F-MLFID>) still waiting for its address
	NoDate   // matched, but the line has no date fail2ban could read
	HostName // the failure names a host (or an <F-ID>), not an address: stockade does not resolve DNS
)

var verdictNames = [...]string{"hit", "source does not match", "regex miss", "captured text is not an address",
	"ignoreregex matched", "predicate false", "no address", "predicate error",
	"helper line (no failure)", "no date", "host name (no DNS lookup)"}

func (v Verdict) String() string { return verdictNames[v] }

// Judge is Match for one rule, with the reason: what `explain` shows.
func (s *Set) Judge(r *Rule, ev *pipeline.Event) (pipeline.Hit, Verdict) { return s.judge(r, ev) }

func (s *Set) judge(r *Rule, ev *pipeline.Event) (pipeline.Hit, Verdict) {
	s.lastF2B = f2bResult{regex: -1, ignore: -1}
	if len(r.Sources) > 0 && !matchSource(r.Sources, ev.Source) {
		return pipeline.Hit{}, WrongSource
	}
	target := ev.Addr
	pair := false
	key := ""
	switch {
	case r.f2b != nil:
		res := s.judgeF2B(r, ev)
		s.lastF2B = res
		if res.verdict != Hit {
			if res.verdict == HostName || res.verdict == NoDate {
				s.countUnbanned(r, res.verdict.String())
			}
			return pipeline.Hit{}, res.verdict
		}
		target, key = res.addr, res.key
		setF2BCaptures(ev, res.fail)
	case len(r.fail) > 0:
		text := ev.Message
		if r.UseLine || text == "" {
			text = ev.Line
		}
		var v Verdict
		target, pair, v = s.matchFail(r.fail, text, ev)
		if v != Hit {
			return pipeline.Hit{}, v
		}
		for _, ig := range r.ignore {
			if ig.prefilter(text) && ig.re.Match(text) {
				return pipeline.Hit{}, Ignored
			}
		}
	}
	if !target.IsValid() {
		return pipeline.Hit{}, NoAddress
	}
	// Predicates see the address the rule matched (syslog events carry
	// none of their own until a failregex finds it).
	ev.Addr = target
	if r.when != nil {
		out, why := runExpr(&s.vm, r.when.prog, ev)
		if why != "" {
			s.countUnbanned(r, why)
			return pipeline.Hit{}, PredicateErr
		}
		if b, _ := out.(bool); !b {
			return pipeline.Hit{}, PredicateNo
		}
	}
	h := pipeline.Hit{Policy: r.Policy, Target: pipeline.Canonical(target), Pair: pair, Key: key}
	if r.key != nil {
		out, why := runExpr(&s.vm, r.key.prog, ev)
		if why != "" {
			s.countUnbanned(r, why)
			return pipeline.Hit{}, PredicateErr
		}
		h.Key = keyString(out)
	}
	return h, Hit
}

// envOf passes ev to a compiled expression as a pipeline.Event value
// without copying it: an interface of the value type whose data is ev
// itself. expr reads fields through reflect, which copies a field of an
// addressable struct (one reached through a pointer) into a new allocation
// to box it, but boxes a field of a value in place: with a pointer, every
// field a predicate reads costs an allocation; with a copy of the event,
// one of 500 bytes per run; this way, none. The interface is only read
// (expr never writes to its environment) and lives no longer than the run;
// ev is on the heap, as every event reaching a Matcher through its
// interface is.
func envOf(ev *pipeline.Event) any {
	type eface struct{ typ, data unsafe.Pointer }
	env := eventType
	(*eface)(unsafe.Pointer(&env)).data = unsafe.Pointer(ev)
	return env
}

// eventType holds the type word envOf needs.
var eventType any = pipeline.Event{}

// setF2BCaptures gives predicates the fields of a fail2ban failure under
// stockade's names (fid is id, fport is port); the address groups and
// fail2ban's bookkeeping groups are left out.
func setF2BCaptures(ev *pipeline.Event, f *Failure) {
	for k, v := range f.Fields {
		switch k {
		case "ip4", "ip6", "dns", "cidr", "mlfid", "content", "nofail", "mlfforget", "mlfgained":
			continue
		case "fid":
			k = "id"
		case "fport":
			k = "port"
		}
		if strings.HasPrefix(k, "skiplines") || v == "" {
			continue
		}
		if ev.Captures == nil {
			ev.Captures = make(map[string]string, 2)
		}
		ev.Captures[k] = v
		if k == "user" {
			ev.User = v
		}
	}
}

// matchFail tries the failregexes in order; the first that matches with a
// valid address wins. Named captures go to ev.Captures, and a "user"
// capture also to ev.User so predicates can use either.
func (s *Set) matchFail(fail []*failRegex, text string, ev *pipeline.Event) (a netip.Addr, pair bool, v Verdict) {
	v = RegexMiss
	for _, f := range fail {
		if !f.prefilter(text) {
			continue
		}
		if need := 2 * len(f.names); cap(s.sub) < need {
			s.sub = make([]int, need)
		}
		m := f.re.Submatch(text, s.sub[:cap(s.sub)])
		if m == nil {
			continue
		}
		hs, he := m[2*f.host], m[2*f.host+1]
		if hs < 0 {
			continue
		}
		addr, ok := pipeline.ParseAddr(text[hs:he])
		if !ok {
			v = BadAddress
			continue
		}
		for i, name := range f.names {
			if name == "" || name == "host" || m[2*i] < 0 {
				continue
			}
			if ev.Captures == nil {
				ev.Captures = make(map[string]string, 2)
			}
			val := text[m[2*i]:m[2*i+1]]
			ev.Captures[name] = val
			if name == "user" {
				ev.User = val
			}
		}
		return addr, f.pair, Hit
	}
	return netip.Addr{}, false, v
}

func matchSource(globs []string, src string) bool {
	base := filepath.Base(src)
	for _, g := range globs {
		if ok, _ := filepath.Match(g, src); ok {
			return true
		}
		if ok, _ := filepath.Match(g, base); ok {
			return true
		}
	}
	return false
}

func keyString(v any) string {
	switch k := v.(type) {
	case string:
		return k
	case int:
		return strconv.Itoa(k)
	case nil:
		return ""
	default:
		return fmt.Sprint(k)
	}
}
