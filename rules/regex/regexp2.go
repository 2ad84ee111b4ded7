package regex

import (
	"sync/atomic"
	"time"

	"github.com/dlclark/regexp2/v2"
)

// regexp2Timeout bounds one match of a backtracking regex: a pathological
// fail2ban pattern on a hostile line costs at most this, and the line then
// counts as a miss (see Faults).
const regexp2Timeout = 100 * time.Millisecond

// regexp2Engine runs the Python patterns RE2 cannot express exactly
// (lookarounds, conditionals, back references, Unicode \b, $ in a
// multi-line buffer) on github.com/dlclark/regexp2, a backtracking engine
// with Perl semantics: leftmost-first like Go's regexp and Python's re, so
// what it matches and captures is what Python would. Unlike RE2 it is not
// linear: a hostile line can hold a match for regexp2Timeout (about twice
// that in practice, as regexp2 reads a coarse clock: docs/reliability.md),
// which is why lint names every regex that runs here.
type regexp2Engine struct {
	re     *regexp2.Regexp
	ncap   int // groups, the whole match included
	faults atomic.Uint64
}

// CompileRegexp2 compiles a pattern in .NET syntax with ncap groups (the
// whole match included) on regexp2.
func CompileRegexp2(pattern string, ncap int) (Engine, error) {
	// Capture order maintained: groups are numbered left to right as in
	// Python (.NET would number the named ones last).
	re, err := regexp2.Compile(pattern, regexp2.OptionMaintainCaptureOrder())
	if err != nil {
		return nil, err
	}
	re.MatchTimeout = regexp2Timeout
	return &regexp2Engine{re: re, ncap: ncap}, nil
}

func (e *regexp2Engine) Submatch(text string, dst []int) []int {
	m, err := e.re.FindStringMatch(text)
	if err != nil {
		e.faults.Add(1)
		return nil
	}
	if m == nil {
		return nil
	}
	if cap(dst) < 2*e.ncap {
		dst = make([]int, 2*e.ncap)
	}
	dst = dst[:2*e.ncap]
	for i := 0; i < e.ncap; i++ {
		g := m.GroupByNumber(i)
		if g == nil || len(g.Captures) == 0 {
			dst[2*i], dst[2*i+1] = -1, -1
			continue
		}
		start, n := g.ByteRange()
		dst[2*i], dst[2*i+1] = start, start+n
	}
	return dst
}

func (e *regexp2Engine) Match(text string) bool {
	ok, err := e.re.MatchString(text)
	if err != nil {
		e.faults.Add(1)
		return false
	}
	return ok
}

// Names are the caller's to supply (see pyre): unnamed here.
func (e *regexp2Engine) Names() []string { return make([]string, e.ncap) }
func (e *regexp2Engine) Kind() string    { return "regexp2" }

// Faults counts the matches given up: timeouts and backtracking limits.
func (e *regexp2Engine) Faults() uint64 { return e.faults.Load() }
