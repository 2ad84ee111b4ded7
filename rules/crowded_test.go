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
	"github.com/stockade-ids/stockade/sources/nginx"
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

// TestBigPlanTextRewritten: a failregex's capture rewrites the event's
// user ("bob", which the line's scan read and found nothing in); a later
// rule of a long list gated by a literal of the user (its predicate's)
// must still be reached: the scan says nothing of a text rewritten
// since. It fails when the bigPlan does not look again after the
// rewrite, or leaves out the rules whose texts the scan did not read.
func TestBigPlanTextRewritten(t *testing.T) {
	packs, err := DefaultPacks()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("pack: many\nrules:\n")
	for i := range 100 {
		fmt.Fprintf(&b, "  - name: many%d\n    formats: [nginx]\n    when: path contains \"/tag%dx/\"\n    ban: 1h\n", i, i)
	}
	b.WriteString(`  - name: grant
    formats: [nginx]
    failregex:
      - '"GET /grant/<F-USER>[a-z]+</F-USER> HTTP'
    ban: 1h
  - name: admin-user
    formats: [nginx]
    when: user contains "administrator"
    ban: 1h
`)
	p, err := Parse("many.yaml", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	planned, err := NewSet(append(packs, p)...)
	if err != nil {
		t.Fatal(err)
	}
	walked, _ := NewSet(append(packs, p)...)
	walked.bigPlans = nil
	var ev pipeline.Event
	line := `198.51.100.4 - bob [08/Nov/2025:22:00:01 +0100] "GET /grant/administrator HTTP/1.1" 404 153 "-" "curl/8.5.0"`
	if err := nginx.New().Parse([]byte(line), &ev); err != nil {
		t.Fatal(err)
	}
	if planned.bigPlanFor(planned.Candidates(&ev)) == nil {
		t.Fatal("the list has no bigPlan")
	}
	e1, e2 := ev, ev
	got, want := hitNames(planned.Match(&e1, nil)), hitNames(walked.Match(&e2, nil))
	if !slices.Equal(got, want) || !slices.Contains(got, "admin-user") {
		t.Fatalf("by the bigPlan hits %v, walked %v; want admin-user among them", got, want)
	}
}
