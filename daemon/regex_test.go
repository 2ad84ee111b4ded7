package daemon

import (
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/rules"
)

// Two packs of a user's regexes that backtracking engines take
// exponential time on: nested and overlapping repetitions (RE2, through
// fastre), and, in the fail2ban dialect, a back reference with a
// lookahead, which only regexp2 runs.
const evilRE2 = `pack: evil-re2
rules:
  - name: evil-re2
    formats: [syslog]
    programs: [evil]
    failregex:
      - '^(a+)+b <HOST>$'
      - '^(a|aa)*b <HOST>$'
      - '^(.*a){25}x <HOST>$'
      - '^(?:a*)*(?:b*)*c <HOST>$'
    threshold: 1
    ban: 1m
`

const evilBacktrack = `pack: evil-backtrack
rules:
  - name: evil-backtrack
    dialect: fail2ban
    formats: [syslog]
    programs: [evil]
    failregex:
      - '(\w+\s?)*(?=x)\1 <HOST>$'
    threshold: 1
    ban: 1m
`

// TestPathologicalRegex measures what one hostile line costs a pack of
// pathological regexes, with the pack loaded from disk as the daemon loads
// it: on RE2 (and fastre, whose step budget hands a runaway match to RE2)
// the cost grows with the line, not exponentially, and on regexp2 a match
// gives up at its timeout and is counted. Then a daemon with that pack
// still bans an sshd attacker right behind a burst of such lines.
func TestPathologicalRegex(t *testing.T) {
	if raceEnabled {
		t.Skip("times regex matching, which the race detector slows some tenfold")
	}
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(text), 0o644)
		return p
	}
	re2, backtrack := write("evil-re2.yaml", evilRE2), write("evil-backtrack.yaml", evilBacktrack)
	hostile := func(n int, tail string) *pipeline.Event {
		msg := strings.Repeat("a", n) + tail
		return &pipeline.Event{Time: time.Now(), Format: pipeline.FormatSyslog, Program: "evil", Host: "web1",
			Message: msg, Line: "2025-11-08T22:00:01+00:00 web1 evil[1]: " + msg, Source: "test"}
	}
	// cost is what one line costs the packs at path, loaded as the daemon
	// loads them: the fastest of runs, the cost of the work itself rather
	// than of what else the machine did meanwhile (a CI machine running
	// other tests preempts any one run; it cannot make one faster).
	cost := func(path string, ev *pipeline.Event, runs int) (time.Duration, *rules.Set) {
		set, err := loadRules([]string{path}, rules.Selection{})
		if err != nil {
			t.Fatal(err)
		}
		eng := pipeline.NewEngine(set, pipeline.Config{Origin: "test"})
		best := time.Duration(math.MaxInt64)
		for range runs {
			start := time.Now()
			eng.Process(ev)
			best = min(best, time.Since(start))
		}
		return best, set
	}
	// Lines up to MaxLine that almost match: the worst case for
	// backtracking. On RE2 the cost per byte stays flat as the line grows
	// (linear, where a backtracker's would explode), however large the
	// constant that the repetitions give it.
	perByte := map[int]time.Duration{}
	for _, n := range []int{1 << 10, 16 << 10, 60 << 10} {
		var c time.Duration
		// Tails that get each pattern to its last byte before it fails.
		for _, tail := range []string{"b 203.0.113.5!", "x 203.0.113.5!", "c 203.0.113.5!", "!"} {
			ct, _ := cost(re2, hostile(n, tail), 5)
			c = max(c, ct)
		}
		perByte[n] = c / time.Duration(n)
		t.Logf("RE2: a %d-byte hostile line costs %v (%v a byte)", n, c.Round(time.Microsecond), perByte[n])
		if c > time.Second {
			t.Errorf("RE2: a %d-byte line cost %v", n, c)
		}
	}
	if perByte[60<<10] > 3*perByte[1<<10]+time.Microsecond {
		t.Errorf("RE2: the cost a byte grew from %v to %v with the line: not linear", perByte[1<<10], perByte[60<<10])
	}
	// regexp2 gives up at its timeout (100ms, checked on a coarse clock:
	// up to about twice that), and the line is counted as uncounted.
	for _, n := range []int{40, 60 << 10} {
		c, set := cost(backtrack, hostile(n, "!"), 3)
		t.Logf("regexp2: a %d-byte hostile line costs %v", n, c.Round(time.Millisecond))
		if c > 600*time.Millisecond { // 200ms, and room for a busy machine
			t.Errorf("regexp2: a %d-byte line cost %v: the match timeout does not hold", n, c)
		}
		uncounted := uint64(0)
		for _, u := range set.Unbanned() {
			uncounted += u.Lines
		}
		if uncounted != 3 {
			t.Errorf("regexp2: %d lines given up counted, want 3", uncounted)
		}
	}

	// The daemon with those packs keeps moving: 20 hostile lines (some four
	// seconds of regexp2 timeouts), then an sshd attacker, who is banned.
	h := newHarness(t)
	cfg := fileConfig(h)
	cfg.Rules = []string{h.rules, re2, backtrack}
	l := startLive(t, cfg, nil)
	var b strings.Builder
	for range 20 {
		b.WriteString(time.Now().UTC().Format("2006-01-02T15:04:05.000000-07:00") + " web1 evil[1]: " + strings.Repeat("a", 60<<10) + "!\n")
	}
	for i := range 5 {
		b.WriteString(sshdLine(time.Now(), "203.0.113.50", i))
	}
	start := time.Now()
	appendFile(t, h.log, b.String())
	waitFor(t, 30*time.Second, "the sshd ban behind the hostile lines", func() bool { return h.bans("203.0.113.50") == 1 })
	t.Logf("20 hostile lines and 5 sshd lines judged in %v", time.Since(start).Round(time.Millisecond))
	// client_golang writes labels sorted by name: reason comes before rule.
	if m := l.metrics(); !regexp.MustCompile(`(?m)^stockade_rule_uncounted_lines_total\{[^}]*rule="evil-backtrack"`).MatchString(m) {
		t.Error("the daemon does not report the regex that gave up")
	}
}
