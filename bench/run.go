package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// build compiles ./cmd/stockade (the module the harness runs in).
func build(ctx context.Context, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/stockade")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return cmd.Run()
}

// usage is what one child process cost.
type usage struct {
	Wall   time.Duration
	CPU    time.Duration // user + system
	MaxRSS int64         // bytes
	// Faults is the minor page faults: a page of memory touched for the
	// first time (about 11 µs each on the VM the README's figures come
	// from, where they were a quarter of an eve.json replay).
	Faults int64
}

// measure runs argv with extra environment and returns its cost; stdout
// goes to the file stdout (or nowhere), stderr is kept for errors.
func measure(ctx context.Context, env []string, stdout string, argv ...string) (usage, []byte, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if stdout != "" {
		f, err := os.Create(stdout)
		if err != nil {
			return usage{}, nil, err
		}
		defer f.Close()
		cmd.Stdout = f
	}
	start := time.Now()
	err := cmd.Run()
	u := usage{Wall: time.Since(start)}
	if ps := cmd.ProcessState; ps != nil {
		if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
			u.CPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
			u.MaxRSS = ru.Maxrss * 1024 // kilobytes on Linux
			u.Faults = ru.Minflt
		}
	}
	if err != nil {
		return u, stderr.Bytes(), fmt.Errorf("%s: %w\n%s", strings.Join(argv, " "), err, lastLines(stderr.String(), 20))
	}
	return u, stderr.Bytes(), nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// replayRun is one measured `stockade replay`.
type replayRun struct {
	usage
	Decisions int
	Digest    string // sha256 of the decisions written
}

// replaySpec is one replay to measure.
type replaySpec struct {
	procs, workers int
	extra          []string
	files          []string
	// timed: the rules cut a regex match off after a wall-clock time
	// (the fail2ban dialect's regexp2), so on a loaded machine two runs
	// may decide differently; that is noted, not fatal.
	timed bool
}

// interleaved measures several replays c.runs times each, taking turns,
// so that a burst of load from elsewhere on the machine does not fall on
// one of them only, and keeps each one's fastest run. Every run of a
// replay must write the same decisions.
func interleaved(ctx context.Context, c config, specs []replaySpec) ([]replayRun, error) {
	return interleavedNoting(ctx, c, specs, nil)
}

// interleavedNoting is interleaved, noting in notes (when not nil) the
// timed replays whose runs decided differently.
func interleavedNoting(ctx context.Context, c config, specs []replaySpec, notes *[]string) ([]replayRun, error) {
	best := make([]replayRun, len(specs))
	out := filepath.Join(os.TempDir(), fmt.Sprintf("stockade-bench-%d.jsonl", os.Getpid()))
	defer os.Remove(out)
	for i := 0; i < c.runs; i++ {
		for j, sp := range specs {
			argv := []string{c.bin, "replay", "--quiet", "--tz", "UTC", "--origin", "bench",
				"--workers", strconv.Itoa(sp.workers), "--output", out}
			argv = append(append(argv, sp.extra...), sp.files...)
			os.Remove(out)
			u, _, err := measure(ctx, []string{"GOMAXPROCS=" + strconv.Itoa(sp.procs)}, "", argv...)
			if err != nil {
				return nil, err
			}
			n, digest, err := digestLines(out)
			if err != nil {
				return nil, err
			}
			if i > 0 && digest != best[j].Digest {
				if !sp.timed || notes == nil {
					return nil, fmt.Errorf("replay of %v gave different decisions on run %d", sp.files, i+1)
				}
				*notes = append(*notes, fmt.Sprintf("%v %v: run %d decided differently from run 1 (%d decisions, sha256 %s…, against %d, %s…): "+
					"a regexp2 match cut off by its wall-clock limit on a loaded machine.", sp.extra, sp.files, i+1, n, digest, best[j].Decisions, best[j].Digest))
			}
			if i == 0 || u.Wall < best[j].Wall {
				best[j] = replayRun{usage: u, Decisions: n, Digest: digest}
			}
		}
	}
	return best, nil
}

func digestLines(path string) (int, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	n := 0
	br := bufio.NewReaderSize(f, 1<<20)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			n++
			h.Write(line)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, "", err
		}
	}
	return n, hex.EncodeToString(h.Sum(nil))[:16], nil
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
