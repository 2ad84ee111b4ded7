package rules

import (
	"strings"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

func TestGlobMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, name string
		want          bool
	}{
		{"postfix-*/smtpd", "postfix-in/smtpd", true},
		{"postfix-*/smtpd", "postfix-in.2_b/smtpd", true},
		{"postfix-*/*/smtpd", "postfix-out/submission/smtpd", true},
		{"postfix/*/smtpd", "postfix/submission/smtpd", true},
		{"auth-worker(*)", "auth-worker(22401)", true},
		{"postfix-*-in/smtpd", "postfix-a-b-in/smtpd", true}, // a '*' before a name byte backtracks
		{"postfix-*-in/smtpd", "postfix-a-b-out/smtpd", false},
		{"postfix-*-in/smtpd", "postfix--in/smtpd", false},

		{"postfix-*/smtpd", "postfix-/smtpd", false},                                // '*' is one byte or more
		{"postfix-*/smtpd", "postfix-a/b/smtpd", false},                             // never a '/'
		{"postfix/*/smtpd", "postfix/smtpd", false},                                 // nor nothing
		{"postfix-*/smtpd", "postfix-in/smtpdx", false},                             // the whole name
		{"postfix-*/smtpd", "evil-postfix-in/smtpd", false},                         // from its start
		{"postfix-*/smtpd", "postfixx/smtpd", false},                                // the separator is literal
		{"auth-worker(*)", "auth-worker(1)(2)", false},                              // never a parenthesis
		{"auth-worker(*)", "auth-worker(1) x", false},                               // nor a space
		{"auth-worker(*)", "auth-worker([1])", false},                               // nor a bracket
		{"postfix-*/*/smtpd", "postfix-a/b/c/smtpd", false},                         // one segment per '*'
		{"postfix-*/smtpd", "postfix-in:x/smtpd", false},                            // ':' is no name byte
		{"postfix-*/smtpd", "postfix-" + strings.Repeat("a", 200) + "/smtpd", true}, // globMatch alone; dispatch bounds the length
	} {
		if got := globMatch(tc.pattern, tc.name); got != tc.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tc.pattern, tc.name, got, tc.want)
		}
	}
}

func TestCheckProgram(t *testing.T) {
	for _, tc := range []struct {
		program string
		ok      bool
	}{
		{"postfix/smtpd", true},
		{"postfix-*/smtpd", true},
		{"postfix/*/smtpd", true},
		{"auth-worker(*)", true},
		{"sshd", true},
		{"*", false},
		{"*/smtpd", false},
		{"postfix*/smtpd", false},
		{"postfix-**/smtpd", false},
		{"-*/smtpd", false},
		{"post fix", false},
		{"postfix-*/" + strings.Repeat("a", maxGlobbedProgram), false},
	} {
		if why := checkProgram(tc.program); (why == "") != tc.ok {
			t.Errorf("checkProgram(%q) = %q, want ok %v", tc.program, why, tc.ok)
		}
	}
}

// TestParseRefusesBadProgramGlob: a glob that would reach programs of other
// names is refused at load, with its position.
func TestParseRefusesBadProgramGlob(t *testing.T) {
	src := `pack: p
rules:
  - name: a
    formats: [syslog]
    programs: [postfix/smtpd, 'postfix*/smtpd', '*']
    failregex: ['^x <HOST>$']
    ban: 1h
`
	_, err := Parse("p.yaml", []byte(src))
	if err == nil {
		t.Fatal("loaded")
	}
	for _, w := range []string{`p.yaml:5:31: program "postfix*/smtpd"`, `p.yaml:5:49: program "*"`} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("missing %q in:\n%v", w, err)
		}
	}
}

// TestProgramGlobDispatch: a program reaches the rules whose exact names or
// globs it matches, each once and in load order, and the rules for any
// program; a near miss reaches only the latter.
func TestProgramGlobDispatch(t *testing.T) {
	src := `pack: p
rules:
  - name: exact
    formats: [syslog]
    programs: [postfix/smtpd, postfix-in/smtpd]
    failregex: ['^x <HOST>$']
    ban: 1h
  - name: instances
    formats: [syslog]
    programs: ['postfix-*/smtpd', 'postfix-*/*/smtpd', 'postfix-in/smtpd']
    failregex: ['^x <HOST>$']
    ban: 1h
  - name: services
    formats: [syslog]
    programs: ['postfix-*/*/smtpd', 'postfix/*/smtpd']
    failregex: ['^x <HOST>$']
    ban: 1h
  - name: any
    formats: [syslog]
    failregex: ['^y <HOST>$']
    ban: 1h
  - name: worker
    formats: [syslog]
    programs: ['auth-worker(*)']
    failregex: ['^x <HOST>$']
    ban: 1h
  - name: dash
    formats: [syslog]
    programs: ['postfix-*-x/smtpd']
    failregex: ['^x <HOST>$']
    ban: 1h
`
	p, err := Parse("p.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSet(p)
	if err != nil {
		t.Fatal(err)
	}
	// Twice: the second pass meets what Candidates remembered of the
	// first (see progMemo).
	cases := []struct{ program, want string }{
		{"postfix/smtpd", "exact any"},
		{"postfix-in/smtpd", "exact instances any"},
		{"postfix-out/smtpd", "instances any"},
		{"postfix-out/submission/smtpd", "instances services any"},
		{"postfix/submission/smtpd", "services any"},
		{"auth-worker(22401)", "any worker"},
		{"postfix-a-x/smtpd", "instances any dash"}, // two globs
		{"postfix-a-x/smtpd", "instances any dash"}, // again, from the scratch
		{"postfixx/smtpd", "any"},
		{"evil-postfix/smtpd", "any"},
		{"postfix-/smtpd", "any"},
		{"postfix-a b/smtpd", "any"},
		{"postfix-" + strings.Repeat("a", maxGlobbedProgram) + "/smtpd", "any"},
		{"auth-worker", "any"},
		{"cron", "any"},
		{"", "any"},
	}
	for _, tc := range append(cases, cases...) {
		for _, set := range []*Set{s, s.Clone()} {
			ev := pipeline.Event{Format: pipeline.FormatSyslog, Program: tc.program, Time: time.Unix(0, 0)}
			var names []string
			for _, r := range set.Candidates(&ev) {
				names = append(names, r.Policy.Name)
			}
			if got := strings.Join(names, " "); got != tc.want {
				t.Errorf("%q: rules %q, want %q", tc.program, got, tc.want)
			}
		}
	}
}

// TestCandidatesNameFromTheBuffer: an event's program is a view of the
// reader's buffer; what Candidates remembers of it must not change when
// the buffer does (the next lines overwrite it).
func TestCandidatesNameFromTheBuffer(t *testing.T) {
	s := defaultSet(t)
	buf := []byte("sshd")
	ev := pipeline.Event{Format: pipeline.FormatSyslog, Program: pipeline.UnsafeString(buf)}
	sshd := len(s.Candidates(&ev))
	// The reader refills its buffer: a name of the same length, first
	// and last bytes (the memo's slot), that no rule names.
	copy(buf, "ssxd")
	other := pipeline.Event{Format: pipeline.FormatSyslog, Program: "ssxd"}
	want := len(s.Clone().Candidates(&other))
	if got := len(s.Candidates(&ev)); got != want || sshd == want {
		t.Fatalf("ssxd after sshd in the same bytes: %d rules, want %d (sshd has %d)", got, want, sshd)
	}
}

// BenchmarkCandidates: an exact name is one map lookup; a program no rule
// names costs the stem lookup more; a glob's program the glob's match.
func BenchmarkCandidates(b *testing.B) {
	packs, err := DefaultPacks()
	if err != nil {
		b.Fatal(err)
	}
	s, err := NewSet(packs...)
	if err != nil {
		b.Fatal(err)
	}
	for _, prog := range []string{"sshd", "CRON", "postfix/smtpd", "postfix-in/submission/smtpd", "postfixx/smtpd"} {
		b.Run(prog, func(b *testing.B) {
			ev := pipeline.Event{Format: pipeline.FormatSyslog, Program: prog}
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				n += len(s.Candidates(&ev))
			}
			b.ReportMetric(float64(n)/float64(b.N), "rules/op")
		})
	}
}
