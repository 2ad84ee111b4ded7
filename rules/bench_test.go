package rules

import (
	"testing"

	"github.com/stockade-ids/stockade/pipeline"
)

func benchMatch(b *testing.B, lines []pipeline.Event) {
	s := defaultSet(b)
	var hits []pipeline.Hit
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		ev := &lines[n%len(lines)]
		n++
		clear(ev.Captures)
		hits = s.Match(ev, hits[:0])
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

func syslogEvent(program, msg string) pipeline.Event {
	return pipeline.Event{Format: pipeline.FormatSyslog, Program: program, Message: msg, Line: msg}
}

// BenchmarkMatchSSHDMiss: sshd lines no failregex matches (the common
// case on a busy host): only the literal prefilters should run.
func BenchmarkMatchSSHDMiss(b *testing.B) {
	benchMatch(b, []pipeline.Event{
		syslogEvent("sshd", "Accepted publickey for deploy from 192.0.2.80 port 50000 ssh2: ED25519 SHA256:q1w2e3r4t5y6u7i8o9p0"),
		syslogEvent("sshd", "pam_unix(sshd:session): session closed for user deploy"),
		syslogEvent("sshd", "Received disconnect from 192.0.2.77 port 40000:11: disconnected by user"),
	})
}

// BenchmarkMatchSSHDHit: failure lines, each matched by a failregex with
// captures.
func BenchmarkMatchSSHDHit(b *testing.B) {
	benchMatch(b, []pipeline.Event{
		syslogEvent("sshd", "Failed password for invalid user admin from 203.0.113.9 port 4711 ssh2"),
		syslogEvent("sshd", "Invalid user oracle from 2001:db8::66 port 50022"),
		syslogEvent("sshd", "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.6  user=root"),
	})
}

// BenchmarkMatchOtherProgram: lines from programs no rule listens to are
// dispatched away before any regex.
func BenchmarkMatchOtherProgram(b *testing.B) {
	benchMatch(b, []pipeline.Event{syslogEvent("CRON", "pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)")})
}

// BenchmarkMatchNginx: the predicates of both nginx rules over one line.
func BenchmarkMatchNginx(b *testing.B) {
	a := pipeline.Event{Format: pipeline.FormatNginx, Method: "GET", Path: "/blog/2025/11/hello", Status: 200}
	a.Addr = mustAddr("192.0.2.7")
	benchMatch(b, []pipeline.Event{a})
}
