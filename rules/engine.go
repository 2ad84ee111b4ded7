package rules

import (
	"regexp"
)

// engine runs one translated filter regex. Every engine gives Go's
// leftmost-first (Perl) semantics, so which one runs a regex never changes
// what it matches or captures, only how fast and under which guarantees.
type engine interface {
	// Submatch returns the index pairs of the match and its groups, as
	// regexp.FindStringSubmatchIndex does, or nil. It may reuse dst.
	Submatch(text string, dst []int) []int
	// Match reports whether text matches.
	Match(text string) bool
	// Names are the capture names by group index ("" = unnamed).
	Names() []string
	// Kind names the engine for lint and explain: "re2", "regexp2", ….
	Kind() string
}

// compileEngine compiles a pattern already translated from fail2ban tags to
// named groups, on the fastest engine that takes it.
func compileEngine(pattern string) (engine, error) {
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, err
	}
	return stdEngine{re}, nil
}

// stdEngine is Go's regexp: RE2 syntax, linear time.
type stdEngine struct{ re *regexp.Regexp }

func (e stdEngine) Submatch(text string, _ []int) []int { return e.re.FindStringSubmatchIndex(text) }
func (e stdEngine) Match(text string) bool              { return e.re.MatchString(text) }
func (e stdEngine) Names() []string                     { return e.re.SubexpNames() }
func (e stdEngine) Kind() string                        { return "re2" }
