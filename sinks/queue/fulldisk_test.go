package queue

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stockade-ids/stockade/internal/testkit"
)

// TestSinkFullDisk: the queue's filesystem fills up while the remote is
// down. Decisions written meanwhile cannot reach the disk; they wait in
// memory, in order, behind what the disk holds, and once space returns and
// the remote is back, the remote gets every decision once, in order.
func TestSinkFullDisk(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("skipping: mounting a tmpfs needs CAP_SYS_ADMIN (run as root; CI does): %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	remote := &fakeRemote{t: t, failFor: 1 << 30}
	s := NewSink(open(t, dir, Config{}), remote, fastRetry(t))
	defer closeSink(t, s)
	if err := s.Write(t.Context(), testkit.Decisions(0, 10)); err != nil {
		t.Fatal(err)
	}
	fill(t, filepath.Join(dir, "filler"))
	// Enough decisions that the queue's file must grow, which it cannot.
	for i := 10; i < 1000; i += 10 {
		if err := s.Write(t.Context(), testkit.Decisions(i, i+10)); err != nil {
			t.Fatalf("write with the disk full: %v", err)
		}
	}
	if s.Spilled() == 0 {
		t.Fatal("no decision waited in memory: the disk did not fill up")
	}
	os.Remove(filepath.Join(dir, "filler"))
	remote.mu.Lock()
	remote.failFor = 0
	remote.mu.Unlock()
	defer func() {
		if t.Failed() {
			t.Logf("received %d, in memory %d, on disk %d", len(remote.received()), s.Spilled(), s.Depth())
		}
	}()
	testkit.WaitFor(t, "every decision delivered", func() bool { return len(remote.received()) >= 1000 && s.Spilled() == 0 && s.Depth() == 0 })
	if got := remote.received(); !equal(got, testkit.Seq(0, 1000)) {
		t.Fatalf("remote received %d decisions, want 0..999 once each, in order", len(got))
	}
}

// fill writes to path until the filesystem is full.
func fill(t testing.TB, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return
		}
	}
}
