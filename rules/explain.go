package rules

import (
	"strings"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/rules/fail2ban/filter"
)

// RuleVerdict is one rule's judgement of one event and what explains it:
// `stockade explain` prints it, pack tests measure regex coverage with it.
type RuleVerdict struct {
	Rule    *Rule
	Verdict Verdict
	Hit     pipeline.Hit // when Verdict is Hit
	// Regex is the failregex (0-based) that matched the line, whatever
	// happened next (ignored, predicate false); for BadAddress the one whose
	// <HOST> text was not an address; -1 when none did or the rule has none.
	Regex int
	// Ignore is the ignoreregex (0-based) that matched, when Verdict is
	// Ignored; else -1.
	Ignore int
	// Failure is what a fail2ban-dialect rule found (nil for other rules,
	// and when no failregex matched).
	Failure *filter.Failure
}

// Explain judges ev against every rule that can see it, in dispatch order,
// and says why each did or did not match. Like Match, it leaves ev as it
// was: what the rules found is in their hits.
func (s *Set) Explain(ev *pipeline.Event, out []RuleVerdict) []RuleVerdict {
	s.start(ev)
	for _, r := range s.Candidates(ev) {
		// The judgement records which regexes matched: a fail2ban rule's is
		// stateful (sessions, line buffer), so they cannot be run again.
		j := &s.j
		s.judge(r, s.cur, j)
		// A session's Failure lasts until its next line: a verdict is
		// read after later ones are judged (pack tests, explain).
		rv := RuleVerdict{Rule: r, Verdict: j.verdict, Regex: j.regex, Ignore: j.ignore, Failure: j.failure.Clone()}
		if j.verdict == Hit {
			rv.Hit = j.hit(r, s.caps)
		}
		out = append(out, rv)
	}
	s.cur = nil
	return out
}

// Recorder is a Set that keeps, for the last event the engine matched,
// every candidate rule's verdict. Explain and pack tests run a real engine
// over it, so what they report is what the engine judged, judged once.
type Recorder struct {
	*Set
	// Verdicts of the last Match; the caller clears it before
	// Engine.Process, since a duplicate alert is never matched.
	Verdicts []RuleVerdict
}

// NewRecorder wraps s.
func NewRecorder(s *Set) *Recorder { return &Recorder{Set: s} }

// Match implements pipeline.Matcher.
func (r *Recorder) Match(ev *pipeline.Event, hits []pipeline.Hit) []pipeline.Hit {
	start := len(r.Verdicts)
	r.Verdicts = r.Set.Explain(ev, r.Verdicts)
	for _, v := range r.Verdicts[start:] {
		if v.Verdict == Hit {
			hits = append(hits, v.Hit)
		}
	}
	return hits
}

// When returns the rule's `when:` predicate as written ("" for none).
func (r *Rule) When() string {
	if r.when == nil {
		return ""
	}
	return r.when.src
}

// Key returns the rule's `key:` expression as written ("" counts by address).
func (r *Rule) Key() string {
	if r.key == nil {
		return ""
	}
	return r.key.src
}

// Anchored reports whether a regex as written is anchored at both ends, as
// the packs' security rule asks (lint warns otherwise): an unanchored
// pattern lets text an attacker controls, later on the line, pick the
// target.
func Anchored(re string) bool {
	if !strings.HasPrefix(re, "^") || !strings.HasSuffix(re, "$") {
		return false
	}
	// An escaped "\$" is a literal dollar, not an anchor.
	n := 0
	for i := len(re) - 2; i >= 0 && re[i] == '\\'; i-- {
		n++
	}
	return n%2 == 0
}
