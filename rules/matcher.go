package rules

import (
	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/rules/regex"
)

// matcher is how a rule reads an event: stockade's own failregexes
// (nativeMatcher) or a fail2ban filter (fail2banMatcher). It finds the
// target and the failregex that matched; Set.judge then runs the rule's
// predicates.
type matcher interface {
	// match judges ev for r into j (its verdict, target, key and the
	// regexes that matched; regex and ignore come in as -1). s holds the
	// matcher's state between lines (Set.state) and scratch buffers.
	match(s *Set, r *Rule, ev *pipeline.Event, j *judgement)
	// regexes are the compiled failregexes, ignoreregexes and prefregex
	// (nil for none), for lint, explain and fault counts.
	regexes() (fail, ignore []*regex.Regex, pref *regex.Regex)
	// stateful reports whether the matcher remembers lines between
	// events, so its events must be judged in order on one goroutine.
	stateful() bool
}

func (m *nativeMatcher) stateful() bool   { return false }
func (m *fail2banMatcher) stateful() bool { return true }

// RegexEngines names the engine each regex of the rule runs on ("re2",
// "regexp2"): failregexes, then ignoreregexes, and the prefregex's ("" for
// none).
func (r *Rule) RegexEngines() (fail, ignore []string, pref string) {
	fr, ir, pr := r.m.regexes()
	for _, f := range fr {
		fail = append(fail, f.Engine.Kind())
	}
	for _, f := range ir {
		ignore = append(ignore, f.Engine.Kind())
	}
	if pr != nil {
		pref = pr.Engine.Kind()
	}
	return fail, ignore, pref
}

// PrefRegex returns the rule's prefregex as written ("" for none).
func (r *Rule) PrefRegex() string {
	if _, _, pr := r.m.regexes(); pr != nil {
		return pr.Src
	}
	return ""
}

// FailRegexes returns the rule's failregexes as written in the pack.
func (r *Rule) FailRegexes() []string {
	fr, _, _ := r.m.regexes()
	out := make([]string, len(fr))
	for i, f := range fr {
		out[i] = f.Src
	}
	return out
}

// IgnoreRegexes returns the rule's ignoreregexes as written in the pack.
func (r *Rule) IgnoreRegexes() []string {
	_, ir, _ := r.m.regexes()
	out := make([]string, len(ir))
	for i, f := range ir {
		out[i] = f.Src
	}
	return out
}

// regexFaults sums the matches the rule's backtracking regexes gave up.
func (r *Rule) regexFaults() uint64 {
	fr, ir, pr := r.m.regexes()
	var n uint64
	for _, f := range fr {
		n += regex.Faults(f.Engine)
	}
	for _, f := range ir {
		n += regex.Faults(f.Engine)
	}
	if pr != nil {
		n += regex.Faults(pr.Engine)
	}
	return n
}
