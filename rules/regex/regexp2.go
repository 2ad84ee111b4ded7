package rules

import (
	"errors"
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
// what it matches and captures is what Python would.
type regexp2Engine struct {
	re     *regexp2.Regexp
	ncap   int // groups, the whole match included
	faults atomic.Uint64
}

func compileRegexp2(pattern string, ncap int) (*regexp2Engine, error) {
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

// Names are supplied by the pyEngine wrapper; unnamed here.
func (e *regexp2Engine) Names() []string { return make([]string, e.ncap) }
func (e *regexp2Engine) Kind() string    { return "regexp2" }

// Faults counts the matches given up: timeouts and backtracking limits.
func (e *regexp2Engine) Faults() uint64 { return e.faults.Load() }

// pyEngine is an engine compiled from a Python pattern. The pattern handed
// to the engine has unnamed groups; the names are kept here.
type pyEngine struct {
	engine
	names []string
}

func (e pyEngine) Names() []string { return e.names }

// Faults reports the matches the underlying engine gave up (regexp2 only).
func (e pyEngine) Faults() uint64 {
	if f, ok := e.engine.(interface{ Faults() uint64 }); ok {
		return f.Faults()
	}
	return 0
}

// compilePythonEngine compiles a pattern in Python's syntax (fail2ban's
// dialect, tags already expanded). It runs on RE2 through compileEngine
// when the translation is exact, and falls back to regexp2 only when RE2
// cannot express it. singleLine says the text never holds a newline but a
// final one, which makes Python's $ expressible in RE2.
func compilePythonEngine(src string, singleLine bool) (engine, *pyRegex, error) {
	tree, err := parsePython(src)
	if err != nil {
		return nil, nil, err
	}
	re, err := compilePyTree(tree, singleLine)
	return re, tree, err
}

// compilePyTree compiles a parsed Python pattern (see compilePythonEngine).
func compilePyTree(tree *pyRegex, singleLine bool) (engine, error) {
	if pat, perr := tree.printRE2(singleLine); perr == nil {
		if re, cerr := compileEngine(pat); cerr == nil {
			return pyEngine{engine: re, names: tree.names}, nil
		}
		// RE2 refused what Python takes (a size limit): fall through.
	} else {
		var ne errNotExact
		if !errors.As(perr, &ne) {
			return nil, perr
		}
	}
	re, err := compileRegexp2(tree.printNET(), len(tree.names))
	if err != nil {
		return nil, err
	}
	return pyEngine{engine: re, names: tree.names}, nil
}
