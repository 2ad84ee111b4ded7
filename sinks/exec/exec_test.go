package exec

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

// TestShellMetacharactersStayArguments: a captured user name full of shell
// syntax reaches the command as one literal argument and runs nothing.
func TestShellMetacharactersStayArguments(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "args")
	pwned := filepath.Join(dir, "pwned")
	script := filepath.Join(dir, "record.sh")
	os.WriteFile(script, []byte("#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\" >> "+out+"; done\n"), 0o755)
	s, err := New(Config{Ban: []string{script, "{target}", "{reason}"}, Unban: []string{script, "unban", "{target}"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	evil := "x; touch " + pwned + " `touch " + pwned + "` $(touch " + pwned + ") | touch " + pwned
	ds := []pipeline.Decision{
		{Action: pipeline.ActionBan, Target: pipeline.MustTarget("203.0.113.7"), Reason: evil},
		{Action: pipeline.ActionUnban, Target: pipeline.MustTarget("203.0.113.7")},
	}
	if err := s.Write(t.Context(), ds); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(pwned); err == nil {
		t.Fatal("a shell ran the captured text")
	}
	got, _ := os.ReadFile(out)
	want := "203.0.113.7\n" + evil + "\nunban\n203.0.113.7\n"
	if string(got) != want {
		t.Fatalf("arguments:\n%q\nwant\n%q", got, want)
	}
	if s.Runs.Load() != 2 || s.Failures.Load() != 0 {
		t.Fatalf("runs %d failures %d", s.Runs.Load(), s.Failures.Load())
	}
}

func TestRefusesUnknownPlaceholderAndCountsFailures(t *testing.T) {
	if _, err := New(Config{Ban: []string{"/bin/true", "{user}"}}, nil); err == nil || !strings.Contains(err.Error(), "{user}") {
		t.Fatalf("got %v", err)
	}
	s, err := New(Config{Ban: []string{"/bin/false"}, Timeout: time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Write(t.Context(), []pipeline.Decision{{Action: pipeline.ActionBan, Target: pipeline.MustTarget("192.0.2.1")}})
	s.Close(t.Context())
	if s.Failures.Load() != 1 {
		t.Fatalf("failures %d", s.Failures.Load())
	}
}

// TestNULStillRuns: a NUL byte in a substituted field (a Suricata
// signature can carry one, JSON-escaped) would make the command impossible
// to start; it is replaced and the ban runs.
func TestNULStillRuns(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "args")
	script := filepath.Join(dir, "record.sh")
	os.WriteFile(script, []byte("#!/bin/sh\nprintf '%s\\n' \"$1\" >> "+out+"\n"), 0o755)
	s, err := New(Config{Ban: []string{script, "{reason}"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Write(t.Context(), []pipeline.Decision{{Action: pipeline.ActionBan, Target: pipeline.MustTarget("203.0.113.7"), Reason: "sig\x00nature"}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(out); string(got) != "sig\uFFFDnature\n" || s.Failures.Load() != 0 {
		t.Fatalf("argument %q, %d failures", got, s.Failures.Load())
	}
}
