package rules

import (
	"fmt"
	"math/bits"
	"net/netip"
	"regexp/syntax"
	"slices"
	"unicode/utf8"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/rules/internal/tags"
	"github.com/stockade-ids/stockade/rules/regex"
)

// failRegex is one compiled failregex of a stockade rule.
type failRegex struct {
	regex.Regex
	// needs tests the literal sets a case-insensitive failregex of
	// several requires besides the one its gate looks for (see
	// gate.fail), before the regex runs: a scanner's /cgi-bin/ opens
	// web-cve's Apache traversal, whose encoded dot-dots one search for
	// a % refuses in a thirtieth of the regex's time.
	needs *regex.Needs
	host  int  // submatch index of the address
	pair  bool // the same process follows this line with another about the same attempt
	open  bool // the line opens an attempt the next lines log again
	close bool // the line closes a connection whose attempts counted already
}

// compileRegex translates fail2ban-style tags to RE2 and compiles:
//
//	<HOST> <ADDR> <IP4> <IP6>   the offending address (exactly one, failregex)
//	<F-USER>…</F-USER>          a named capture "user" (any <F-NAME>: "name")
//
// RE2 guarantees linear time, so no stockade rule can stall the pipeline
// with a pathological pattern (a rule in the fail2ban dialect can: see
// rules/regex's regexp2 engine).
func compileRegex(src string, needHost bool) (*regex.Regex, int, error) {
	out, nhost, err := tags.Translate(src)
	if err != nil {
		return nil, -1, err
	}
	if needHost && nhost != 1 {
		if nhost == 0 {
			return nil, -1, fmt.Errorf("failregex needs a <HOST> (or <ADDR>, <IP4>, <IP6>) tag")
		}
		return nil, -1, fmt.Errorf("failregex has %d address tags; exactly one is allowed", nhost)
	}
	re, err := regex.CompileRegex(src, out)
	if err != nil {
		return nil, -1, fmt.Errorf("bad regex: %v", unwrapSyntax(err))
	}
	host := -1
	for i, n := range re.Names {
		if n == "host" {
			host = i
		}
	}
	return re, host, nil
}

func unwrapSyntax(err error) string {
	// The translated pattern would confuse: name the problem only, the
	// position points at the regex as the user wrote it.
	if se, ok := err.(*syntax.Error); ok {
		return se.Code.String()
	}
	return err.Error()
}

// nativeMatcher is a stockade rule's: failregexes with one address each,
// ignoreregexes, over the message (or the line). A rule with no failregex
// takes the address its source parsed.
type nativeMatcher struct {
	fail   []*failRegex
	ignore []*regex.Regex
	// lits, when set, holds every failregex's required literals, and
	// need[i] the bits of failregex i's: one scan of the text tells
	// which failregexes can match, where each failregex's own prefilter
	// was up to three strings.Contains each (sshd's fifteen failregexes
	// on every sshd line). The scan is exact (case-sensitive, as the
	// literals are), so a failregex it lets through needs only its sets
	// checked: its literals' strings.Contains were a seventh of a
	// failure line's matching.
	lits *regex.Multi
	need []uint64
	// lead[c], when set, holds the bits of the failregexes a text that
	// starts with the ASCII byte c may match (see regex.LeadOf): an
	// anchored failregex names what a message starts with, so a line's
	// first byte leaves one or two of sshd's fifteen, and those are
	// prefiltered each for less than the scan of every literal costs.
	// withLits holds the bits of the failregexes with literals.
	lead     *[utf8.RuneSelf]uint64
	withLits uint64
}

// leadScanMax is how many failregexes with literals a line may be left
// with (by its first byte and the gate) before one scan of the line for
// all their literals is cheaper than their prefilters one by one; a rule
// with fewer failregexes than litScanMin never has the scan.
const (
	leadScanMax = 3
	litScanMin  = leadScanMax + 1
)

// index builds the failregexes' needs, and m.lits when they require
// literals, at most 64 in all.
func (m *nativeMatcher) index() {
	if len(m.fail) > 1 {
		for _, f := range m.fail {
			if len(f.Literals) > 0 {
				continue // its own prefilter
			}
			if pat, _, err := tags.Translate(f.Src); err == nil {
				f.needs = regex.NewNeeds(pat, 1)
			}
		}
	}
	m.indexLead()
	if len(m.fail) < litScanMin {
		return
	}
	lits := make([][]string, len(m.fail))
	for i, f := range m.fail {
		lits[i] = f.Literals
	}
	m.lits, m.need = regex.LiteralMasks(lits)
	for i, n := range m.need {
		if n != 0 {
			m.withLits |= 1 << i
		}
	}
}

// indexLead builds m.lead when some failregex is anchored and there are
// at most 64.
func (m *nativeMatcher) indexLead() {
	if len(m.fail) > 64 || !slices.ContainsFunc(m.fail, func(f *failRegex) bool { return f.Lead != nil }) {
		return
	}
	m.lead = new([utf8.RuneSelf]uint64)
	for i, f := range m.fail {
		for c := range m.lead {
			if f.Lead == nil || f.Lead.Has(byte(c)) {
				m.lead[c] |= 1 << i
			}
		}
	}
}

// leads returns the failregexes text may match by its first byte: every
// one for an empty text, one that is not ASCII, or a matcher without
// anchored failregexes.
func (m *nativeMatcher) leads(text string) uint64 {
	if m.lead == nil || text == "" || text[0] >= utf8.RuneSelf {
		return ^uint64(0)
	}
	return m.lead[text[0]]
}

func (m *nativeMatcher) match(s *Set, r *Rule, ev *pipeline.Event, j *judgement) {
	if len(m.fail) == 0 {
		j.verdict, j.target = Hit, ev.Addr
		return
	}
	text := ev.Message
	if r.UseLine || text == "" {
		text = ev.Line
	}
	if s.matchFail(m, &s.gates[r.Policy.ID], text, ev, j); j.verdict != Hit {
		return
	}
	for i, ig := range m.ignore {
		if ig.Match(text) {
			j.verdict, j.ignore = Ignored, i
			return
		}
	}
}

// matchFail tries the failregexes in order; the first that matches with a
// valid address wins (else the verdict is the last failregex's whose
// <HOST> text was not an address, or a miss). Named captures go to the
// hit (Set.capture); a "user" capture also to ev.User, and all of them to
// ev.Captures once an expression is about to read it (Set.captured), so
// predicates can use either.
func (s *Set) matchFail(m *nativeMatcher, g *gate, text string, ev *pipeline.Event, j *judgement) {
	j.verdict, j.target = RegexMiss, netip.Addr{}
	try, indexed := s.triable(g)
	if !indexed {
		try = ^uint64(0) // the gate answers failregex by failregex (tries)
	}
	cands := m.leads(text) & try
	found, exact := ^uint64(0), false
	if m.lits != nil && bits.OnesCount64(cands&m.withLits) > leadScanMax {
		// An exact scan of an ASCII text: a failregex it lets through
		// holds its literals, and only its sets are left to prefilter.
		found, exact = m.lits.Mask(text)
	}
	if len(m.fail) > 64 { // no bit each: no lead, no gate's index
		for i := range m.fail {
			if s.tries(g, i) && s.tryFail(m, i, text, ev, found, exact, j) {
				return
			}
		}
		return
	}
	// The failregexes left, in order: the first byte and the gate leave
	// one or two of sshd's fifteen, and the loop visits those alone.
	for cands &= ^uint64(0) >> (64 - len(m.fail)); cands != 0; cands &= cands - 1 {
		i := bits.TrailingZeros64(cands)
		if (indexed || s.tries(g, i)) && s.tryFail(m, i, text, ev, found, exact, j) {
			return
		}
	}
}

// tryFail tries failregex i on text (found and exact are what the
// literal scan said, see matchFail) and reports whether it matched with
// an address: then j holds the hit.
func (s *Set) tryFail(m *nativeMatcher, i int, text string, ev *pipeline.Event, found uint64, exact bool, j *judgement) bool {
	f := m.fail[i]
	if m.need != nil && found&m.need[i] != m.need[i] {
		return false
	}
	if exact && !f.PrefilterSets(text) || !exact && !f.Prefilter(text) || !f.needs.May(text) {
		return false
	}
	if need := 2 * len(f.Names); cap(s.sub) < need {
		s.sub = make([]int, need)
	}
	sub := f.SubmatchPrefiltered(text, s.sub[:cap(s.sub)])
	if sub == nil {
		return false
	}
	addr := ev.Addr // a failregex without <HOST>: the parser's client
	if f.host >= 0 {
		hs, he := sub[2*f.host], sub[2*f.host+1]
		if hs < 0 {
			return false
		}
		a, ok := pipeline.ParseAddr(text[hs:he])
		if !ok {
			j.verdict, j.regex = BadAddress, i
			return false
		}
		addr = a
	}
	for k, name := range f.Names {
		if name == "" || name == "host" || sub[2*k] < 0 {
			continue
		}
		val := text[sub[2*k]:sub[2*k+1]]
		s.capture(name, val)
		if name == "times" {
			j.weight = times(val)
		}
	}
	j.verdict, j.target, j.pair, j.open, j.close, j.regex = Hit, addr, f.pair, f.open, f.close, i
	return true
}

// maxTimes bounds the attempts one line may stand for: rsyslog's
// repeat count is sshd's, but a number that large would only say the
// threshold was passed, which a much smaller one says too.
const maxTimes = 1000

// times reads an <F-TIMES> capture ("message repeated 5 times"): that many
// attempts, at least one.
func times(s string) int {
	n := 0
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 1
		}
		if n = n*10 + int(c-'0'); n >= maxTimes {
			return maxTimes
		}
	}
	return max(1, n)
}

func (m *nativeMatcher) regexes() (fail, ignore []*regex.Regex, pref *regex.Regex) {
	for _, f := range m.fail {
		fail = append(fail, &f.Regex)
	}
	return fail, m.ignore, nil
}
