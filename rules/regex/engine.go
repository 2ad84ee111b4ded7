// Package regex runs the regexes of rule packs: the Engine interface every
// engine implements with Go's leftmost-first (Perl) semantics, the RE2
// engine (fastre, exact to Go's regexp), the backtracking regexp2 engine
// the fail2ban dialect falls back to, and the literal prefilter that turns
// most misses into memchr-speed scans.
package regex

import (
	"regexp/syntax"

	"github.com/stockade-ids/stockade/rules/internal/fastre"
)

// Engine runs one translated regex. Every engine gives Go's leftmost-first
// (Perl) semantics, so which one runs a regex never changes what it
// matches or captures, only how fast and under which guarantees.
type Engine interface {
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

// Compile compiles an RE2 pattern on the fastest engine that takes it:
// fastre, whose results are Go regexp's to the index (it hands to regexp
// whatever it cannot run exactly, and any call that outruns its step
// budget, so it stays linear).
func Compile(pattern string) (Engine, error) {
	re, err := fastre.Compile(pattern)
	if err != nil {
		return nil, err
	}
	return fastEngine{re}, nil
}

// CompileRegex compiles an RE2 pattern as Compile does, with its
// prefilter's literals (see RequiredLiterals), from one parse; src is the
// regex as written in the pack.
func CompileRegex(src, pattern string) (*Regex, error) {
	tree, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil, err
	}
	e := fastEngine{fastre.CompileParsed(pattern, tree)}
	return &Regex{Src: src, Engine: e, Names: e.Names(), Literals: requiredLiterals(tree), Lead: LeadOf(tree)}, nil
}

// fastEngine is RE2 syntax and semantics on fastre.
type fastEngine struct{ re *fastre.Regexp }

func (e fastEngine) Submatch(text string, dst []int) []int {
	return e.re.FindStringSubmatchIndex(text, dst)
}
func (e fastEngine) Match(text string) bool { return e.re.MatchString(text) }
func (e fastEngine) Names() []string        { return e.re.SubexpNames() }
func (e fastEngine) Kind() string           { return "re2" }

// SubmatchPrefiltered is r.Engine.Submatch for a text that r's prefilter
// has just passed (see Prefilter, PrefilterSets and Multi): every one of
// r.Literals is in it, so fastre skips its own scan for the literal it
// requires, a second pass over the line that would find what the
// prefilter found. The result is Submatch's whatever the text holds.
func (r *Regex) SubmatchPrefiltered(text string, dst []int) []int {
	if f, ok := r.Engine.(fastEngine); ok && len(r.Literals) > 0 {
		return f.re.FindStringSubmatchIndexPrefiltered(text, dst)
	}
	return r.Engine.Submatch(text, dst)
}

// Faults reports the matches an engine gave up (its time or backtracking
// limit): regexp2's, 0 for the linear engines.
func Faults(e Engine) uint64 {
	if f, ok := e.(interface{ Faults() uint64 }); ok {
		return f.Faults()
	}
	return 0
}
