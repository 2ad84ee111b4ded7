package rules

import (
	"math/bits"
	"slices"
	"unsafe"

	"github.com/expr-lang/expr/ast"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/rules/internal/tags"
	"github.com/stockade-ids/stockade/rules/regex"
)

// A gate is what a rule requires of an event before it is worth judging,
// read from the rule when the set is built: the statuses its predicate
// admits, and literals its regexes need. The set reads each line once for
// every rule's literals (regex.Multi: the line for what the line's
// regexes need and the fields with few literals, a field with many for
// its own, see scans) and skips the rules whose gate is shut: with the
// web packs' dozen rules, an access line that no rule concerns costs a
// scan instead of a dozen regexes and predicates.
//
// A gate only ever says "cannot hit": its status set and literal sets are
// necessary conditions, so a rule it lets through is judged as before.
// Rules whose judgement has effects on the event or the engine are never
// gated by their predicate: a failregex's captures (ev.User, ev.Captures,
// which later rules see) come before the predicate, and a predicate that
// reads the engine's state must run (what distinct() sees, the engine
// records after Match).
// Their failregexes still gate them: without a failregex match nothing
// happens. A predicate that would fail at run time (over its budget) and
// is gated shut is no longer counted among the uncounted lines: it could
// not have been true.
type gate struct {
	on      bool
	status  *[16]uint64 // admitted statuses (0 to 1023); nil: any
	methods []string    // admitted request methods, exactly; nil: any
	clauses [][]gateLit // each needs one of its literals
	masks   []gateClause
	// fail, for a rule of case-insensitive failregexes (web-cve's
	// forty exploits), has each failregex's own clauses and masks: of
	// a line the rule's gate lets through, only the failregexes whose
	// literals the scan found are tried. Nil clauses: always tried.
	fail      [][][]gateLit
	failMasks [][]gateClause
	// failByLit has, by literal of the line's scan (region 0), a bit for
	// each failregex whose clause holds it, and failOpen one for each
	// gated by none, failTexts the texts of their clauses: the
	// failregexes a line lets through are then had from the few
	// literals it holds, where asking each of web-cve's forty whether
	// the scan found one of its own cost more than the regexes run.
	// Nil when a failregex has clauses of several, or there are more
	// than 64 (see failIndex).
	failByLit []uint64
	failOpen  uint64
	failTexts uint16
	// texts and regs are those of every clause of masks: when the scan
	// read all those texts and found nothing in those regions, the gate
	// is shut whatever its clauses (an ordinary line's case).
	texts uint16
	regs  uint8
}

// gateClause is a clause as the scan's result is read: its masks, and
// the regions and texts they lie in, which dismiss most clauses of an
// ordinary line in one test (nothing found in those regions).
type gateClause struct {
	masks []gateMask
	regs  uint8  // a bit per region of masks
	texts uint16 // a bit per gateField of masks
}

// gateMask is a clause's literals in one region and word of the found
// bits: a clause is checked a word at a time. Each region has literal
// ids of its own (see gateRegions).
type gateMask struct {
	reg  int // 0: anywhere in the text (field says which text)
	word int
	idx  int // where bits are in Set.found: the region's start plus word
	bits uint64
	// text is the event text the literals must lie in: the field of
	// region reg, or for region 0 the line, the message, or fieldText
	// (the message, or the line when there is none) for a rule that
	// reads the message.
	text gateField
}

// gateLit is a literal (an id of the gateBuilder's) the rule needs in
// one of the event's texts.
type gateLit struct {
	field gateField
	lit   int32
}

type gateField uint8

const (
	fieldText gateField = iota // what the failregexes read: message or line
	fieldPath
	fieldUserAgent
	fieldReferer
	fieldMethod
	fieldUser
	fieldLine
	fieldMessage
)

// A line's literals are recorded by region: found anywhere (region 0,
// what a whole-line or message regex needs), and found wholly inside one
// of the fields a predicate reads, so that a quote that delimits every
// access-log field does not pass for a quote in the path.
const regions = 6

func (f gateField) region() int {
	if f >= fieldLine || f == fieldText {
		return 0
	}
	return int(f)
}

var gateFields = map[string]gateField{"path": fieldPath, "user_agent": fieldUserAgent, "referer": fieldReferer,
	"method": fieldMethod, "user": fieldUser, "line": fieldLine, "message": fieldMessage}

// span reports where f lies in line when it is a non-empty part of it
// (the parsers slice their fields out of the line, so the line's scan
// speaks for them); a field built otherwise (decoded JSON, a test's
// event) gets no gate. A text before the line wraps round to an offset
// past it.
func span(f, line string) (int, bool) {
	off := uintptr(unsafe.Pointer(unsafe.StringData(f))) - uintptr(unsafe.Pointer(unsafe.StringData(line)))
	if len(f) == 0 || off > uintptr(len(line)) || uintptr(len(f)) > uintptr(len(line))-off {
		return 0, false
	}
	return int(off), true
}

// gateBuilder interns literals for the set's Multi.
type gateBuilder struct {
	ids  map[string]int32
	lits []string
	// crowded are the rules of a candidate list too long for a gate plan
	// (see gateOf).
	crowded map[*Rule]bool
}

func (b *gateBuilder) id(l string) int32 {
	if id, ok := b.ids[l]; ok {
		return id
	}
	if b.ids == nil {
		b.ids = map[string]int32{}
	}
	id := int32(len(b.lits))
	b.ids[l] = id
	b.lits = append(b.lits, l)
	return id
}

// clause is the gate of a literal set in field f; nil when the set says
// nothing worth a lookup: a character that every line holds ("/", a
// quote, a letter).
func (b *gateBuilder) clause(f gateField, set []string) []gateLit {
	if len(set) == 0 {
		return nil
	}
	c := make([]gateLit, len(set))
	for i, l := range set {
		if regex.Weight([]string{l}) == 0 {
			return nil
		}
		c[i] = gateLit{f, b.id(l)}
	}
	return c
}

func (b *gateBuilder) add(in *gateInfo, c []gateLit) {
	if c != nil {
		in.clauses = append(in.clauses, c)
	}
}

// best is the most selective clause of in (regex.Weight), nil if none.
func (b *gateBuilder) best(in gateInfo) []gateLit {
	var best []gateLit
	bestW := 0
	for _, c := range in.clauses {
		set := make([]string, len(c))
		for i, l := range c {
			set[i] = b.lits[l.lit]
		}
		if w := regex.Weight(set); w > bestW {
			best, bestW = c, w
		}
	}
	return best
}

// gateOf reads r's gate.
func (b *gateBuilder) gateOf(r *Rule) gate {
	nm, ok := r.m.(*nativeMatcher)
	if !ok {
		return gate{} // a fail2ban filter keeps state between lines: it sees them all
	}
	var g gate
	if len(nm.fail) > 0 {
		// Failregexes that each have case-sensitive literals of their own
		// (sshd's) reject a line by strings.Contains faster than a scan:
		// only case-insensitive ones (web-cve's) need the gate, unless
		// the rule is among more than a plan holds: 500 rules of their
		// own literals made each auth.log line 20 µs, asked one by one.
		own := true
		for _, f := range nm.fail {
			own = own && (len(f.Literals) > 0 || len(f.AnyOf) > 0)
		}
		if own && !b.crowded[r] {
			return gate{}
		}
		// One failregex must match. Alone, all it requires is required;
		// of several, each needs its most selective set, so the union of
		// those is.
		var union []string
		unioned := true
		for _, f := range nm.fail {
			pat, _, err := tags.Translate(f.Src)
			if err != nil {
				return gate{}
			}
			req := regex.FoldRequirement(pat)
			if len(nm.fail) == 1 {
				for _, set := range req {
					if c := b.clause(fieldText, set); c != nil {
						g.clauses = append(g.clauses, c)
					}
				}
				break
			}
			// Each failregex is gated by its most selective set alone,
			// the one the union holds: its other sets would add literals
			// (" /", ";") that every line holds to the scan of every line.
			var own [][]gateLit
			if len(req) > 0 {
				if c := b.clause(fieldText, req[0]); c != nil {
					own = [][]gateLit{c}
				}
				union = append(union, req[0]...)
			} else {
				unioned = false
			}
			g.fail = append(g.fail, own)
		}
		switch {
		case len(nm.fail) == 1:
		case unioned:
			if c := b.clause(fieldText, union); c != nil {
				g.clauses = [][]gateLit{c}
			}
		}
		g.on = len(g.clauses) > 0
		return g
	}
	if r.when == nil || readsState(r.when.prog) {
		return g
	}
	in := b.walk(r.when.prog.Node(), r.when.regexes)
	g.status, g.methods, g.clauses = in.status, in.methods, in.clauses
	g.on = g.status != nil || g.methods != nil || len(g.clauses) > 0
	return g
}

// gateInfo is what a predicate's node requires to be true.
type gateInfo struct {
	status  *[16]uint64
	methods []string
	clauses [][]gateLit
}

// bothMethods is what `l && r` admits of methods each admits (nil: any).
func bothMethods(l, r []string) []string {
	switch {
	case l == nil:
		return r
	case r == nil:
		return l
	}
	both := []string{} // not nil: none
	for _, m := range l {
		if slices.Contains(r, m) {
			both = append(both, m)
		}
	}
	return both
}

func (b *gateBuilder) walk(n ast.Node, res map[*ast.ConstantNode]*regex.Regex) gateInfo {
	switch n := n.(type) {
	case *ast.BinaryNode:
		switch n.Operator {
		case "&&", "and":
			return both(b.walk(n.Left, res), b.walk(n.Right, res))
		case "||", "or":
			return b.either(b.walk(n.Left, res), b.walk(n.Right, res))
		case "==":
			return b.equal(n)
		case "in":
			return in(n)
		case "contains", "startsWith", "endsWith":
			if f, ok := fieldOf(n.Left); ok {
				if s, ok := n.Right.(*ast.StringNode); ok && s.Value != "" {
					var out gateInfo
					b.add(&out, b.clause(f, []string{regex.LowerASCII(s.Value)}))
					return out
				}
			}
		}
	case *ast.CallNode:
		c, _ := n.Callee.(*ast.ConstantNode)
		if re := res[c]; re != nil && len(n.Arguments) == 1 {
			if f, ok := fieldOf(n.Arguments[0]); ok {
				var out gateInfo
				for _, s := range regex.FoldRequirement(re.Src) {
					b.add(&out, b.clause(f, s))
				}
				return out
			}
		}
	}
	return gateInfo{}
}

// both is what l && r requires: all either requires.
func both(l, r gateInfo) gateInfo {
	st := l.status
	if st == nil {
		st = r.status
	} else if r.status != nil {
		both := *l.status
		for i := range both {
			both[i] &= r.status[i]
		}
		st = &both
	}
	return gateInfo{status: st, methods: bothMethods(l.methods, r.methods), clauses: append(l.clauses, r.clauses...)}
}

// either is what l || r requires: what both require in one form or the
// other (a status of either set, a method of either list, a literal of
// either's best clause).
func (b *gateBuilder) either(l, r gateInfo) gateInfo {
	var out gateInfo
	if l.status != nil && r.status != nil {
		either := *l.status
		for i := range either {
			either[i] |= r.status[i]
		}
		out.status = &either
	}
	if l.methods != nil && r.methods != nil {
		out.methods = append(slices.Clip(l.methods), r.methods...)
	}
	if lb, rb := b.best(l), b.best(r); lb != nil && rb != nil {
		out.clauses = [][]gateLit{append(append([]gateLit(nil), lb...), rb...)}
	}
	return out
}

// equal is what x == constant requires.
func (b *gateBuilder) equal(n *ast.BinaryNode) gateInfo {
	// The method is compared as it is, before any literal: an access
	// line's method is one of a few words, and the comparison is exact.
	// Its literal stays too, for an `or` with a literal of another field
	// (web-open-proxy's).
	if s, ok := n.Right.(*ast.StringNode); ok && isIdent(n.Left, "method") && s.Value != "" {
		out := gateInfo{methods: []string{s.Value}}
		b.add(&out, b.clause(fieldMethod, []string{regex.LowerASCII(s.Value)}))
		return out
	}
	if i, ok := n.Right.(*ast.IntegerNode); ok && isIdent(n.Left, "status") {
		return gateInfo{status: statusSet(i.Value)}
	}
	if f, ok := fieldOf(n.Left); ok {
		if s, ok := n.Right.(*ast.StringNode); ok && s.Value != "" {
			var out gateInfo
			b.add(&out, b.clause(f, []string{regex.LowerASCII(s.Value)}))
			return out
		}
	}
	return gateInfo{}
}

// in is what `method in [...]` and `status in [...]` require (expr folds
// a constant list into a set).
func in(n *ast.BinaryNode) gateInfo {
	c, ok := n.Right.(*ast.ConstantNode)
	if !ok {
		return gateInfo{}
	}
	if m, ok := c.Value.(map[string]struct{}); ok && isIdent(n.Left, "method") {
		out := gateInfo{methods: []string{}}
		for v := range m {
			out.methods = append(out.methods, v)
		}
		slices.Sort(out.methods)
		return out
	}
	if m, ok := c.Value.(map[int]struct{}); ok && isIdent(n.Left, "status") {
		var vs []int
		for v := range m {
			vs = append(vs, v)
		}
		return gateInfo{status: statusSet(vs...)}
	}
	return gateInfo{}
}

func isIdent(n ast.Node, name string) bool {
	id, ok := n.(*ast.IdentifierNode)
	return ok && id.Value == name
}

// fieldOf names the event text n reads: a field, or lower()/upper() of
// one (the gate's literals are compared without regard to ASCII case).
func fieldOf(n ast.Node) (gateField, bool) {
	switch n := n.(type) {
	case *ast.IdentifierNode:
		f, ok := gateFields[n.Value]
		return f, ok
	case *ast.BuiltinNode:
		if (n.Name == "lower" || n.Name == "upper") && len(n.Arguments) == 1 {
			return fieldOf(n.Arguments[0])
		}
	case *ast.CallNode:
		if isIdent(n.Callee, checkedStr) && len(n.Arguments) == 1 {
			return fieldOf(n.Arguments[0])
		}
	}
	return 0, false
}

func statusSet(vs ...int) *[16]uint64 {
	var s [16]uint64
	for _, v := range vs {
		if v >= 0 && v < 1024 {
			s[v>>6] |= 1 << (v & 63)
		}
	}
	return &s
}

// nextOf is next, by plan p or bp when the list rs has one.
func (s *Set) nextOf(p *gatePlan, bp *bigPlan, rs []*Rule, i int) int {
	switch {
	case p != nil:
		return s.nextPlanned(p, i)
	case bp != nil:
		return s.nextBig(bp, i)
	}
	return s.next(rs, i)
}

// next returns the index of the first rule of rs from i whose gate lets
// the event being matched through, len(rs) if none does. The tests that
// shut most gates on an ordinary line (its status, or no literal found
// where the gate looks once the line is read) are made here, without a
// call for each rule.
func (s *Set) next(rs []*Rule, i int) int {
	for ; i < len(rs); i++ {
		g := &s.gates[rs[i].Policy.ID]
		if !g.on {
			return i
		}
		if st := s.cur.Status; g.status != nil && (st < 0 || st >= 1024 || g.status[st>>6]&(1<<(st&63)) == 0) {
			continue
		}
		if s.done && g.methods == nil && len(g.masks) > 0 && g.regs&s.hit == 0 && g.texts&^s.scanned == 0 {
			continue
		}
		if s.open(g, s.cur) {
			return i
		}
	}
	return i
}

// open reports whether gate g lets ev through, reading the line for
// the literals on the first rule that needs them. A literal the scan did not see tells nothing about a text
// the scan did not read (a field built otherwise, or one a failregex
// rewrote since): such a clause is open.
func (s *Set) open(g *gate, ev *pipeline.Event) bool {
	if g.status != nil {
		st := ev.Status
		if st < 0 || st >= 1024 || g.status[st>>6]&(1<<(st&63)) == 0 {
			return false
		}
	}
	if g.methods != nil && !slices.Contains(g.methods, ev.Method) {
		return false
	}
	if len(g.masks) == 0 {
		return true
	}
	if !s.done {
		s.read(ev)
	}
	if g.regs&s.hit == 0 && g.texts&^s.scanned == 0 {
		return false
	}
	return s.passes(g.masks)
}

// passes reports whether each clause of masks has a literal the scan
// found, or lies in a text it did not read.
func (s *Set) passes(masks []gateClause) bool {
	for i := range masks {
		c := &masks[i]
		if c.texts&^s.scanned != 0 {
			continue // a text the scan did not read: open
		}
		if c.regs&s.hit == 0 {
			return false // nothing found where the clause looks
		}
		ok := false
		for k := range c.masks {
			if m := &c.masks[k]; s.found[m.idx]&m.bits != 0 {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// tries reports whether failregex i of the rule whose gate is g can
// match the event being judged, by the literals the scan of the line
// found: a failregex that cannot is not run (its verdict would be a
// miss). Only a line its rule's gate has read is gated so (Judge, which
// reads none, tries every failregex).
func (s *Set) tries(g *gate, i int) bool {
	return g.failMasks == nil || g.failMasks[i] == nil || !s.done || s.passes(g.failMasks[i])
}

// failIndex makes g.failByLit from g.failMasks, span being the regions'
// places in Set.found, when each failregex is gated by at most one
// clause, of the line's literals, and there are at most 64.
func (g *gate) failIndex(span [regions][2]int) {
	if len(g.failMasks) == 0 || len(g.failMasks) > 64 {
		return
	}
	byLit := make([]uint64, (span[0][1]-span[0][0])*64)
	var open uint64
	var texts uint16
	for i, cs := range g.failMasks {
		if len(cs) == 0 {
			open |= 1 << i
			continue
		}
		if len(cs) > 1 {
			return
		}
		texts |= cs[0].texts
		for _, m := range cs[0].masks {
			if m.reg != 0 {
				return
			}
			for b := m.bits; b != 0; b &= b - 1 {
				byLit[(m.idx-span[0][0])*64+bits.TrailingZeros64(b)] |= 1 << i
			}
		}
	}
	g.failByLit, g.failOpen, g.failTexts = byLit, open, texts
}

// triable is tries for every failregex of g at once, a bit each, when
// g has its failByLit and the scan read its texts (ok); else the
// caller asks tries of each.
func (s *Set) triable(g *gate) (try uint64, ok bool) {
	if !s.done || g.failByLit == nil || g.failTexts&^s.scanned != 0 {
		return 0, false
	}
	try = g.failOpen
	for w, word := range s.region(0) {
		for ; word != 0; word &= word - 1 {
			try |= g.failByLit[w*64+bits.TrailingZeros64(word)]
		}
	}
	return try, true
}

// gateRegions numbers the literals each region's clauses need, for a
// Multi per region: a field is scanned for its own literals only (the
// path for the five hundred of traversal, injection and sensitive files;
// the user agent for scanner names; the line for what a failregex
// needs), so that a user agent's text does not anchor a path literal's
// comparison, nor a path's text the line's.
type gateRegions struct {
	ids  [regions]map[int32]int32 // a literal of the set's to the region's
	lits [regions][]string
}

func (rg *gateRegions) add(b *gateBuilder, clauses [][]gateLit) {
	for _, c := range clauses {
		for _, l := range c {
			reg := l.field.region()
			if rg.ids[reg] == nil {
				rg.ids[reg] = map[int32]int32{}
			}
			if _, ok := rg.ids[reg][l.lit]; !ok {
				rg.ids[reg][l.lit] = int32(len(rg.lits[reg]))
				rg.lits[reg] = append(rg.lits[reg], b.lits[l.lit])
			}
		}
	}
}

// spans lays the regions out in Set.found: region reg's bits are
// found[span[reg][0]:span[reg][1]], a bit per literal of its own.
func (rg *gateRegions) spans() (span [regions][2]int) {
	n := 0
	for reg, l := range rg.lits {
		span[reg] = [2]int{n, n + (len(l)+63)/64}
		n = span[reg][1]
	}
	return span
}

// masks groups each clause's literals by region and word, span being
// the regions' places in Set.found; useLine is the rule's (its
// failregexes read the line, not the message).
func (rg *gateRegions) masks(clauses [][]gateLit, span [regions][2]int, useLine bool) []gateClause {
	var out []gateClause
	for _, c := range clauses {
		var gc gateClause
	lits:
		for _, l := range c {
			reg, text := l.field.region(), l.field
			id := rg.ids[reg][l.lit]
			w, bit := int(id>>6), uint64(1)<<(id&63)
			if text == fieldText && useLine {
				text = fieldLine
			}
			gc.regs |= 1 << reg
			gc.texts |= 1 << text
			for i := range gc.masks {
				if m := &gc.masks[i]; m.reg == reg && m.word == w && m.text == text {
					m.bits |= bit
					continue lits
				}
			}
			gc.masks = append(gc.masks, gateMask{reg: reg, word: w, idx: span[reg][0] + w, bits: bit, text: text})
		}
		out = append(out, gc)
	}
	return out
}

// texts reports which of ev's texts lie in its line: the parsers slice
// their fields out of it, and a scan speaks only for those (see span).
// Only the texts of regions with literals matter; where each lies in
// the line is noted in within ({-1, -1}: not in it).
func (s *Set) texts(ev *pipeline.Event) uint16 {
	var scanned uint16
	line := ev.Line
	// A test per field a region is made of, not a loop over them with a
	// switch for each: what every line of an access log pays.
	if m := s.scanMask; m != 0 {
		base, n := uintptr(unsafe.Pointer(unsafe.StringData(line))), uintptr(len(line))
		if m&(1<<fieldPath) != 0 {
			scanned |= s.place(fieldPath, ev.Path, base, n)
		}
		if m&(1<<fieldUserAgent) != 0 {
			scanned |= s.place(fieldUserAgent, ev.UserAgent, base, n)
		}
		if m&(1<<fieldReferer) != 0 {
			scanned |= s.place(fieldReferer, ev.Referer, base, n)
		}
		if m&(1<<fieldMethod) != 0 {
			scanned |= s.place(fieldMethod, ev.Method, base, n)
		}
		if m&(1<<fieldUser) != 0 {
			scanned |= s.place(fieldUser, ev.User, base, n)
		}
	}
	if line != "" {
		scanned |= 1 << fieldLine
		if ev.Message == "" {
			scanned |= 1 << fieldText
		}
	}
	if _, ok := span(ev.Message, line); ok {
		scanned |= 1<<fieldMessage | 1<<fieldText
	}
	return scanned
}

// place notes in within where f, the text of region reg, lies in the
// line that starts at base and is n bytes long, and returns reg's bit
// when it lies in it, 0 otherwise: span's test, with the line's start
// and length read once for all the fields (through span it cost 15
// instructions more a line in BenchmarkMatchAccessLog/gated).
func (s *Set) place(reg gateField, f string, base, n uintptr) uint16 {
	off := uintptr(unsafe.Pointer(unsafe.StringData(f))) - base
	if len(f) == 0 || off > n || uintptr(len(f)) > n-off {
		s.within[reg] = [2]int{-1, -1}
		return 0
	}
	s.within[reg] = [2]int{int(off), int(off) + len(f)}
	return 1 << reg
}

// lineLit is what a literal of the line's scan stands for: literal id
// of region reg (see gateRegions).
type lineLit struct {
	reg uint8
	id  int32
}

// scans sets up the scans of a line: one of the line for region 0's
// literals, which the fields with fewer literals than it ride on (what
// it finds wholly inside such a field is the field's), and one of each
// other field for its own (the path's five hundred, which the rest of
// the line would anchor at every turn).
func (s *Set) scans(rg *gateRegions) {
	var line []string
	ids := map[string]int{}
	add := func(reg int, lits []string) {
		for lid, l := range lits {
			id, ok := ids[l]
			if !ok {
				id = len(line)
				ids[l] = id
				line = append(line, l)
				s.lineLits = append(s.lineLits, nil)
			}
			s.lineLits[id] = append(s.lineLits[id], lineLit{uint8(reg), int32(lid)})
		}
	}
	add(0, rg.lits[0])
	s.span = rg.spans()
	for reg := 1; reg < regions; reg++ {
		switch lits := rg.lits[reg]; {
		case len(lits) == 0:
		case len(rg.lits[0]) > 0 && len(lits) <= len(rg.lits[0]):
			s.riders = append(s.riders, reg)
			s.scanMask |= 1 << reg
			add(reg, lits)
		default:
			s.fields = append(s.fields, reg)
			s.scanMask |= 1 << reg
			s.multis[reg] = regex.NewMulti(lits).WithTable()
		}
	}
	if len(line) > 0 {
		s.multis[0] = regex.NewMulti(line).WithTable()
		s.quoteFree = noQuote(line)
	}
}

// read scans ev for the literals of every region, and notes which of
// ev's texts the scan speaks for (scanned). A text that is not ASCII is
// marked as holding every literal (see regex.Multi.Scan).
func (s *Set) read(ev *pipeline.Event) {
	s.scanned = s.texts(ev)
	s.done = true
	s.every = 0
	clear(s.found) // every region at once: a few words, one call
	if m := s.multis[0]; m != nil && s.scanned&(1<<fieldLine) != 0 {
		s.readLine(ev, m)
	}
	for _, reg := range s.fields {
		if s.scanned&(1<<reg) != 0 { // else the clauses on it are open
			in := s.within[reg]
			s.find(reg, s.multis[reg], ev.Line[in[0]:in[1]])
		}
	}
}

// readLine scans ev's line for region 0's literals and those of the
// fields that ride on it (where texts found them), into found as read
// cleared it.
//
// A user agent between two quotes of the line is read apart, through
// the memo of quoted texts (see quotedMemo), when no literal holds a
// quote: a literal that lies across a quote would hold one, so each
// literal the line holds lies wholly before the agent's quote, inside
// the agent, or after its closing quote, and the three reads find what
// the one did, at the same places.
func (s *Set) readLine(ev *pipeline.Event, m *regex.Multi) {
	line := ev.Line
	ascii := true
	if lo, hi, ok := quoted(ev); ok && s.quoteFree {
		ascii = m.Scan(line[:lo], s.mark)
		ascii = s.quoted.find(m, line[lo:hi], lo, s.mark) && ascii
		if rest := line[hi:]; rest != `"` { // else only the quote: no literal, ASCII
			s.base = hi
			ascii = m.Scan(rest, s.after) && ascii
		}
	} else {
		ascii = m.Scan(line, s.mark)
	}
	if !ascii {
		s.all(0)
		for _, reg := range s.riders {
			s.all(reg)
		}
	}
}

// markAfter is markFound for a scan of the line from s.base.
func (s *Set) markAfter(id int32, start, end int) { s.markFound(id, s.base+start, s.base+end) }

// region is region reg's bits in found.
func (s *Set) region(reg int) []uint64 { return s.found[s.span[reg][0]:s.span[reg][1]] }

// all marks region reg as holding every literal.
func (s *Set) all(reg int) {
	found := s.region(reg)
	for i := range found {
		found[i] = ^uint64(0)
	}
	s.hit |= 1 << reg
	s.every |= 1 << reg
}

// markFound records literal id of the line's scan at line[start:end].
func (s *Set) markFound(id int32, start, end int) {
	for _, l := range s.lineLits[id] {
		if in := s.within[l.reg]; l.reg != 0 && (start < in[0] || end > in[1]) {
			continue
		}
		s.found[s.span[l.reg][0]+int(l.id>>6)] |= 1 << (l.id & 63)
		s.hit |= 1 << l.reg
	}
}

// find scans text for the literals of region reg, into found as read
// cleared it.
func (s *Set) find(reg int, m *regex.Multi, text string) {
	ascii, any := s.finds.find(reg, m, text, s.region(reg))
	switch {
	case !ascii:
		s.all(reg)
	case any:
		s.hit |= 1 << reg
	}
}

// Opens reports whether r's gate lets ev through: false means r cannot
// hit ev and Match does not judge it (Judge always does).
func (s *Set) Opens(r *Rule, ev *pipeline.Event) bool {
	g := &s.gates[r.Policy.ID]
	s.done, s.hit = false, 0
	return !g.on || s.open(g, ev)
}

// rewrote notes that a failregex rewrote field f of the event being
// matched: what the scan found in the old text says nothing of the new.
func (s *Set) rewrote(f gateField) { s.scanned &^= 1 << f }
