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
	"github.com/stockade-ids/stockade/rules/fail2ban/filter"
	"github.com/stockade-ids/stockade/rules/regex"
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

	// state is what each rule's matcher remembers between lines in this
	// Set, by rule ID (a fail2ban rule's sessions); nil for a matcher that
	// remembers nothing.
	state []any
	// clock and loc date the lines that carry no time of their own.
	clock func() time.Time
	loc   *time.Location
	// unbanned counts, per rule and bounded reason, the lines a
	// fail2ban-dialect rule matched but could not count.
	unbanned map[unbannedKey]uint64
	// sub is the submatch index buffer the regexes fill, and j the
	// judgement of the rule being judged, reused so that a match allocates
	// nothing.
	sub []int
	j   judgement
	// memo is what the predicates' searching regexes answered for the
	// strings they last read (see regexMemo).
	memo regexMemo
	// finds is what the scans of the fields found in the texts they
	// last read (see findMemo).
	finds findMemo

	// gates are the rules' gates by rule ID; multis the scans of a line
	// (see scans): [0] the line's, with the literals of region 0 and of
	// the riders, what each of its literals stands for in lineLits, and
	// one for each of fields; found the literals of the line being
	// matched (per region, a bit per literal of the region's), and done
	// whether it has been read (see gate).
	gates    []gate
	multis   [regions]*regex.Multi
	lineLits [][]lineLit
	riders   []int
	fields   []int
	scanMask uint16 // a bit per region of riders and fields
	found    []uint64
	span     [regions][2]int // each region's place in found
	done     bool
	// plans are the gates of each candidate list that has a plan, by
	// its first element (see gatePlan); lastPlan the one last used;
	// statusClass numbers the statuses for them; cand has a bit per
	// rule of the list being matched that its status and method admit.
	plans       map[**Rule]*gatePlan
	lastPlan    *gatePlan
	statusClass *[1025]uint16
	cand        uint64
	// reach is the plan's reach (see gatePlan.reach) for the line being
	// matched and the scanned it was made for; reached whether made.
	reach    uint64
	reachFor uint16
	reached  bool
	// bigPlans are the bigPlans of the lists too long for a plan, by
	// their first element; bigCand has a bit for each rule of the list
	// being matched that the line's literals reach (see bigPlan.reach),
	// made for bigFor's scanned when bigReached.
	bigPlans   map[**Rule]*bigPlan
	bigCand    []uint64
	bigFor     uint16
	bigReached bool
	// within is where each scanned field lies in the line (see texts).
	within [regions][2]int
	mark   func(id int32, start, end int) // markFound, bound once
	// quoted is what the line's scan found in the quoted texts it last
	// read apart, when quoteFree: no literal of the line's scan holds a
	// quote (see readLine); after is markAfter, bound once, for the
	// scan of the line from base.
	quoted    quotedMemo
	quoteFree bool
	after     func(id int32, start, end int)
	base      int
	// hit has a bit per region where the scan found a literal, every
	// one per region marked as holding every literal (see all).
	hit   uint8
	every uint8
	// scanned has a bit per gateField whose text lies in the line the
	// scan read: the gates read found only for those.
	scanned uint16

	// seen is what distinct() saw on the event being matched (see
	// Sightings).
	seen []pipeline.Sighting
	// defers has, on a fork (see Fork), a true for each rule whose
	// predicate counts distinct values: the fork leaves an event such a
	// rule matched to be judged in order (deferred, see Deferred).
	defers   []bool
	deferred bool

	// cur is the event the rules of one Match read: the caller's, which
	// the Set never writes, until a rule's failregex finds something
	// (the address, captures); then view, the Set's copy of it with the
	// findings written in, which the rule's predicates and the rules
	// after it read (see edit). caps holds the captures of the Match's
	// hits (Hit.Captures), every capture of the Match in order.
	//
	// The view's Captures map is written only for an expression that may
	// read it (see captured): a failregex's captures are the hit's list,
	// and only a few packs' predicates read them by name, where filling
	// and clearing a map for every sshd failure cost about as much as
	// the failregex's match. Until then the view holds the event's own
	// map (origCaps), which the Set never writes, and capsIn counts the
	// captures in the view's map.
	cur      *pipeline.Event
	view     pipeline.Event
	viewCaps map[string]string
	origCaps map[string]string
	capsIn   int
	caps     []pipeline.Capture

	// programs remembers the rules of the last programs Candidates looked
	// up, by format and name (see progMemo).
	programs [progMemoSlots]progMemo

	// globBuf holds the rules for a program that several globs match,
	// what Candidates returns until its next call.
	globBuf []*Rule

	// sources remembers, by rule ID, the last source a rule with
	// sources: globs was asked about and the answer: a log's lines come
	// in runs, and globbing every line was a tenth of the dialect's time.
	sources []sourceMemo

	// bySource are candidate lists without a gate plan cut down to the
	// rules whose sources: a source matches (see ofSource), and lastSource
	// the one asked last.
	bySource   map[sourceKey][]*Rule
	lastSource sourceKey
	lastRules  []*Rule
	srcBuf     []*Rule
}

// sourceKey is a candidate list (by where it is held and its length) and
// a source.
type sourceKey struct {
	list **Rule
	n    int
	src  string
}

// maxSources bounds bySource: past it, it starts again (a daemon follows
// thousands of files at most; a replay names its own).
const maxSources = 8192

type sourceMemo struct {
	src string
	ok  bool
}

type dispatch struct {
	any       []*Rule            // rules with no program filter
	byProgram map[string][]*Rule // per program: its rules and the any rules, in order
	// globs are the program globs of the format's rules, by stem (see
	// programs.go).
	globs map[string][]programGlob
	// globFirst has a bit for each first byte of the globs' stems.
	globFirst [2]uint64
}

// NewSet compiles packs into one set. Rule names must be unique across packs.
func NewSet(packs ...*Pack) (*Set, error) {
	s := &Set{packs: packs}
	var es Errors
	seen := map[string]Pos{}
	enable := map[string]bool{}
	for _, p := range packs {
		for _, n := range p.Enable {
			enable[n] = true
		}
	}
	for _, p := range packs {
		for _, r := range p.Rules {
			if enable[r.Policy.Name] {
				delete(enable, r.Policy.Name)
			} else if r.Off {
				continue
			}
			if prev, dup := seen[r.Policy.Name]; dup {
				es.Add(r.Pos, "rule %q is also defined at %s", r.Policy.Name, prev)
				continue
			}
			seen[r.Policy.Name] = r.Pos
			if r.unread {
				continue
			}
			r.Policy.ID = len(s.rules)
			s.rules = append(s.rules, r)
			s.policies = append(s.policies, r.Policy)
		}
	}
	addAllow(s.rules, allowRanges(packs, enable))
	for i, r := range s.rules {
		s.policies[i] = r.Policy
	}
	for _, p := range packs {
		for _, n := range p.Enable {
			if enable[n] {
				at, ok := p.enablePos[n]
				if !ok {
					at = Pos{File: p.File}
				}
				es.Add(at, "enable: no rule %q in the packs loaded", n)
				delete(enable, n)
			}
		}
	}
	if err := es.Err(); err != nil {
		return nil, err
	}
	s.state = make([]any, len(s.rules))
	s.sources = make([]sourceMemo, len(s.rules))
	s.dispatch()
	s.readGates()
	s.plan()
	return s, nil
}

// crowded are the rules of a candidate list too long for a gate plan
// (see gateOf and planOf).
func (s *Set) crowded() map[*Rule]bool {
	var out map[*Rule]bool
	mark := func(rs []*Rule) {
		if len(rs) <= maxPlanned {
			return
		}
		if out == nil {
			out = map[*Rule]bool{}
		}
		for _, r := range rs {
			out[r] = true
		}
	}
	s.eachList(mark)
	return out
}

// readGates reads the rules' gates and sets up the scans of a line for
// their literals (see gate).
func (s *Set) readGates() {
	gb := gateBuilder{crowded: s.crowded()}
	s.gates = make([]gate, len(s.rules))
	for i, r := range s.rules {
		s.gates[i] = gb.gateOf(r)
	}
	var rg gateRegions
	for i := range s.rules {
		g := &s.gates[i]
		rg.add(&gb, g.clauses)
		for _, c := range g.fail {
			rg.add(&gb, c)
		}
	}
	span := rg.spans()
	for i, r := range s.rules {
		g := &s.gates[i]
		g.masks = rg.masks(g.clauses, span, r.UseLine)
		for _, c := range g.masks {
			g.texts, g.regs = g.texts|c.texts, g.regs|c.regs
		}
		if g.fail != nil {
			g.failMasks = make([][]gateClause, len(g.fail))
			for k, c := range g.fail {
				g.failMasks[k] = rg.masks(c, span, r.UseLine)
			}
			g.failIndex(span)
		}
	}
	s.scans(&rg)
	s.found = make([]uint64, span[regions-1][1])
	s.mark, s.after = s.markFound, s.markAfter
}

// dispatch files the rules by format and program.
func (s *Set) dispatch() {
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
				if isGlob(prog) {
					d.addGlob(prog, r)
				} else if !containsRule(d.byProgram[prog], r) {
					d.byProgram[prog] = append(d.byProgram[prog], r)
				}
			}
		}
	}
	// Each program's list also holds the rules for any program, so dispatch
	// is a single map lookup; keep the load order so results are stable.
	for f := range s.byFormat {
		s.byFormat[f].finish()
	}
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
			p.ref.state, p.ref.seen = v, &s.seen
		}
	}
}

// Sightings implements pipeline.Sighter: what distinct() saw on the
// event last matched, for the engine to record.
func (s *Set) Sightings() []pipeline.Sighting { return s.seen }

// Clone returns a Set sharing the compiled rules with its own VM.
func (s *Set) Clone() *Set {
	c := *s
	c.vm = vm.VM{}
	c.state = make([]any, len(s.rules))
	c.sources = make([]sourceMemo, len(s.rules))
	c.bySource, c.lastSource, c.lastRules, c.srcBuf = nil, sourceKey{}, nil, nil
	c.bigCand, c.bigReached = nil, false
	c.seen, c.cur, c.view, c.viewCaps, c.origCaps, c.caps = nil, nil, pipeline.Event{}, nil, nil, nil
	c.unbanned = nil
	c.defers, c.deferred = nil, false
	c.sub = nil
	c.memo = regexMemo{}
	c.finds = findMemo{}
	c.globBuf = nil
	c.programs = [progMemoSlots]progMemo{}
	c.found = make([]uint64, len(s.found))
	cp := &c
	c.quoted = quotedMemo{}
	cp.mark, cp.after = cp.markFound, cp.markAfter
	return cp
}

// Fork implements pipeline.ConcurrentMatcher: a Clone for another
// goroutine, which judges no predicate that reads the engine's state: it
// defers the event instead (see Deferred).
func (s *Set) Fork() pipeline.Matcher {
	c := s.Clone()
	c.defers = make([]bool, len(s.rules))
	for i, r := range s.rules {
		c.defers[i] = r.when != nil && readsState(r.when.prog)
	}
	return c
}

// Concurrent implements pipeline.ConcurrentMatcher: events of these formats
// (all formats when none are given) can be judged on several goroutines and
// counted by address on several workers when no rule that sees them keeps
// state between lines (the fail2ban dialect's sessions, buffers and date
// detector), reads the engine's state (offenses, banned, failures,
// distinct), or counts by a key other than the address; and when no rule
// bans ranges, which counts the bans of every address of a prefix.
func (s *Set) Concurrent(formats []pipeline.Format) bool { return s.concurrent(formats, false) }

// concurrent is Concurrent; apart: but for the rules that keep state
// between lines and those whose predicates count distinct values, whose
// events the merge judges in order (see ConcurrentApart). A predicate
// that reads what the workers count (offenses, banned, failures) has no
// such place: the merge holds none of it.
func (s *Set) concurrent(formats []pipeline.Format, apart bool) bool {
	formats = seenFormats(formats)
	for _, r := range s.rules {
		if r.Policy.Range != nil {
			return false
		}
		if len(formats) > 0 && !r.sees(formats) {
			continue
		}
		if (r.m.stateful() && !apart) || r.key != nil {
			return false
		}
		if r.when != nil {
			if distinct, counted := stateReads(r.when.prog); counted || distinct && !apart {
				return false
			}
		}
	}
	return true
}

// readsState reports whether a compiled expression calls a helper that
// reads the engine's state.
func readsState(p *vm.Program) bool {
	distinct, counted := stateReads(p)
	return distinct || counted
}

// stateReads reports which of the engine's state a compiled expression
// reads: what distinct() remembers, which the engine's own goroutine
// keeps, and what its windows and ledger count (offenses, banned,
// failures), which a parallel replay's workers keep, by address.
func stateReads(p *vm.Program) (distinct, counted bool) {
	v := &stateCalls{}
	n := p.Node()
	ast.Walk(&n, v)
	return v.distinct, v.counted
}

type stateCalls struct{ distinct, counted bool }

func (v *stateCalls) Visit(n *ast.Node) {
	if c, ok := (*n).(*ast.CallNode); ok {
		if id, ok := c.Callee.(*ast.IdentifierNode); ok {
			switch id.Value {
			case "offenses", "banned", "failures":
				v.counted = true
			case "distinct":
				v.distinct = true
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

// Candidates returns the rules that can see ev (format and program). The
// slice is the Set's: read it before the next call.
func (s *Set) Candidates(ev *pipeline.Event) []*Rule {
	if int(ev.Format) >= len(s.byFormat) {
		return nil
	}
	prog := ev.Program
	m := &s.programs[progSlot(ev.Format, prog)]
	if m.set && m.format == ev.Format && m.prog == prog {
		return m.rules
	}
	d := &s.byFormat[ev.Format]
	rs, ok := d.byProgram[prog]
	if !ok {
		rs = d.unlisted(prog, &s.globBuf)
		if len(rs) > 0 && len(s.globBuf) > 0 && &rs[0] == &s.globBuf[0] {
			return rs // the scratch slice of several globs: not kept
		}
	}
	// The name is copied: an event's program is a view of the reader's
	// buffer, whose bytes the next refill overwrites.
	*m = progMemo{set: true, format: ev.Format, prog: strings.Clone(prog), rules: rs}
	return rs
}

// progMemo is a program's rules for one format, as Candidates found them:
// an auth.log's lines come from a handful of programs, each looked up in
// a map by its name on every line (a thirtieth of the line's cost).
// A name that misses costs the lookup and a copy, so a flood of made-up
// names (anyone can log as any program) costs what it did plus the copy.
type progMemo struct {
	set    bool
	format pipeline.Format
	prog   string
	rules  []*Rule
}

const progMemoSlots = 16

// progSlot is where a program's memo lives: by its length and its first
// and last bytes, which tell the programs of one log apart.
func progSlot(f pipeline.Format, prog string) int {
	h := uint(len(prog)) * 7
	if len(prog) > 0 {
		h += uint(prog[0])*3 + uint(prog[len(prog)-1])
	}
	return int(h+uint(f)) & (progMemoSlots - 1)
}

// Match implements pipeline.Matcher.
func (s *Set) Match(ev *pipeline.Event, hits []pipeline.Hit) []pipeline.Hit {
	s.start(ev)
	had := len(hits)
	rs := s.Candidates(ev)
	p := s.planFor(rs)
	var bp *bigPlan
	switch {
	case p != nil:
		s.admit(p, ev)
	default:
		if bp = s.bigPlanFor(rs); bp == nil {
			rs = s.ofSource(rs, ev.Source)
		}
	}
	for i := s.nextOf(p, bp, rs, 0); i < len(rs); i = s.nextOf(p, bp, rs, i+1) {
		r := rs[i]
		j := &s.j
		if s.judge(r, s.cur, j); j.verdict == Hit {
			hits = j.appendHit(hits, r, s.caps)
		} else if s.deferred {
			// The merge judges the whole event again, in order.
			hits = hits[:had]
			break
		}
	}
	s.cur = nil
	return hits
}

// Deferred implements pipeline.Deferrer: whether the last Match of a fork
// met a rule whose predicate reads the engine's state, left unjudged.
func (s *Set) Deferred() bool { return s.deferred }

// start begins the judgement of ev.
func (s *Set) start(ev *pipeline.Event) {
	s.done, s.hit = false, 0
	s.reached, s.bigReached = false, false
	s.deferred = false
	s.seen = s.seen[:0]
	s.caps = s.caps[:0]
	s.cur = ev
	s.memo.forget()
}

// edit returns the event a rule's findings are written into: the Set's
// copy of the event being judged, made at the first finding of a Match.
func (s *Set) edit() *pipeline.Event {
	if s.cur == &s.view {
		return s.cur
	}
	s.view = *s.cur
	s.origCaps, s.capsIn = s.cur.Captures, 0
	s.cur = &s.view
	return s.cur
}

// run runs prog on ev, the Match's captures written in first (see
// captured): every expression the VM runs on an event goes through it.
func (s *Set) run(prog *vm.Program, ev *pipeline.Event) (any, string) {
	s.captured(ev)
	return runExpr(&s.vm, prog, ev)
}

// captured makes the Captures of ev, when it is the view, hold every
// capture of the Match so far, over the event's own, as each capture
// written into it in turn left it: what an expression about to read ev
// (a predicate or a key run by the VM) sees.
func (s *Set) captured(ev *pipeline.Event) {
	if ev != &s.view || s.capsIn == len(s.caps) {
		return
	}
	caps := s.viewCaps
	if caps == nil {
		caps = make(map[string]string, len(s.origCaps)+len(s.caps))
		s.viewCaps = caps
	}
	clear(caps)
	for k, v := range s.origCaps {
		caps[k] = v
	}
	for _, c := range s.caps {
		caps[c.Name] = c.Value
	}
	s.view.Captures, s.capsIn = caps, len(s.caps)
}

// capture writes a failregex's named group into the event being judged
// (ev.User for "user"; ev.Captures when an expression reads it, see
// captured) and into the captures of the rule's hit.
func (s *Set) capture(name, value string) {
	ev := s.edit()
	if name == "user" {
		ev.User = value
		s.rewrote(fieldUser)
	}
	s.caps = append(s.caps, pipeline.Capture{Name: name, Value: value})
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
func (s *Set) Judge(r *Rule, ev *pipeline.Event) (pipeline.Hit, Verdict) {
	s.start(ev)
	defer func() { s.cur = nil }()
	j := &s.j
	if s.judge(r, ev, j); j.verdict != Hit {
		return pipeline.Hit{}, j.verdict
	}
	return j.hit(r, s.caps), Hit
}

// judgement is a rule's answer for one event: its matcher's, then the
// predicates'.
type judgement struct {
	verdict Verdict
	target  netip.Addr // what the matcher found to ban
	pair    bool
	open    bool
	close   bool
	weight  int    // attempts the line stands for (<F-TIMES>); 0: one
	key     string // what the rule counts by, when not the address
	// regex and ignore are the failregex and the ignoreregex that matched
	// (see RuleVerdict), -1 for none.
	regex, ignore int
	caps          int             // where the rule's captures start in Set.caps
	failure       *filter.Failure // a fail2ban rule's
}

// hit is the judgement as the engine counts it, when its verdict is Hit.
func (j *judgement) hit(r *Rule, caps []pipeline.Capture) pipeline.Hit {
	var h pipeline.Hit
	j.fill(&h, r, caps)
	return h
}

// appendHit is append(hits, j.hit(r, caps)), the hit made in place:
// returned, then appended, its 88 bytes were written twice for each of
// the two or three hits of an attack line.
func (j *judgement) appendHit(hits []pipeline.Hit, r *Rule, caps []pipeline.Capture) []pipeline.Hit {
	hits = append(hits, pipeline.Hit{})
	j.fill(&hits[len(hits)-1], r, caps)
	return hits
}

// fill writes the hit into h, a zero Hit.
func (j *judgement) fill(h *pipeline.Hit, r *Rule, caps []pipeline.Capture) {
	h.Policy, h.Target, h.Key, h.Weight = r.Policy, pipeline.Canonical(j.target), j.key, j.weight
	h.Pair, h.Open, h.Close = j.pair, j.open, j.close
	if c := caps[j.caps:]; len(c) > 0 {
		h.Captures = c[:len(c):len(c)]
	}
}

// judge fills j with r's judgement of ev. j is the Set's (s.j): passed to
// a matcher through its interface, a judgement on the stack would escape
// to the heap on every call.
func (s *Set) judge(r *Rule, ev *pipeline.Event, j *judgement) {
	*j = judgement{regex: -1, ignore: -1, caps: len(s.caps)}
	if len(r.Sources) > 0 && !s.fromSource(r, ev.Source) {
		j.verdict = WrongSource
		return
	}
	if r.m.match(s, r, ev, j); j.verdict != Hit {
		return
	}
	if !j.target.IsValid() {
		j.verdict = NoAddress
		return
	}
	// Predicates see the address the rule matched (syslog events carry
	// none of their own until a failregex finds it), and so do the rules
	// after it.
	ev = s.cur
	if ev.Addr != j.target {
		ev = s.edit()
		ev.Addr = j.target
	}
	if r.when != nil && s.defers != nil && s.defers[r.Policy.ID] {
		s.deferWhen(r, ev)
		j.verdict = PredicateNo
		return
	}
	if r.when != nil && !s.when(r, ev, j) {
		return
	}
	if r.key != nil {
		out, why := s.run(r.key.prog, ev)
		if why != "" {
			s.countUnbanned(r, why)
			j.verdict = PredicateErr
			return
		}
		j.key = keyString(out)
	}
}

// when runs r's predicate on ev; when false, it sets j's verdict.
func (s *Set) when(r *Rule, ev *pipeline.Event, j *judgement) bool {
	p := r.when
	if p.fast != nil {
		if ok := p.fast(&s.memo, ev); p.whole || !ok {
			if !ok {
				j.verdict = PredicateNo
			}
			return ok
		}
	}
	out, why := s.run(p.prog, ev)
	if why != "" {
		s.countUnbanned(r, why)
		j.verdict = PredicateErr
		return false
	}
	if b, _ := out.(bool); !b {
		j.verdict = PredicateNo
		return false
	}
	return true
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

// ofSource is rs without the rules whose sources: src does not match,
// remembered by list and source: fail2ban's jails each name their logs,
// and with every jail of a jail.conf enabled (ninety-one) a line of
// auth.log went past each, about a third of its time, to be told its
// source is not the jail's. The daemon's lines come from its files in
// turn, a replay's in runs: the last answer is kept apart, the others in
// a map. A list with a gate plan is left whole (the plan is the list's).
func (s *Set) ofSource(rs []*Rule, src string) []*Rule {
	if len(rs) == 0 || src == "" {
		return rs // the rules judge it as they did (see judge)
	}
	// Candidates' lists are fixed, but for the scratch list of a program
	// several globs match, which is never remembered.
	if len(s.globBuf) > 0 && &rs[0] == &s.globBuf[0] {
		return s.filterSource(rs, src, nil)
	}
	k := sourceKey{list: &rs[0], n: len(rs), src: src}
	if k == s.lastSource {
		return s.lastRules
	}
	out, ok := s.bySource[k]
	if !ok {
		if s.bySource == nil || len(s.bySource) >= maxSources {
			s.bySource = map[sourceKey][]*Rule{}
		}
		out = s.filterSource(rs, src, make([]*Rule, 0, 4))
		// The key keeps src, which may point into a reused buffer.
		k.src = strings.Clone(src)
		s.bySource[k] = out
	}
	s.lastSource, s.lastRules = k, out
	return out
}

// filterSource appends to out the rules of rs that read src (out nil:
// the Set's scratch list, valid until the next call).
func (s *Set) filterSource(rs []*Rule, src string, out []*Rule) []*Rule {
	scratch := out == nil
	if scratch {
		out = s.srcBuf[:0]
	}
	for _, r := range rs {
		if len(r.Sources) == 0 || s.fromSource(r, src) {
			out = append(out, r)
		}
	}
	if scratch {
		s.srcBuf = out
	}
	return out
}

// fromSource is matchSource(r.Sources, src), remembered for src.
func (s *Set) fromSource(r *Rule, src string) bool {
	m := &s.sources[r.Policy.ID]
	if m.src != src || src == "" {
		// The memo keeps src, which may point into a reused buffer: a
		// copy of its own.
		*m = sourceMemo{src: strings.Clone(src), ok: matchSource(r.Sources, src)}
	}
	return m.ok
}

// matchSource reports whether src, its base name, or either without the
// suffix logrotate adds (see unrotated) matches one of globs: a rule that
// reads auth.log reads the auth.log.1 and auth.log-20251108.gz that a
// replay of the archive names.
func matchSource(globs []string, src string) bool {
	base := filepath.Base(src)
	names := []string{src, base}
	if u := unrotated(src); u != src {
		names = append(names, u, filepath.Base(u))
	}
	for _, g := range globs {
		for _, n := range names {
			if ok, _ := filepath.Match(g, pathTail(g, n)); ok {
				return true
			}
		}
	}
	return false
}

// pathTail is the part of name a glob is matched against: a relative glob
// of k path elements ("lsws/logs/error.log*") names a file by its last k
// elements wherever it lies, so a built-in pack can name a service's own
// log without an absolute path (which `run` would follow as a log of its
// own); any other glob sees name whole.
func pathTail(glob, name string) string {
	k := strings.Count(glob, "/")
	if k == 0 || strings.HasPrefix(glob, "/") {
		return name
	}
	i := len(name)
	for ; k >= 0; k-- {
		j := strings.LastIndexByte(name[:i], '/')
		if j < 0 {
			return name
		}
		i = j
	}
	return name[i+1:]
}

// unrotated is name without the suffix log rotation gives it: a .gz, then
// a number (.1, the default) or a date (-20251108, logrotate's dateext,
// or -2025-11-08); name itself when it has none.
func unrotated(name string) string {
	n := strings.TrimSuffix(name, ".gz")
	i := strings.LastIndexAny(n, ".-")
	if i <= 0 || n[i-1] == '/' {
		return name
	}
	suffix := n[i+1:]
	switch {
	case n[i] == '.' && digits(suffix):
	case n[i] == '-' && digits(suffix) && len(suffix) >= 8:
	case n[i] == '-' && len(n) > 11 && n[len(n)-11] == '-' && isDashDate(n[len(n)-10:]):
		return n[:len(n)-11]
	default:
		if n != name {
			return n
		}
		return name
	}
	return n[:i]
}

func digits(s string) bool {
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// isDashDate: s is YYYY-MM-DD.
func isDashDate(s string) bool {
	return len(s) == 10 && digits(s[:4]) && s[4] == '-' && digits(s[5:7]) && s[7] == '-' && digits(s[8:])
}

// Reads reports whether some rule judges the events of a log of format f
// whose source (path) is src: when none does, a replay says so rather than
// read the file for nothing.
func (s *Set) Reads(f pipeline.Format, src string) bool {
	for _, r := range s.rules {
		if slices.Contains(r.Formats, f) && (len(r.Sources) == 0 || matchSource(r.Sources, src)) {
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

// Lookback is how far back the rules judging events of format f count:
// the longest of their findtimes and of the windows their offenses(),
// failures() and distinct() calls name, and of range rules' windows (they
// count the bans those rules make); 0 when no rule judges f. A correlator
// newly given a Kafka partition of decisions reads that far back to
// rebuild what its previous holder counted.
func (s *Set) Lookback(f pipeline.Format) time.Duration {
	var longest, ranges time.Duration
	for _, r := range s.rules {
		if r.Policy.Range != nil {
			ranges = max(ranges, r.Policy.Window)
			continue
		}
		if slices.Contains(r.Formats, f) {
			longest = max(longest, r.lookback())
		}
	}
	if longest == 0 {
		return 0
	}
	return max(longest, ranges)
}

// lookback is how far back r counts.
func (r *Rule) lookback() time.Duration {
	var d time.Duration
	if r.Policy.Threshold > 1 {
		d = r.Policy.Window
	}
	if r.when != nil {
		d = max(d, r.when.window)
	}
	if r.key != nil {
		d = max(d, r.key.window)
	}
	return d
}
