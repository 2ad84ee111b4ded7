package logging

import (
	"bytes"
	"encoding/binary"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

var t0 = time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)

func ban(target, rule string) *pipeline.Decision {
	return &pipeline.Decision{Action: pipeline.ActionBan, Target: pipeline.MustTarget(target), Rule: rule, Origin: "host1",
		Reason: "sshd: 5 matches within 10m0s", At: t0, Expires: t0.Add(time.Hour), Duration: 3600, Offense: 1, Source: "/var/log/auth.log"}
}

// TestAuditLinesGrepLikeFail2ban: a ban, an unban and a refusal are one
// line each, in fail2ban's words, at NOTICE and WARN; a simulated ban is
// not found by a grep for "Ban ".
func TestAuditLinesGrepLikeFail2ban(t *testing.T) {
	var buf bytes.Buffer
	h, err := New(Options{Format: "text", W: &buf})
	if err != nil {
		t.Fatal(err)
	}
	a := NewAudit(slog.New(h), 0)
	a.Decision(ban("203.0.113.7", "sshd"), "", t0)
	a.Decision(&pipeline.Decision{Action: pipeline.ActionUnban, Target: pipeline.MustTarget("203.0.113.7"), Reason: "unbanned by the operator"}, "operator", t0)
	sim := ban("203.0.113.8", "trial")
	sim.Simulated = true
	a.Decision(sim, "", t0)
	a.Refused("192.0.2.10", "", "protected (allow)", "operator", t0)
	a.Allow("add", netip.MustParsePrefix("198.51.100.0/24"), "office", time.Time{}, 2, "operator")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := []string{
		`level=NOTICE msg="[sshd] Ban 203.0.113.7" action=ban target=203.0.113.7 rule=sshd origin=host1`,
		`level=NOTICE msg="[stockade] Unban 203.0.113.7" action=unban target=203.0.113.7 rule=stockade origin=operator reason="unbanned by the operator"`,
		`level=NOTICE msg="[trial] Simulated ban 203.0.113.8" action=simulated`,
		`level=WARN msg="[manual] Refused 192.0.2.10" action=refused target=192.0.2.10 rule=manual origin=operator reason="protected (allow)"`,
		`level=NOTICE msg="Allow add 198.51.100.0/24" action=allow-add target=198.51.100.0/24 origin=operator comment=office lifted=2`,
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines:\n%s", len(lines), buf.String())
	}
	for i, w := range want {
		if !strings.Contains(lines[i], w) {
			t.Errorf("line %d:\n%s\nwant it to hold\n%s", i, lines[i], w)
		}
	}
	if n := strings.Count(buf.String(), "Ban "); n != 1 {
		t.Errorf("a grep for 'Ban ' finds %d lines", n)
	}
}

// TestAuditFlood: 64,000 bans within one second write PerSecond lines and
// one summary that counts the rest; the next second writes again.
func TestAuditFlood(t *testing.T) {
	var buf bytes.Buffer
	h, _ := New(Options{Format: "json", W: &buf})
	a := NewAudit(slog.New(h), 50)
	for i := range 64000 {
		a.Decision(ban(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}).String(), "portscan"), "", t0.Add(time.Duration(i)*time.Microsecond))
	}
	a.Flush(t0.Add(time.Second))
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 51 {
		t.Fatalf("%d lines for 64,000 bans in a second", len(lines))
	}
	last := lines[50]
	if !strings.Contains(last, `"level":"WARN"`) || !strings.Contains(last, `"suppressed_ban":63950`) || !strings.Contains(last, "63950 ban not logged one by one") {
		t.Fatalf("summary %s", last)
	}
	if !strings.Contains(lines[0], `"level":"NOTICE"`) {
		t.Fatalf("first %s", lines[0])
	}
	buf.Reset()
	a.Decision(ban("203.0.113.1", "sshd"), "", t0.Add(2*time.Second))
	if !strings.Contains(buf.String(), "[sshd] Ban 203.0.113.1") {
		t.Fatalf("after the flood: %q", buf.String())
	}
}

// TestJournalNative: with journald's socket (a real unixgram socket of the
// test's own), a line is one datagram whose PRIORITY follows the level
// and whose attributes are STOCKADE_ fields; a value with a newline takes
// the binary form. Without the socket, lines go to stderr with <N>.
func TestJournalNative(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.sock")
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	h, _ := New(Options{Format: "journal", Journal: path})
	a := NewAudit(slog.New(h), 0)
	a.Refused("192.0.2.10", "sshd", "protected\n(allow)", "operator", t0)
	ln.SetReadDeadline(time.Now().Add(5 * time.Second)) // the datagram was sent before Refused returned
	buf := make([]byte, 65536)
	n, err := ln.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	got := string(buf[:n])
	for _, w := range []string{"MESSAGE=[sshd] Refused 192.0.2.10\n", "PRIORITY=4\n", "SYSLOG_IDENTIFIER=stockade\n", "STOCKADE_TARGET=192.0.2.10\n", "STOCKADE_ACTION=refused\n"} {
		if !strings.Contains(got, w) {
			t.Errorf("datagram lacks %q:\n%q", w, got)
		}
	}
	var bin bytes.Buffer
	bin.WriteString("STOCKADE_REASON\n")
	binary.Write(&bin, binary.LittleEndian, uint64(len("protected\n(allow)")))
	bin.WriteString("protected\n(allow)\n")
	if !strings.Contains(got, bin.String()) {
		t.Errorf("multi-line value not in binary form:\n%q", got)
	}

	var stderr bytes.Buffer
	h, _ = New(Options{Format: "journal", Journal: filepath.Join(t.TempDir(), "none"), W: &stderr})
	NewAudit(slog.New(h), 0).Decision(ban("203.0.113.7", "sshd"), "", t0)
	if !strings.HasPrefix(stderr.String(), "<5>[sshd] Ban 203.0.113.7 action=\"ban\"") {
		t.Fatalf("fallback: %q", stderr.String())
	}
	if _, err := New(Options{Format: "xml"}); err == nil || !strings.Contains(err.Error(), "text, json, journal") {
		t.Fatalf("bad format: %v", err)
	}
}
