package rules

import (
	"slices"

	"github.com/stockade-ids/stockade/pipeline"
)

// seenFormats are the formats of the events that sources of formats
// yield, as the Decoder makes them: a syslog source's web-server lines
// are access events (sources/access.go, liftAccess), and an access log's
// nginx or Apache error lines are plain events (sources/mixed.go), so
// syslog stands for the access format too, and an access log for plain.
func seenFormats(formats []pipeline.Format) []pipeline.Format {
	seen := formats
	add := func(f pipeline.Format) {
		if !slices.Contains(seen, f) {
			if len(seen) == len(formats) {
				seen = slices.Clone(formats)
			}
			seen = append(seen, f)
		}
	}
	if slices.Contains(formats, pipeline.FormatSyslog) {
		add(pipeline.FormatNginx)
	}
	if slices.Contains(seen, pipeline.FormatNginx) {
		add(pipeline.FormatPlain)
	}
	return seen
}

var (
	_ pipeline.SequentialMatcher = (*Set)(nil)
	_ pipeline.Deferrer          = (*Set)(nil)
)

// Stateful implements pipeline.SequentialMatcher: whether a rule that keeps
// state between lines may see an event of sources of formats (nil: of
// any; see seenFormats).
func (s *Set) Stateful(formats []pipeline.Format) bool {
	formats = seenFormats(formats)
	for _, r := range s.rules {
		if r.m.stateful() && (len(formats) == 0 || r.sees(formats)) {
			return true
		}
	}
	return false
}

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
