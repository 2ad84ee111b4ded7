package rules

import (
	"strings"

	"github.com/stockade-ids/stockade/pipeline"
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
	Failure *Failure
}

// Explain judges ev against every rule that can see it, in dispatch order,
// and says why each did or did not match. It has Match's effects on ev
// (captures, the matched address).
func (s *Set) Explain(ev *pipeline.Event, out []RuleVerdict) []RuleVerdict {
	for _, r := range s.Candidates(ev) {
		h, v := s.judge(r, ev)
		rv := RuleVerdict{Rule: r, Verdict: v, Hit: h, Regex: -1, Ignore: -1}
		if r.f2b != nil {
			// The fail2ban judgement is stateful (sessions, line buffer):
			// read what it recorded rather than run the regexes again.
			rv.Regex, rv.Ignore, rv.Failure = s.lastF2B.regex, s.lastF2B.ignore, s.lastF2B.fail
		} else if v != WrongSource && v != RegexMiss && len(r.fail) > 0 {
			text := r.text(ev)
			rv.Regex = r.failIndex(text)
			if v == Ignored {
				rv.Ignore = r.ignoreIndex(text)
			}
		}
		out = append(out, rv)
	}
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

// FailRegexes returns the rule's failregexes as written in the pack.
func (r *Rule) FailRegexes() []string {
	out := make([]string, len(r.fail))
	for i, f := range r.fail {
		out[i] = f.src
	}
	return out
}

// IgnoreRegexes returns the rule's ignoreregexes as written in the pack.
func (r *Rule) IgnoreRegexes() []string {
	out := make([]string, len(r.ignore))
	for i, f := range r.ignore {
		out[i] = f.src
	}
	return out
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

// text is what the rule's regexes read: the message, or the whole line.
func (r *Rule) text(ev *pipeline.Event) string {
	if r.UseLine || ev.Message == "" {
		return ev.Line
	}
	return ev.Message
}

// failIndex mirrors matchFail without touching the event: the first
// failregex that matches with a valid address, else the last that matched
// with text that is not one, else -1.
func (r *Rule) failIndex(text string) int {
	bad := -1
	for i, f := range r.fail {
		if !f.prefilter(text) {
			continue
		}
		m := f.re.Submatch(text, nil)
		if m == nil || m[2*f.host] < 0 {
			continue
		}
		if _, ok := pipeline.ParseAddr(text[m[2*f.host]:m[2*f.host+1]]); ok {
			return i
		}
		bad = i
	}
	return bad
}

func (r *Rule) ignoreIndex(text string) int {
	for i, ig := range r.ignore {
		if ig.prefilter(text) && ig.re.Match(text) {
			return i
		}
	}
	return -1
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
