package rules

import "github.com/stockade-ids/stockade/pipeline"

var (
	_ pipeline.SequentialMatcher = (*Set)(nil)
	_ pipeline.Deferrer          = (*Set)(nil)
)

// ConcurrentApart implements pipeline.SequentialMatcher: Concurrent, but
// for the rules that keep state between lines (the fail2ban dialect's,
// the strongswan pack's joining of an SA's lines), which judge in order
// the events they may see (see Sequential), and the rules whose
// predicates count distinct values (web-wp-scan, port-scan), which judge
// in order the events whose regex they matched (see Deferred).
func (s *Set) ConcurrentApart(formats []pipeline.Format) bool {
	return s.concurrent(formats, true)
}

// Sequential implements pipeline.SequentialMatcher: whether a rule that
// keeps state between lines is among ev's candidates. Only they change
// that state, so the events of no such rule can be judged in any order,
// on any fork.
func (s *Set) Sequential(ev *pipeline.Event) bool {
	for _, r := range s.Candidates(ev) {
		if r.m.stateful() {
			return true
		}
	}
	return false
}
