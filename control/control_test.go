package control

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServerClient: a request reaches the loop and its answer the client;
// the socket is 0600; a second server on a live socket is refused, and a
// reply that is not OK is an error with the daemon's words.
func TestServerClient(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.sock")
	calls := make(chan Call)
	srv, err := Listen(path, calls, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	go func() {
		for c := range calls {
			if c.Request.Op == "ping" {
				c.Reply <- Reply{OK: true, Message: "pong"}
			} else {
				c.Reply <- Reply{Error: "unknown op " + c.Request.Op}
			}
		}
	}()
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode: %v %v", fi, err)
	}
	if _, err := Listen(path, calls, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "another stockade") {
		t.Fatalf("second server: %v", err)
	}
	c := NewClient(path)
	if rep, err := c.Do(Request{Op: "ping"}); err != nil || rep.Message != "pong" {
		t.Fatalf("ping: %+v %v", rep, err)
	}
	if _, err := c.Do(Request{Op: "nope"}); err == nil || err.Error() != "unknown op nope" {
		t.Fatalf("nope: %v", err)
	}
	srv.Close()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("socket left after Close: %v", err)
	}
	if _, err := c.Do(Request{Op: "ping"}); err == nil || !strings.Contains(err.Error(), "cannot reach stockade") {
		t.Fatalf("closed: %v", err)
	}
}
