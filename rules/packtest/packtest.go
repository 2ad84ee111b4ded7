// Package packtest runs the tests: blocks of rule packs, like promtool's rule
// tests: a pack carries sample log lines and the decisions they must (and
// must not) cause, and `stockade test` (and go test ./rules, for the built-in
// packs) runs them through a real engine over that pack alone. The lines are
// decoded as sources decode them and merged in event time as replay merges
// files.
package packtest

// The format of a tests: block:

//	tests:
//	  - name: five failures ban          # optional (default: #N)
//	    format: syslog                   # optional: else detected from the lines
//	    now: 2025-11-08T23:00:00Z        # optional: the reference of year inference
//	                                     #   (lines without a year); default: when the test runs
//	    tz: UTC                          # optional: zone of zone-less timestamps; default UTC
//	    source: /var/log/auth.log        # optional: the source id `sources:` globs see; default "test"
//	    allow: [192.0.2.0/24]            # optional: the engine's allowlist (nothing else is allowed)
//	    lines: |                         # the log, one line per line (or a list of strings)
//	      2025-11-08T22:00:01+00:00 web1 sshd[1]: Failed password for root from 203.0.113.7 port 22 ssh2
//	      ...
//	    inputs:                          # instead of lines: several logs, merged by event
//	      - {format: fastlog, lines: ...}  #   time as replay merges files (each may set
//	      - {format: eve, lines: ...}      #   format and source)
//	    expect:                          # each must match a distinct ban decision on the
//	      - {target: 203.0.113.7, rule: sshd, offense: 1, duration: 10m, at: 2025-11-08T22:00:05Z}
//	    expect_none:                     # no ban may cover these (an address or a CIDR,
//	      - 198.51.100.9                 #   or {target: ..., rule: ...} for one rule's bans)
//	    expect_count: 1                  # the number of ban decisions, exactly
//
// Every line must parse: a sample that its parser refuses proves nothing, so
// a bad line fails the test (lines the format skips, such as eve records
// that are not alerts, are fine).

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/rules"
)

// Test is one entry of a pack's tests: block.
type Test struct {
	Name     string
	Pos      rules.Pos
	Now      time.Time // zero: when the test runs
	Loc      *time.Location
	Allow    []netip.Prefix
	Enable   []string // rules off by default that the test turns on
	Inputs   []Input
	Expect   []Expectation
	None     []Expectation // bans that must not happen
	Count    int           // ban decisions expected; -1: not checked
	CountPos rules.Pos
}

// Input is one log of a test.
type Input struct {
	Format pipeline.Format // FormatUnknown: detect from the lines
	Source string
	Lines  []Line
	Pos    rules.Pos
}

// Line is one sample line and where it is in the pack.
type Line struct {
	Text string
	Pos  rules.Pos
}

// Expectation describes ban decisions by the fields it gives; zero fields
// match anything.
type Expectation struct {
	Pos      rules.Pos
	Target   netip.Prefix
	Rule     string
	Offense  int
	Duration time.Duration
	At       time.Time
}

// Matches reports whether d is a ban the expectation describes (exactly the
// target, for expect:).
func (x *Expectation) Matches(d *pipeline.Decision) bool {
	if d.Action != pipeline.ActionBan {
		return false
	}
	if x.Target.IsValid() {
		t, err := d.Prefix()
		if err != nil || t != x.Target {
			return false
		}
	}
	return x.fieldsMatch(d)
}

// covers reports whether d bans anything in the expectation's target (for
// expect_none: a CIDR forbids every ban inside it, and any range over it).
func (x *Expectation) covers(d *pipeline.Decision) bool {
	if d.Action != pipeline.ActionBan {
		return false
	}
	if x.Target.IsValid() {
		t, err := d.Prefix()
		if err != nil || !t.Overlaps(x.Target) {
			return false
		}
	}
	return x.fieldsMatch(d)
}

func (x *Expectation) fieldsMatch(d *pipeline.Decision) bool {
	switch {
	case x.Rule != "" && d.Rule != x.Rule:
	case x.Offense != 0 && d.Offense != x.Offense:
	case x.Duration != 0 && time.Duration(d.Duration)*time.Second != x.Duration:
	case !x.At.IsZero() && !d.At.Equal(x.At):
	default:
		return true
	}
	return false
}

func (x *Expectation) String() string {
	var b strings.Builder
	b.WriteString("a ban")
	if x.Target.IsValid() {
		t, _ := pipeline.TargetString(x.Target)
		b.WriteString(" of " + t)
	}
	if x.Rule != "" {
		b.WriteString(" by " + x.Rule)
	}
	var more []string
	if x.Offense != 0 {
		more = append(more, fmt.Sprintf("offense %d", x.Offense))
	}
	if x.Duration != 0 {
		more = append(more, "for "+rules.FormatDuration(x.Duration))
	}
	if !x.At.IsZero() {
		more = append(more, "at "+x.At.Format(time.RFC3339Nano))
	}
	if len(more) > 0 {
		b.WriteString(" (" + strings.Join(more, ", ") + ")")
	}
	return b.String()
}
