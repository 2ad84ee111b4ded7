package rules

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/internal/gen"
	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/sources/syslog"
)

// crowdedSet is the default packs and n rules of syslog for any program,
// each with a literal of its own (a hub's worth of custom rules).
func crowdedSet(t testing.TB, n int) *Set {
	t.Helper()
	packs, err := DefaultPacks()
	if err != nil {
		t.Fatal(err)
	}
	if n > 0 {
		var b strings.Builder
		b.WriteString("pack: many\nrules:\n")
		words := []string{"denied", "refused", "rejected", "blocked", "invalid"}
		for i := range n {
			fmt.Fprintf(&b, "  - name: many%d\n    formats: [syslog]\n    failregex:\n      - '^login %s for <F-USER>\\S+</F-USER> from <HOST> tag%dx$'\n    ban: 1h\n",
				i, words[i%len(words)], i)
		}
		p, err := Parse("many.yaml", []byte(b.String()))
		if err != nil {
			t.Fatal(err)
		}
		packs = append(packs, p)
	}
	s, err := NewSet(packs...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// crowdedLines are an auth.log's, and one line of the five hundredth rule.
var crowdedLines = []pipeline.Event{
	syslogEvent("sshd", "Failed password for root from 203.0.113.9 port 22 ssh2"),
	syslogEvent("CRON", "pam_unix(cron:session): session opened for user root by (uid=0)"),
	syslogEvent("sshd", "pam_unix(sshd:session): session closed for user deploy"),
	syslogEvent("sudo", "deploy : TTY=pts/0 ; PWD=/home/deploy ; USER=root ; COMMAND=/usr/bin/true"),
	syslogEvent("app", "login invalid for bob from 198.51.100.7 tag499x"),
}

// BenchmarkMatchCrowded: auth.log lines under the default packs and 500
// rules of syslog for any program.
func BenchmarkMatchCrowded(b *testing.B) {
	s := crowdedSet(b, 500)
	var hits []pipeline.Hit
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		ev := &crowdedLines[n%len(crowdedLines)]
		n++
		clear(ev.Captures)
		hits = s.Match(ev, hits[:0])
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

// TestCrowdedRulesHit: among 500 rules for any program, each line is
// judged by the rules it concerns and no other: the last rule's line
// hits it, auth.log's lines hit what they hit under the default packs.
func TestCrowdedRulesHit(t *testing.T) {
	plain, crowded := crowdedSet(t, 0), crowdedSet(t, 500)
	for i := range crowdedLines {
		a, b := crowdedLines[i], crowdedLines[i]
		want := hitNames(plain.Match(&a, nil))
		got := hitNames(crowded.Match(&b, nil))
		if i == len(crowdedLines)-1 {
			want = append(want, "many499")
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%q: hits %v, want %v", crowdedLines[i].Line, got, want)
		}
	}
}

// TestBigPlanSameAsWalk: Match by a long list's bigPlan (its rules
// reached by the literals the line holds) hits what Match hits walking
// each rule's gate, under the default packs and 500 rules of syslog for
// any program, over the bench's generated auth.log, lines of the many
// rules, and each in upper case and with a byte past ASCII (a text the
// scan cannot read for its literals).
func TestBigPlanSameAsWalk(t *testing.T) {
	var buf bytes.Buffer
	if err := gen.AuthLog(&buf, gen.Spec{Lines: 4000, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	words := []string{"denied", "refused", "rejected", "blocked", "invalid"}
	for i := range 500 {
		lines = append(lines, fmt.Sprintf("Nov  1 00:00:00 web1 app%d[1]: login %s for u%d from 198.51.100.%d tag%dx", i, words[i%len(words)], i, i%250+1, i),
			fmt.Sprintf("Nov  1 00:00:00 web1 app[1]: login %s for u from 198.51.100.1 tag%dx", words[(i+1)%len(words)], i))
	}
	planned, walked := crowdedSet(t, 500), crowdedSet(t, 500)
	walked.bigPlans = nil
	if len(planned.bigPlans) == 0 {
		t.Fatal("no list has a bigPlan")
	}
	p := syslog.New(time.Date(2025, 11, 1, 0, 0, 0, 0, time.UTC), time.UTC)
	var hits, judged, big int
	for _, l := range lines {
		for _, line := range []string{l, strings.ToUpper(l), l + " é"} {
			var ev pipeline.Event
			if p.Parse([]byte(line), &ev) != nil {
				continue
			}
			if planned.bigPlanFor(planned.Candidates(&ev)) != nil {
				big++
			}
			e1, e2 := ev, ev
			got, want := hitNames(planned.Match(&e1, nil)), hitNames(walked.Match(&e2, nil))
			if !slices.Equal(got, want) {
				t.Fatalf("%s\n  by the bigPlan hits %v, walked %v", line, got, want)
			}
			hits += len(got)
			judged++
		}
	}
	t.Logf("%d lines, %d by a bigPlan, %d hits", judged, big, hits)
	if hits == 0 || big == 0 {
		t.Fatalf("%d lines, %d by a bigPlan, %d hits: the test shows nothing", judged, big, hits)
	}
}
