package rules

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

// budgetSet is a rule that bans at the first invalid user line whose
// predicate holds.
func budgetSet(t *testing.T, when string) *Set {
	t.Helper()
	return mustSet(t, `pack: t
rules:
  - name: r
    formats: [syslog]
    programs: [sshd]
    failregex: ['^Invalid user <F-USER>\S+</F-USER> from <HOST> port \d+$']
    when: '`+when+`'
    threshold: 1
    ban: 1h
`)
}

// unbannedBy is how many lines rule r of s counted for reason.
func unbannedBy(s *Set, reason string) uint64 {
	for _, u := range s.Unbanned() {
		if u.Rule == "r" && u.Reason == reason {
			return u.Lines
		}
	}
	return 0
}

// TestPredicateBudget: a predicate over attacker text cannot make a line
// cost gigabytes or seconds. repeat(user, 200000) with a 1,000-byte user
// name allocated 200 MB a line (1.6 GB with 8 KB); a range of 100,000 ran
// 100,000 iterations; concatenating in a reduce grew without bound. Each
// is now over the budget: the predicate fails, the line is no hit, and it
// is counted with a bounded reason. A predicate within the budget is
// unchanged.
func TestPredicateBudget(t *testing.T) {
	user := strings.Repeat("a", 1000)
	line := sshLine(0, "Invalid user "+user+" from 203.0.113.9 port 22")
	for _, when := range []string{
		`repeat(user, 200000) != ""`,
		`len(map(1..100000, user)) > 0`,
		`len(reduce(1..500, #acc + user + user, "")) > 0`,
		`len(join(split(user, ""), user)) > 0`,
		`len(replace(user, "a", user)) > 0`,
		`len(` + strings.Repeat("toJSON(", 8) + `split(user, "")` + strings.Repeat(")", 8) + `) > 0`,
	} {
		t.Run(when, func(t *testing.T) {
			s := budgetSet(t, when)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			hits := s.Match(line, nil)
			took := time.Since(start)
			runtime.ReadMemStats(&after)
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
				t.Errorf("one line allocated %d MB", alloc>>20)
			}
			if took > 200*time.Millisecond {
				t.Errorf("one line took %v", took)
			}
			if len(hits) != 0 {
				t.Errorf("a predicate over its budget held: %+v", hits)
			}
			if n := unbannedBy(s, ReasonPredicateBudget); n != 1 {
				t.Errorf("lines counted over the budget: %d, want 1 (%+v)", n, s.Unbanned())
			}
		})
	}

	// Within the budget: as before.
	s := budgetSet(t, `len(repeat(user, 10)) == 10000 && len(map(1..100, #)) == 100 && upper(user) + "x" != ""`)
	if hits := s.Match(line, nil); len(hits) != 1 {
		t.Errorf("a predicate within its budget did not hold: %+v %+v", hits, s.Unbanned())
	}
}

// TestPredicateDivisionByZero: expr divides by zero into an infinity (or
// NaN), and +Inf > 1 is true: a predicate dividing by a count that is 0
// held for every line. Division by zero now fails the predicate, which is
// counted; a key dividing by zero fails likewise.
func TestPredicateDivisionByZero(t *testing.T) {
	line := sshLine(0, "Invalid user admin from 203.0.113.9 port 22")
	for _, when := range []string{
		`len(user) / (len(user) - 5) > 1`,
		`len(user) / 0.0 > 1`,
		`1.0 * len(user) / (pid - pid) >= 0`,
		`-len(user) / 0 < 0`,
	} {
		t.Run(when, func(t *testing.T) {
			s := budgetSet(t, when)
			if hits := s.Match(line, nil); len(hits) != 0 {
				t.Errorf("a predicate dividing by zero held: %+v", hits)
			}
			if n := unbannedBy(s, ReasonPredicateFailed); n != 1 {
				t.Errorf("lines counted as failed predicates: %d, want 1 (%+v)", n, s.Unbanned())
			}
		})
	}
	// Division that is fine is as before, and types are still checked at
	// load.
	if hits := budgetSet(t, `len(user) / 2 == 2.5`).Match(line, nil); len(hits) != 1 {
		t.Errorf("len(user) / 2 == 2.5 did not hold: %+v", hits)
	}
	if _, err := Parse("f.yaml", []byte("pack: f\nrules:\n  - name: r\n    formats: [nginx]\n    ban: 1h\n    when: 'user / 2 > 1'\n")); err == nil {
		t.Error("a string divided by a number loaded")
	}
	k := mustSet(t, `pack: t
rules:
  - name: r
    formats: [syslog]
    programs: [sshd]
    failregex: ['^Invalid user <F-USER>\S+</F-USER> from <HOST> port \d+$']
    key: 'string(len(user) / (len(user) - 5))'
    threshold: 1
    ban: 1h
`)
	if hits := k.Match(line, nil); len(hits) != 0 {
		t.Errorf("a key dividing by zero gave a hit: %+v", hits)
	}
}
