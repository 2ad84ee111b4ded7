package rules

import (
	"fmt"
	"regexp/syntax"
	"sort"
	"strings"

	"github.com/stockade-ids/stockade/rules/internal/tags"
)

// failRegex is one compiled filter regex.
type failRegex struct {
	src      string
	re       engine
	host     int      // submatch index of the address, -1 for ignore regexes
	names    []string // capture name per submatch index ("" = unnamed)
	literals []string // must all occur in any matching text: a cheap prefilter, longest first
	anyOf    []litSet // each set must have a member in any matching text (fail2ban dialect)
	pair     bool     // the same process follows this line with another about the same attempt
}

// compileFailRegex translates fail2ban-style tags to RE2 and compiles:
//
//	<HOST> <ADDR> <IP4> <IP6>   the offending address (exactly one, failregex)
//	<F-USER>…</F-USER>          a named capture "user" (any <F-NAME>: "name")
//
// RE2 guarantees linear time, so no pack can stall the pipeline with a
// pathological pattern.
func compileFailRegex(src string, needHost bool) (*failRegex, error) {
	out, nhost, err := tags.Translate(src)
	if err != nil {
		return nil, err
	}
	if needHost && nhost != 1 {
		if nhost == 0 {
			return nil, fmt.Errorf("failregex needs a <HOST> (or <ADDR>, <IP4>, <IP6>) tag")
		}
		return nil, fmt.Errorf("failregex has %d address tags; exactly one is allowed", nhost)
	}
	re, err := compileEngine(out)
	if err != nil {
		return nil, fmt.Errorf("bad regex: %v", unwrapSyntax(err))
	}
	f := &failRegex{src: src, re: re, host: -1, names: re.Names()}
	for i, n := range f.names {
		if n == "host" {
			f.host = i
		}
	}
	f.literals = requiredLiterals(out)
	return f, nil
}

func unwrapSyntax(err error) string {
	// The translated pattern would confuse: name the problem only, the
	// position points at the regex as the user wrote it.
	if se, ok := err.(*syntax.Error); ok {
		return se.Code.String()
	}
	return err.Error()
}

// requiredLiterals returns the case-sensitive literals (3 bytes or more)
// every match must contain, longest first. Checking them with
// strings.Contains before running the regex turns most misses into
// memchr-speed scans; the second literal catches lines that share the first
// with benign ones ("Received disconnect from" … ": Auth fail").
func requiredLiterals(pattern string) []string {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil
	}
	var lits []string
	var walk func(r *syntax.Regexp)
	walk = func(r *syntax.Regexp) {
		switch r.Op {
		case syntax.OpLiteral:
			if r.Flags&syntax.FoldCase == 0 && len(string(r.Rune)) >= 3 {
				lits = append(lits, string(r.Rune))
			}
		case syntax.OpCapture:
			walk(r.Sub[0])
		case syntax.OpConcat:
			for _, s := range r.Sub {
				walk(s)
			}
		case syntax.OpPlus:
			walk(r.Sub[0])
		case syntax.OpRepeat:
			if r.Min >= 1 {
				walk(r.Sub[0])
			}
		}
	}
	walk(re.Simplify())
	sort.SliceStable(lits, func(i, j int) bool { return len(lits[i]) > len(lits[j]) })
	if len(lits) > 3 {
		lits = lits[:3]
	}
	return lits
}

// prefilter reports whether text contains every required literal (and a
// member of every required set).
func (f *failRegex) prefilter(text string) bool {
	for _, l := range f.literals {
		if !strings.Contains(text, l) {
			return false
		}
	}
	for i := range f.anyOf {
		if !f.anyOf[i].in(text) {
			return false
		}
	}
	return true
}
