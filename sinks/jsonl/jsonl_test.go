package jsonl

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

func decision(target string) []pipeline.Decision {
	return []pipeline.Decision{{Action: pipeline.ActionBan, Target: pipeline.MustTarget(target), Rule: "sshd", At: time.Unix(1e9, 0).UTC()}}
}

// targets reads path's lines, failing on any line that is not one whole
// decision.
func targets(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var d pipeline.Decision
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			t.Fatalf("%s: a torn line %q: %v", path, sc.Text(), err)
		}
		out = append(out, d.Target.String())
	}
	return out
}

// TestReopenAfterRotation does what logrotate's create + postrotate does:
// rename the file, create an empty one in its place, signal the daemon.
func TestReopenAfterRotation(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	path := filepath.Join(dir, "decisions.jsonl")
	s, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, decision("192.0.2.1")); err != nil {
		t.Fatal(err)
	}
	rotated := path + ".1"
	if err := os.Rename(path, rotated); err != nil {
		t.Fatal(err)
	}
	// Written between the rename and the signal: still the old file's.
	if err := s.Write(ctx, decision("192.0.2.2")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, nil, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := s.Reopen(); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, decision("192.0.2.3")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(targets(t, rotated)); got != "[192.0.2.1 192.0.2.2]" {
		t.Errorf("rotated file holds %s", got)
	}
	if got := fmt.Sprint(targets(t, path)); got != "[192.0.2.3]" {
		t.Errorf("new file holds %s", got)
	}
}

// TestReopenCreates: without `create`, the daemon makes the file itself,
// 0640 as at start.
func TestReopenCreates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "decisions.jsonl")
	s, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(t.Context())
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Reopen(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm()&^0o640 != 0 {
		t.Errorf("recreated with mode %v, want at most 0640", fi.Mode().Perm())
	}
}

// TestReopenFailureKeepsWriting: a path that cannot be opened (its
// directory gone) leaves the sink writing where it was.
func TestReopenFailureKeepsWriting(t *testing.T) {
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "logs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "decisions.jsonl")
	s, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	moved := dir + ".old"
	if err := os.Rename(dir, moved); err != nil {
		t.Fatal(err)
	}
	if err := s.Reopen(); err == nil {
		t.Fatal("reopen into a missing directory reported no error")
	}
	if err := s.Write(ctx, decision("192.0.2.9")); err != nil {
		t.Fatalf("a failed reopen broke the sink: %v", err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(targets(t, filepath.Join(moved, "decisions.jsonl"))); got != "[192.0.2.9]" {
		t.Errorf("old file holds %s", got)
	}
}

// TestReopenWhileWriting: reopening between writers' batches loses and
// tears no line (run with -race).
func TestReopenWhileWriting(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "decisions.jsonl")
	s, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const writers, each, rotations = 4, 500, 20
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := s.Write(ctx, decision(fmt.Sprintf("10.%d.%d.%d", w, i/256, i%256))); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	files := []string{}
	for r := range rotations {
		old := fmt.Sprintf("%s.%d", path, r)
		if err := os.Rename(path, old); err != nil {
			t.Fatal(err)
		}
		files = append(files, old)
		if err := s.Reopen(); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, f := range append(files, path) {
		for _, tg := range targets(t, f) {
			if seen[tg] {
				t.Fatalf("%s written twice", tg)
			}
			seen[tg] = true
		}
	}
	if len(seen) != writers*each {
		t.Fatalf("%d decisions across the files, want %d", len(seen), writers*each)
	}
}

func TestReopenWriterIsNoop(t *testing.T) {
	s := New(io.Discard)
	if err := s.Reopen(); err != nil {
		t.Fatal(err)
	}
}
