package sdnotify

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// listen is a real unixgram socket standing in for systemd's.
func listen(t *testing.T, name string) *net.UnixConn {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func read(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	buf := make([]byte, 4096)
	// Waits for the one datagram Notify sent; it is already queued.
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n])
}

func TestNotifyPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify")
	c := listen(t, path)
	t.Setenv("NOTIFY_SOCKET", path)
	n := FromEnv()
	if !n.Enabled() {
		t.Fatal("not enabled with NOTIFY_SOCKET set")
	}
	if err := n.Notify(Ready, Status("judging 3 sources")); err != nil {
		t.Fatal(err)
	}
	if got, want := read(t, c), "READY=1\nSTATUS=judging 3 sources"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if err := n.Notify(Watchdog); err != nil {
		t.Fatal(err)
	}
	if got := read(t, c); got != "WATCHDOG=1" {
		t.Fatalf("got %q", got)
	}
}

func TestNotifyAbstract(t *testing.T) {
	name := "stockade-sdnotify-test-" + strings.ReplaceAll(t.Name(), "/", "-") + time.Now().Format("150405.000000000")
	c := listen(t, "\x00"+name)
	n := New("@" + name)
	if err := n.Notify(Stopping); err != nil {
		t.Fatal(err)
	}
	if got := read(t, c); got != "STOPPING=1" {
		t.Fatalf("got %q", got)
	}
}

func TestNotifyOff(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	n := FromEnv()
	if n.Enabled() {
		t.Fatal("enabled without NOTIFY_SOCKET")
	}
	if err := n.Notify(Ready); err != nil {
		t.Fatalf("a notifier without a socket must drop the state: %v", err)
	}
}

func TestNotifyNoListener(t *testing.T) {
	n := New(filepath.Join(t.TempDir(), "gone"))
	if err := n.Notify(Ready); err == nil {
		t.Fatal("a socket nobody listens on reported no error")
	}
}

func TestNotifyRefusesNUL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify")
	listen(t, path)
	if err := New(path).Notify("STATUS=a\x00READY=1"); err == nil {
		t.Fatal("a NUL byte was sent")
	}
}

func TestWatchdogInterval(t *testing.T) {
	for _, tc := range []struct {
		name, usec, pid string
		want            time.Duration
	}{
		{"unset", "", "", 0},
		{"30s", "30000000", "", 15 * time.Second},
		{"ours", "2000000", "42", time.Second},
		{"another process's", "2000000", "43", 0},
		{"bad pid", "2000000", "x", 0},
		{"zero", "0", "", 0},
		{"garbage", "soon", "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := watchdogInterval(tc.usec, tc.pid, 42); got != tc.want {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}
