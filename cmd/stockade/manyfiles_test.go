package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// lowDescriptorsEnv runs this test binary as `stockade` under a limit of
// 64 descriptors (see TestReplayMoreFilesThanDescriptors).
const lowDescriptorsEnv = "STOCKADE_TEST_LOW_DESCRIPTORS"

func init() {
	if os.Getenv(lowDescriptorsEnv) != "1" {
		return
	}
	rl := syscall.Rlimit{Cur: 64, Max: 64}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		fmt.Fprintln(os.Stderr, "setrlimit:", err)
		os.Exit(3)
	}
	args := strings.Split(os.Getenv(lowDescriptorsEnv+"_ARGS"), "\n")
	if err := run(context.Background(), args, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "stockade:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// TestReplayMoreFilesThanDescriptors: a replay of a year of hourly logs
// is thousands of files (8,760), more than a process may hold open where the
// hard limit is 1,024 or 4,096; the replay opened them all at once and
// stopped with "too many open files" before its first line. Under a limit
// of 64 descriptors, 300 logs (every third gzipped, each an attack of its
// own and one that spans the files) replay to the decisions they make
// without a limit, on one worker and on two, named or found in their
// directory: there, a file that could not be opened was skipped (without
// a word under --quiet), and the replay ended as if it had been read.
func TestReplayMoreFilesThanDescriptors(t *testing.T) {
	dir := t.TempDir()
	start := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	var paths []string
	for i := range 300 {
		var b strings.Builder
		at := start.Add(time.Duration(i) * time.Minute)
		for j := range 6 {
			b.WriteString(sshdLine(at.Add(time.Duration(j)*time.Second), fmt.Sprintf("198.51.%d.%d", i/250, i%250+1), j))
		}
		// One address fails once a minute: banned by the files together.
		b.WriteString(sshdLine(at.Add(10*time.Second), "203.0.113.77", i))
		name := fmt.Sprintf("auth.log.%03d", i)
		if i%3 == 2 {
			name += ".gz"
		}
		paths = append(paths, writeLog(t, dir, name, b.String()))
	}
	var first string
	for _, c := range []struct {
		workers string
		files   []string
	}{{"1", paths}, {"2", paths}, {"1", []string{dir}}} {
		workers := c.workers
		args := append([]string{"replay", "--quiet", "--tz", "UTC", "--origin", "t", "--workers", workers}, c.files...)
		var want, stderr bytes.Buffer
		if err := run(t.Context(), args, &want, &stderr); err != nil {
			t.Fatalf("without a limit: %v: %s", err, stderr.String())
		}
		if n := strings.Count(want.String(), "\n"); n < 301 {
			t.Fatalf("without a limit: %d decisions, want one for each file's attacker and the one across them", n)
		}
		// 300 logs on two workers: each reader's batches are small (see
		// pipeline's newParallel); the decisions are one worker's.
		if first == "" {
			first = want.String()
		} else if want.String() != first {
			t.Fatalf("--workers %s %s: decisions differ from --workers 1's of the files named", workers, c.files[0])
		}
		cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), lowDescriptorsEnv+"=1", lowDescriptorsEnv+"_ARGS="+strings.Join(args, "\n"))
		var got, gotErr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &got, &gotErr
		if err := cmd.Run(); err != nil {
			t.Fatalf("--workers %s under 64 descriptors: %v: %s", workers, err, gotErr.String())
		}
		if got.String() != want.String() {
			t.Fatalf("--workers %s %s under 64 descriptors: %d bytes of decisions, want the %d written without a limit", workers, c.files[0], got.Len(), want.Len())
		}
	}
}
