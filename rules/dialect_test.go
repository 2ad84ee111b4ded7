package rules

import (
	"strings"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/rules/fail2ban/filter"
)

// fail2banSet loads one fail2ban-dialect rule (the fields given after its name)
// with dates read in UTC, "now" 2005-08-14.
func fail2banSet(t testing.TB, fields string) (*Set, *Rule) {
	t.Helper()
	src := "pack: t\nrules:\n  - name: r\n    dialect: fail2ban\n    formats: [syslog]\n    ban: 1m\n" + fields
	p, err := Parse("t.yaml", []byte(src))
	if err != nil {
		t.Fatalf("%v\n%s", err, src)
	}
	s, err := NewSet(p)
	if err != nil {
		t.Fatal(err)
	}
	s.SetDates(func() time.Time { return time.Unix(1124013600, 0) }, time.UTC)
	return s, s.Rules()[0]
}

// judgeLine explains one raw line (no source time, as fail2ban reads it).
func judgeLine(s *Set, line string) RuleVerdict {
	ev := pipeline.Event{Format: pipeline.FormatSyslog, Source: "log", Line: line}
	return s.Explain(&ev, nil)[0]
}

const sshdLike = `    prefregex: '^<F-MLFID>\s*\S+ sshd\[\d+\]: </F-MLFID>(?:error: )?<F-CONTENT>.+</F-CONTENT>$'
    datepattern: '{^LN-BEG}'
    failregex:
      - '^Failed \S+ for (?:invalid user )?<F-USER>\S+</F-USER> from <HOST> port \d+'
      - '^<F-NOFAIL>Connection from</F-NOFAIL> <HOST>'
      - '^Disconnecting: Too many authentication failures(?: for <F-USER>\S+</F-USER>)?'
      - '^<F-NOFAIL><F-MLFFORGET>Connection closed</F-MLFFORGET></F-NOFAIL> by <ADDR>'
      - '^<F-MLFFORGET><F-MLFGAINED>Accepted \w+</F-MLFGAINED></F-MLFFORGET> for <F-USER>\S+</F-USER> from <HOST>'
    ignoreregex: ['for ignored from']
`

func TestFail2banFilterLines(t *testing.T) {
	type step struct {
		line    string
		verdict Verdict
		id      string // the failure's id, when one is found
		user    string
		lines   int // lines the failure carries (fail2ban's attempts)
	}
	cases := []struct {
		name  string
		rule  string
		steps []step
	}{
		{"prefregex and content", sshdLike, []step{
			{"Aug 14 11:00:00 srv sshd[1]: Failed password for root from 192.0.2.1 port 22 ssh2", Hit, "192.0.2.1", "root", 1},
			{"Aug 14 11:00:01 srv sshd[2]: error: Failed password for invalid user bob from 2001:db8::7 port 22 ssh2", Hit, "2001:db8::7", "bob", 1},
			{"Aug 14 11:00:02 srv nginx[3]: Failed password for root from 192.0.2.1 port 22 ssh2", RegexMiss, "", "", 0},
			{"Aug 14 11:00:03 srv sshd[4]: Failed password for root from host.example port 22 ssh2", HostName, "host.example", "root", 1},
			{"Aug 14 11:00:04 srv sshd[5]: Failed password for ignored from 192.0.2.9 port 22 ssh2", Ignored, "", "", 0},
		}},
		{"a session names its address on another line", sshdLike, []step{
			{"Aug 14 11:00:00 srv sshd[7]: Connection from 198.51.100.7", Helper, "", "", 0},
			{"Aug 14 11:00:01 srv sshd[7]: Disconnecting: Too many authentication failures for root", Hit, "198.51.100.7", "root", 2},
		}},
		{"a failure waits for the session's address", sshdLike, []step{
			{"Aug 14 11:00:00 srv sshd[8]: Disconnecting: Too many authentication failures for root", Helper, "", "", 0},
			{"Aug 14 11:00:01 srv sshd[8]: Connection closed by 198.51.100.8", Hit, "198.51.100.8", "root", 2},
		}},
		{"a success after one user's failures is no failure", sshdLike, []step{
			{"Aug 14 11:00:00 srv sshd[9]: Connection from 198.51.100.9", Helper, "", "", 0},
			{"Aug 14 11:00:01 srv sshd[9]: Accepted password for root from 198.51.100.9", Helper, "", "", 0},
		}},
		{"sessions are per process", sshdLike, []step{
			{"Aug 14 11:00:00 srv sshd[10]: Connection from 198.51.100.10", Helper, "", "", 0},
			{"Aug 14 11:00:01 srv sshd[11]: Disconnecting: Too many authentication failures for root", Helper, "", "", 0},
		}},
		{"no date, no source time", "    failregex: ['^\\s*fail <HOST>$']\n", []step{
			{"fail 192.0.2.1", NoDate, "", "", 0},
			{"Aug 14 11:00:00 fail 192.0.2.1", Hit, "192.0.2.1", "", 1},
		}},
		{"two lines searched together", "    maxlines: 2\n    failregex: ['^\\s*user (?P<u>\\S+)\\n.*from <HOST>$']\n", []step{
			{"Aug 14 11:00:00 user bob", RegexMiss, "", "", 0},
			{"Aug 14 11:00:01 login from 192.0.2.3", Hit, "192.0.2.3", "", 2},
			{"Aug 14 11:00:02 login from 192.0.2.4", RegexMiss, "", "", 0},
		}},
		{"usedns no", "    usedns: 'no'\n    failregex: ['^\\s*fail <HOST>$']\n", []step{
			{"Aug 14 11:00:00 fail host.example", RegexMiss, "", "", 0},
			{"Aug 14 11:00:00 fail [2001:db8::1]", Hit, "2001:db8::1", "", 1},
		}},
		{"alternative user", "    failregex: ['^\\s*fail (?:<F-USER>\\w+</F-USER>|<F-ALT_USER>\\S+</F-ALT_USER>) <HOST>$']\n", []step{
			{"Aug 14 11:00:00 fail x-y 192.0.2.5", Hit, "192.0.2.5", "x-y", 1},
		}},
		{"helper line without a session", "    failregex: ['^\\s*<F-NOFAIL>hello</F-NOFAIL> from <HOST>$']\n", []step{
			{"Aug 14 11:00:00 hello from 192.0.2.7", Helper, "", "", 0},
		}},
		{"id other than the address", "    failregex: ['^\\s*fail <F-ID>\\S+</F-ID> <HOST>$']\n", []step{
			{"Aug 14 11:00:00 fail acct7 192.0.2.6", Hit, "acct7", "", 1},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, _ := fail2banSet(t, c.rule)
			for i, st := range c.steps {
				v := judgeLine(s, st.line)
				if v.Verdict != st.verdict {
					t.Fatalf("line %d %q: %s, want %s", i+1, st.line, v.Verdict, st.verdict)
				}
				if st.id == "" {
					continue
				}
				f := v.Failure
				if f == nil || f.ID != st.id || !hasField(f, "user", st.user) || len(f.Lines) != st.lines {
					t.Fatalf("line %d %q: failure %+v, want id %s user %q lines %d", i+1, st.line, f, st.id, st.user, st.lines)
				}
			}
		})
	}
}

func TestFail2banHitCapturesAndKey(t *testing.T) {
	s, _ := fail2banSet(t, sshdLike)
	ev := pipeline.Event{Format: pipeline.FormatSyslog, Source: "log", Line: "Aug 14 11:00:00 srv sshd[1]: Failed password for root from 192.0.2.1 port 22 ssh2"}
	hits := s.Match(&ev, nil)
	if len(hits) != 1 || hits[0].Target.String() != "192.0.2.1" {
		t.Fatalf("hits %+v", hits)
	}
	if captured(hits[0], "user") != "root" {
		t.Errorf("captures %v", hits[0].Captures)
	}
	if captured(hits[0], "mlfid") != "" {
		t.Errorf("fail2ban's bookkeeping groups leak into captures: %v", hits[0].Captures)
	}
	if ev.User != "" || len(ev.Captures) > 0 {
		t.Errorf("Match wrote into the event: user %q, captures %v", ev.User, ev.Captures)
	}
	s2, _ := fail2banSet(t, "    failregex: ['^\\s*fail <F-ID>\\S+</F-ID> <HOST>$']\n")
	ev = pipeline.Event{Format: pipeline.FormatSyslog, Source: "log", Line: "Aug 14 11:00:00 fail acct7 192.0.2.6"}
	if hits := s2.Match(&ev, nil); len(hits) != 1 || hits[0].Key != "acct7" || captured(hits[0], "id") != "acct7" {
		t.Fatalf("an <F-ID> other than the address is what is counted: %+v", hits)
	}
}

// A line whose event came with a time (every stockade source) is dated by
// it when the line has no date of its own; a journal entry (the line is
// only its message) is read as fail2ban's journal backend writes it.
func TestFail2banEventTimeAndJournal(t *testing.T) {
	s, _ := fail2banSet(t, sshdLike)
	at := time.Date(2025, 11, 8, 22, 0, 0, 0, time.UTC)
	ev := pipeline.Event{Format: pipeline.FormatSyslog, Source: "journald", Time: at,
		Host: "srv", Program: "sshd", PID: 12,
		Message: "Failed password for root from 192.0.2.1 port 22 ssh2"}
	ev.Line = ev.Message
	v := s.Explain(&ev, nil)[0]
	if v.Verdict != Hit || !v.Failure.Time.Equal(at) {
		t.Fatalf("journal entry: %s %+v", v.Verdict, v.Failure)
	}
	if got := v.Failure.Lines[0]; got != "srv sshd[12]: Failed password for root from 192.0.2.1 port 22 ssh2" {
		t.Errorf("journal line written as %q", got)
	}
}

func TestFail2banUnbannedCounts(t *testing.T) {
	s, _ := fail2banSet(t, sshdLike)
	for i := 0; i < 3; i++ {
		judgeLine(s, "Aug 14 11:00:03 srv sshd[4]: Failed password for root from host.example port 22 ssh2")
	}
	u := s.Unbanned()
	if len(u) != 1 || u[0].Rule != "r" || u[0].Lines != 3 || u[0].Reason != HostName.String() {
		t.Fatalf("Unbanned() = %+v", u)
	}
}

func TestFail2banRuleErrors(t *testing.T) {
	const head = "pack: t\nrules:\n  - name: r\n    formats: [syslog]\n    ban: 1m\n" // the rule's fields from line 6
	cases := []struct {
		name, fields, want string
	}{
		{"prefregex needs the dialect", "    failregex: ['^x <HOST>$']\n    prefregex: '^x'\n", "t.yaml:7:16: prefregex: only in a rule with dialect: fail2ban"},
		{"bad dialect", "    dialect: python\n    failregex: ['^x <HOST>$']\n", "t.yaml:6:14: dialect: want stockade or fail2ban"},
		{"bad maxlines", "    dialect: fail2ban\n    maxlines: 0\n    failregex: ['^x <HOST>$']\n", "t.yaml:7:15: maxlines: want a number of lines"},
		{"bad usedns", "    dialect: fail2ban\n    usedns: maybe\n    failregex: ['^x <HOST>$']\n", "t.yaml:7:13: usedns: want yes, warn, no or raw"},
		{"no failure id", "    dialect: fail2ban\n    failregex: ['^x (?P<u>\\S+)$']\n", "t.yaml:7:17: failregex: no failure-id group"},
		{"python syntax", "    dialect: fail2ban\n    failregex: ['^x(?<=a+) <HOST>']\n", "t.yaml:7:17: failregex: bad regex: look-behind requires fixed-width pattern"},
		{"bad datepattern", "    dialect: fail2ban\n    datepattern: '^%Q'\n    failregex: ['^x <HOST>$']\n", "t.yaml:7:18: datepattern: unknown directive %Q"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(head+c.fields))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
		})
	}
}

func BenchmarkFail2banSshdLine(b *testing.B) {
	s, _ := fail2banSet(b, sshdLike)
	line := "Aug 14 11:00:00 srv sshd[1]: Failed password for root from 192.0.2.1 port 22 ssh2"
	b.ReportAllocs()
	for b.Loop() {
		ev := pipeline.Event{Format: pipeline.FormatSyslog, Source: "log", Line: line}
		if len(s.Match(&ev, nil)) != 1 {
			b.Fatal("no hit")
		}
	}
}

// BenchmarkFail2banSshdMiss: lines no failregex takes, the bulk of an
// auth.log (cron, sudo, sessions), cost no allocation (the lines of one
// second, as a log's are: a new second parses its date once).
func BenchmarkFail2banSshdMiss(b *testing.B) {
	s, _ := fail2banSet(b, sshdLike)
	lines := []string{
		"Aug 14 11:00:00 srv CRON[1]: pam_unix(cron:session): session opened for user root by (uid=0)",
		"Aug 14 11:00:00 srv sudo[2]: deploy : TTY=pts/0 ; PWD=/home/deploy ; USER=root ; COMMAND=/usr/bin/true",
		"Aug 14 11:00:00 srv sshd[3]: pam_unix(sshd:session): session closed for user deploy",
	}
	at := time.Date(2025, 8, 14, 11, 0, 0, 0, time.UTC) // as the syslog parser dates them
	var ev pipeline.Event
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		ev = pipeline.Event{Format: pipeline.FormatSyslog, Source: "log", Line: lines[i%len(lines)], Time: at}
		if len(s.Match(&ev, nil)) != 0 {
			b.Fatal("a hit")
		}
		i++
	}
}

// The example of the README.
func TestFail2banReadmeExample(t *testing.T) {
	src := `pack: example
rules:
  - name: wordpress-login
    dialect: fail2ban            # Python regexes, fail2ban's tags and semantics
    formats: [nginx]
    failregex: ['^<HOST> -[^"]*"POST /wp-login\.php HTTP/\d\.\d" 200 ']
    # datepattern: '{^LN-BEG}'   # default: fail2ban's default templates (a list for several)
    # prefregex: '^...<F-CONTENT>.+</F-CONTENT>$'
    # maxlines: 1                # lines searched together
    # usedns: warn               # no: <HOST> takes addresses only
    threshold: 5
    window: 10m
    ban: 1h
`
	p, err := Parse("example.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSet(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		line string
		hit  bool
	}{
		{`203.0.113.5 - - [08/Nov/2025:22:00:01 +0000] "POST /wp-login.php HTTP/1.1" 200 4523 "-" "curl/8"`, true},
		{`203.0.113.5 - - [08/Nov/2025:22:00:02 +0000] "POST /wp-login.php HTTP/1.1" 302 0 "-" "Mozilla/5.0"`, false},
	} {
		// As the nginx parser gives it: the message is the line.
		ev := pipeline.Event{Format: pipeline.FormatNginx, Program: "nginx", Line: c.line, Message: c.line, Time: time.Now()}
		if hits := s.Match(&ev, nil); (len(hits) == 1) != c.hit || (c.hit && hits[0].Target.String() != "203.0.113.5") {
			t.Errorf("%q: hits %+v, want hit %v", c.line, hits, c.hit)
		}
	}
}

// hasField reports whether the failure's group name holds want ("": none).
func hasField(f *filter.Failure, name, want string) bool {
	v, _ := f.Field(name)
	return v == want
}
