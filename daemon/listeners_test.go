package daemon

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDaemonSyslogSenders: a UDP listener with senders: hears only them.
// Five forged sshd failures from an address outside senders (any local
// user can send to 127.0.0.1) ban nobody and are counted; the same five
// from a sender inside ban their target.
func TestDaemonSyslogSenders(t *testing.T) {
	h := newHarness(t)
	yml := fmt.Sprintf(`state_dir: %q
socket: %q
origin: test
rules: [%q]
sources:
  - syslog:
      udp: 127.0.0.1:0
      senders: [127.0.0.2, 10.0.0.0/8]
sinks: [{jsonl: %q}]
`, filepath.Join(h.dir, "state"), h.socket, h.rules, h.out)
	cfg, err := parseConfig("stockade.yaml", []byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	l := startLive(t, cfg, nil)
	var addr *net.UDPAddr
	waitFor(t, 10*time.Second, "the UDP listener", func() bool {
		for _, a := range l.status().Listeners {
			if s, ok := strings.CutPrefix(a, "udp://"); ok {
				addr, err = net.ResolveUDPAddr("udp", s)
				return err == nil
			}
		}
		return false
	})
	send := func(from, target string) {
		t.Helper()
		c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(from)}, addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for i := range 5 {
			if _, err := c.Write([]byte(sshdLine(time.Now(), target, i))); err != nil {
				t.Fatal(err)
			}
		}
	}

	send("127.0.0.1", "198.51.100.66")
	waitFor(t, 10*time.Second, "the outsider's datagrams counted", func() bool {
		return l.metric(`stockade_bad_lines_total{reason="sender not allowed"}`) == 5
	})
	send("127.0.0.2", "198.51.100.77")
	waitFor(t, 10*time.Second, "the sender's ban", func() bool { return len(l.banned("sshd")) > 0 })
	if got := l.banned("sshd"); len(got) != 1 || got[0] != "198.51.100.77" {
		t.Errorf("banned %v, want only the address the allowed sender reported", got)
	}
}

// TestDaemonSyslogUnix: a unix listener judges each line by the process
// that sent it. This test process is root, at its own path: lines it sends
// claiming sshd-session, which the table reserves for /usr/sbin/sshd, are
// refused and counted; lines claiming sshd, which the table gives to this
// executable, ban.
func TestDaemonSyslogUnix(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("skipping: the table below names root")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t)
	sock := filepath.Join(h.dir, "log.sock")
	yml := fmt.Sprintf(`state_dir: %q
socket: %q
origin: test
rules: [%q]
sources:
  - syslog:
      unix: %q
      identities:
        sshd: [{exe: [%q], user: [root]}]
        sshd-session: [{exe: [/usr/sbin/sshd], user: [root]}]
sinks: [{jsonl: %q}]
`, filepath.Join(h.dir, "state"), h.socket, h.rules, sock, exe, h.out)
	cfg, err := parseConfig("stockade.yaml", []byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	l := startLive(t, cfg, nil)
	c, err := net.Dial("unixgram", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 5 {
		line := strings.Replace(sshdLine(time.Now(), "198.51.100.88", i), " sshd[", " sshd-session[", 1)
		if _, err := c.Write([]byte(line)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 10*time.Second, "the forged lines counted", func() bool {
		return l.metric(`stockade_bad_lines_total{reason="identity mismatch"}`) == 5
	})
	for i := range 5 {
		if _, err := c.Write([]byte(sshdLine(time.Now(), "198.51.100.99", i))); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 10*time.Second, "the ban", func() bool { return len(l.banned("sshd")) > 0 })
	if got := l.banned("sshd"); len(got) != 1 || got[0] != "198.51.100.99" {
		t.Errorf("banned %v, want only the address the trusted sender reported", got)
	}
}
