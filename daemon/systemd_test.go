package daemon

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/control"
	"github.com/stockade-ids/stockade/internal/sdnotify"
)

// TestSystemdNotify plays systemd with a real notification socket: READY=1
// comes once the daemon answers on its control socket (state loaded,
// sources open, sinks connected), WATCHDOG=1 every second from the loop
// while WatchdogSec= is set, STOPPING=1 at the end.
func TestSystemdNotify(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify")
	sock, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	t.Setenv("WATCHDOG_USEC", "2000000")
	t.Setenv("WATCHDOG_PID", "")
	h := newHarness(t)
	h.startWith(func(_ *Config, d *Deps) { d.Notify = sdnotify.New(path) })
	stopped := false
	defer func() {
		if !stopped {
			h.stop()
		}
	}()
	read := func(what string) string {
		t.Helper()
		buf := make([]byte, 4096)
		// Waits for the daemon's next notification, at most 5 s.
		sock.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := sock.Read(buf)
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		return string(buf[:n])
	}
	ready := read("READY=1")
	if !strings.HasPrefix(ready, "READY=1\nSTATUS=judging 1 sources") {
		t.Fatalf("first notification %q, want READY=1 and a status", ready)
	}
	if _, err := control.NewClient(h.socket).Do(control.Request{Op: "ping"}); err != nil {
		t.Fatalf("READY=1 before the control socket answers: %v", err)
	}
	start := time.Now()
	for i := range 2 {
		if got := read("WATCHDOG=1"); got != "WATCHDOG=1" {
			t.Fatalf("notification %d after READY: %q, want WATCHDOG=1", i+1, got)
		}
	}
	// Two pings one second apart each, well inside the 2 s watchdog.
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("two watchdog pings took %v", took)
	}
	h.stop()
	stopped = true
	for range 3 { // a last watchdog ping may come before it
		if got := read("STOPPING=1"); got == "STOPPING=1" {
			return
		}
	}
	t.Error("no STOPPING=1 at the end")
}

// TestNoWatchdogWithoutWatchdogSec: READY=1 and no watchdog pings when the
// unit sets no WatchdogSec=.
func TestNoWatchdogWithoutWatchdogSec(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify")
	sock, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	t.Setenv("WATCHDOG_USEC", "")
	h := newHarness(t)
	h.startWith(func(_ *Config, d *Deps) { d.Notify = sdnotify.New(path) })
	defer h.stop()
	buf := make([]byte, 4096)
	sock.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := sock.Read(buf)
	if err != nil || !strings.HasPrefix(string(buf[:n]), "READY=1") {
		t.Fatalf("first notification %q (%v), want READY=1", buf[:n], err)
	}
	// Waits 2.5 s (two ticks and a half) for a ping that must not come.
	sock.SetReadDeadline(time.Now().Add(2500 * time.Millisecond))
	if n, err := sock.Read(buf); err == nil {
		t.Fatalf("notification %q without WatchdogSec", buf[:n])
	}
}

// TestReopenOutput does what logrotate does with create and a postrotate
// that sends SIGUSR1 (or SIGHUP): the decisions file is renamed, and the
// daemon writes the next decisions to a new file at the path.
func TestReopenOutput(t *testing.T) {
	for _, sig := range []string{"SIGUSR1", "SIGHUP"} {
		t.Run(sig, func(t *testing.T) {
			h := newHarness(t)
			ch := make(chan os.Signal, 1)
			h.startWith(func(_ *Config, d *Deps) {
				if sig == "SIGUSR1" {
					d.Reopen = ch
				} else {
					d.Hangup = ch
				}
			})
			defer h.stop()
			h.fail("203.0.113.70", 5)
			h.waitFor("the first ban", func() bool { return h.bans("203.0.113.70") == 1 })
			rotated := h.out + ".1"
			if err := os.Rename(h.out, rotated); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(h.out, nil, 0o640); err != nil { // logrotate's create
				t.Fatal(err)
			}
			ch <- os.Interrupt // the signal's value does not matter
			// The reopen happens in the loop; a ping after it is answered
			// after it.
			if _, err := control.NewClient(h.socket).Do(control.Request{Op: "ping"}); err != nil {
				t.Fatal(err)
			}
			h.fail("203.0.113.71", 5)
			h.waitFor("the second ban in the new file", func() bool { return h.bans("203.0.113.71") == 1 })
			if n := h.bans("203.0.113.70"); n != 0 {
				t.Errorf("the new file holds the first ban %d times", n)
			}
			old, err := os.ReadFile(rotated)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(old), `"203.0.113.70"`) || strings.Contains(string(old), `"203.0.113.71"`) {
				t.Errorf("the rotated file holds:\n%s", old)
			}
		})
	}
}
