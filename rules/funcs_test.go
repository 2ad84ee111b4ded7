package rules

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

var t0 = time.Date(2025, 11, 8, 22, 0, 0, 0, time.UTC)

func mustSet(t testing.TB, src string) *Set {
	t.Helper()
	p, err := Parse("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSet(p)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func sshLine(at time.Duration, msg string) *pipeline.Event {
	return &pipeline.Event{Time: t0.Add(at), Format: pipeline.FormatSyslog, Program: "sshd", Message: msg, Line: msg}
}

func TestHelpersFailAtLoad(t *testing.T) {
	for src, want := range map[string]string{
		`nosuch(addr)`:                 "unknown name nosuch",
		`in_cidr("10.0.0.1", "10/8")`:  "cannot use string as argument",
		`is_private(status)`:           "cannot use int as argument",
		`offenses(addr, 10) > 1`:       "cannot use int as argument",
		`distinct(user, addr) > 2`:     "not enough arguments",
		`failures(addr, "sshd", "1h")`: "expected bool",
	} {
		_, err := Parse("f.yaml", []byte("pack: f\nrules:\n  - name: r\n    formats: [nginx]\n    ban: 1h\n    when: '"+src+"'\n"))
		if err == nil || !strings.Contains(err.Error(), "f.yaml:6:") || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", src, err, want)
		}
	}
}

// TestDistinctUsers: ban an address that tries 3 different user names in
// 10 minutes, whatever the number of attempts per name.
func TestDistinctUsers(t *testing.T) {
	s := mustSet(t, `pack: t
rules:
  - name: spray
    formats: [syslog]
    programs: [sshd]
    failregex: ['^Invalid user <F-USER>\S+</F-USER> from <HOST> port \d+$']
    when: 'distinct(user, addr, "10m") >= 3'
    ban: 1h
`)
	e := pipeline.NewEngine(s, pipeline.Config{Origin: "t"})
	var ds []pipeline.Decision
	for i, u := range []string{"admin", "admin", "admin", "oracle", "oracle", "test"} {
		ds = append(ds, e.Process(sshLine(time.Duration(i)*time.Second, "Invalid user "+u+" from 203.0.113.9 port 22"))...)
	}
	if len(ds) != 1 || ds[0].At != t0.Add(5*time.Second) {
		t.Fatalf("decisions %+v", ds)
	}
}

// TestDistinctIsCounted: matching only reads the engine's state: what
// distinct() saw is recorded by the engine after Match, so a Match alone
// (explain's, a test's) leaves no trace, and several calls on one line
// see one another as they would if each had recorded at once: the second
// call of a predicate counts the first's value, and a second rule the
// first rule's.
func TestDistinctIsCounted(t *testing.T) {
	s := mustSet(t, `pack: t
rules:
  - name: twice
    formats: [syslog]
    programs: [sshd]
    failregex: ['^Invalid user <F-USER>\S+</F-USER> from <HOST> port \d+$']
    when: 'distinct(user, addr, "10m") + distinct(user + "-again", addr, "10m") >= 4'
    ban: 1h
  - name: after
    formats: [syslog]
    programs: [sshd]
    failregex: ['^Invalid user <F-USER>\S+</F-USER> from <HOST> port \d+$']
    when: 'distinct("x", addr, "10m") >= 4'
    ban: 2h
`)
	e := pipeline.NewEngine(s, pipeline.Config{Origin: "t"})
	key := "t\x00203.0.113.9"
	ev := sshLine(0, "Invalid user admin from 203.0.113.9 port 22")
	if hits := s.Match(ev, nil); len(hits) != 0 {
		t.Fatalf("one user: hits %+v", hits)
	}
	if n := e.Distinct(key, "probe", time.Hour, nil); n != 1 {
		t.Fatalf("a Match alone recorded %d values, want none (1 is the probe)", n-1)
	}
	// admin, admin-again: 2 (twice: 1+2 = 3 < 4); x: 3 (after: < 4).
	if ds := e.Process(sshLine(time.Second, "Invalid user admin from 203.0.113.9 port 22")); len(ds) != 0 {
		t.Fatalf("first line: %+v", ds)
	}
	if n := e.Distinct(key, "x", time.Hour, nil); n != 3 {
		t.Fatalf("after one line the engine holds %d values, want 3 (admin, admin-again, x)", n)
	}
	// root: 4, root-again: 5 (twice: 4+5 >= 4 bans); x again: 5 (after: bans).
	ds := e.Process(sshLine(2*time.Second, "Invalid user root from 203.0.113.9 port 22"))
	if len(ds) != 2 || ds[0].Rule != "twice" || ds[1].Rule != "after" {
		t.Fatalf("second line: %+v", ds)
	}
}

// TestOffensesAndBanned: a rule that only bans returning offenders, and a
// predicate that skips addresses already banned.
func TestOffensesAndBanned(t *testing.T) {
	s := mustSet(t, `pack: t
rules:
  - name: first
    formats: [syslog]
    programs: [sshd]
    failregex: ['^Failed password for \S+ from <HOST> port \d+ ssh2$']
    when: '!banned(addr)'
    ban: 10m
    escalate: false
  - name: returning
    formats: [syslog]
    programs: [sshd]
    failregex: ['^Failed password for \S+ from <HOST> port \d+ ssh2$']
    when: 'offenses(addr, "1d") >= 2 && in_cidr(addr, "203.0.113.0/24") && !is_private(addr)'
    key: prefix(addr, 24)
    ban: 1w
`)
	e := pipeline.NewEngine(s, pipeline.Config{Origin: "t"})
	line := func(at time.Duration) []pipeline.Decision {
		return e.Process(sshLine(at, "Failed password for root from 203.0.113.9 port 22 ssh2"))
	}
	var rules []string
	for _, at := range []time.Duration{0, time.Minute, 11 * time.Minute, 12 * time.Minute, 25 * time.Minute} {
		for _, d := range line(at) {
			rules = append(rules, fmt.Sprintf("%s@%v", d.Rule, d.At.Sub(t0)))
		}
	}
	// 0: first ban. 1m: banned, "first" skips it. 11m: ban ran out, second
	// offense. 12m: two offenses in a day: "returning" (a week). 25m: banned.
	want := "first@0s first@11m0s returning@12m0s"
	if got := strings.Join(rules, " "); got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

// TestFleetScenario: an address banned by three different rules escalates
// as configured; a /24 with many banned members becomes a range ban.
func TestFleetScenario(t *testing.T) {
	s := mustSet(t, `pack: fleet
rules:
  - name: ssh
    formats: [syslog]
    programs: [sshd]
    failregex: ['^Failed password for \S+ from <HOST> port \d+ ssh2$']
    ban: 10m
    escalate: {multipliers: [1, 3, 12]}
  - name: web
    formats: [nginx]
    when: status == 404
    ban: 10m
    escalate: {formula: 'ban * offense * offense', max: 1h}
  - name: ids
    formats: [eve]
    when: priority == 1
    ban: 10m
    escalate: {factor: 2, per_rule: true}
  - name: subnet
    description: a /24 full of attackers
    range: {v4: 24, v6: 64}
    threshold: 4
    window: 1h
    ban: 1d
`)
	e := pipeline.NewEngine(s, pipeline.Config{Origin: "t", Allow: []netipPrefix{mustPrefix("198.51.100.77/32")}})
	a := mustAddr("203.0.113.9")
	var got []pipeline.Decision
	// Three offenses of one address, from three rules, each after the last ran out.
	got = append(got, e.Process(sshLine(0, "Failed password for root from 203.0.113.9 port 22 ssh2"))...)
	got = append(got, e.Process(&pipeline.Event{Time: t0.Add(time.Hour), Format: pipeline.FormatNginx, Addr: a, Status: 404})...)
	got = append(got, e.Process(&pipeline.Event{Time: t0.Add(3 * time.Hour), Format: pipeline.FormatEve, Addr: a, Priority: 1})...)
	got = append(got, e.Process(sshLine(5*time.Hour, "Failed password for root from 203.0.113.9 port 22 ssh2"))...)
	want := []struct {
		rule     string
		offense  int
		duration time.Duration
	}{
		{"ssh", 1, 10 * time.Minute},
		{"web", 2, 40 * time.Minute},  // 10m × 2 × 2, under the 1h cap
		{"ids", 3, 10 * time.Minute},  // per_rule: the first ids ban
		{"ssh", 4, 120 * time.Minute}, // multipliers: the 4th ban takes the last, ×12
	}
	if len(got) != len(want) {
		t.Fatalf("decisions %+v", got)
	}
	for i, w := range want {
		if got[i].Rule != w.rule || got[i].Offense != w.offense || got[i].Duration != int64(w.duration/time.Second) {
			t.Errorf("ban %d: %s offense %d for %ds, want %s %d %v", i+1, got[i].Rule, got[i].Offense, got[i].Duration, w.rule, w.offense, w.duration)
		}
	}

	// Four members of 198.51.100.0/24 banned within the hour: the /24 is
	// banned... unless it holds an allowlisted address, as this one does.
	// 192.0.2.0/24 does not.
	var ranges []string
	for i := range 4 {
		for _, net := range []string{"198.51.100", "192.0.2"} {
			for _, d := range e.Process(sshLine(6*time.Hour+time.Duration(i)*time.Minute, fmt.Sprintf("Failed password for root from %s.%d port 22 ssh2", net, 10+i))) {
				if d.Scope == pipeline.ScopeRange {
					ranges = append(ranges, d.Target.String()+" "+d.Rule)
				}
			}
		}
	}
	if len(ranges) != 1 || ranges[0] != "192.0.2.0/24 subnet" {
		t.Fatalf("range bans %v", ranges)
	}
	// A further member of the banned range is covered: no new decision.
	if ds := e.Process(sshLine(6*time.Hour+10*time.Minute, "Failed password for root from 192.0.2.99 port 22 ssh2")); len(ds) != 0 {
		t.Fatalf("member of a banned range banned again: %+v", ds)
	}
}

type netipPrefix = netip.Prefix

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }
