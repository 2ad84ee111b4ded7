package rules

import "github.com/stockade-ids/stockade/rules/internal/fastre"

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
// named groups, on the fastest engine that takes it: fastre, whose results
// are Go regexp's to the index (it hands to regexp whatever it cannot run
// exactly, and any call that outruns its step budget, so it stays linear).
func compileEngine(pattern string) (engine, error) {
	re, err := fastre.Compile(pattern)
	if err != nil {
		return nil, err
	}
	return fastEngine{re}, nil
}

// fastEngine is RE2 syntax and semantics on fastre.
type fastEngine struct{ re *fastre.Regexp }

func (e fastEngine) Submatch(text string, dst []int) []int {
	return e.re.FindStringSubmatchIndex(text, dst)
}
func (e fastEngine) Match(text string) bool { return e.re.MatchString(text) }
func (e fastEngine) Names() []string        { return e.re.SubexpNames() }
func (e fastEngine) Kind() string           { return "re2" }
