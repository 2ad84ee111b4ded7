package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/control"
)

// TestDaemonChild is the daemon TestDaemonKill9 kills; it runs only as that
// child process.
func TestDaemonChild(t *testing.T) {
	cfg := os.Getenv("STOCKADE_DAEMON_CHILD")
	if cfg == "" {
		t.Skip("runs only as TestDaemonKill9's child")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if err := runConfigFile(ctx, cfg); err != nil {
		t.Fatal(err)
	}
}

// runConfigFile is `stockade run --config path` as cmd/stockade wires it
// (SIGHUP reloads).
func runConfigFile(ctx context.Context, path string) error {
	cfg, err := LoadConfig(path)
	if err != nil {
		return err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	d, err := New(*cfg, Deps{Log: slog.New(slog.NewTextHandler(os.Stderr, nil)), Hangup: hup})
	if err != nil {
		return err
	}
	return runDaemon(ctx, d)
}

// startChild runs the daemon on cfgPath as a child process (this test
// binary in TestDaemonChild), behind wrap if given (ip netns exec NAME). A
// child the test has not stopped and waited for is killed at cleanup, so
// that a test failing half-way leaves no daemon behind.
func startChild(t testing.TB, cfgPath string, wrap ...string) *exec.Cmd {
	t.Helper()
	argv := slices.Concat(wrap, []string{os.Args[0], "-test.run=^TestDaemonChild$"})
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "STOCKADE_DAEMON_CHILD="+cfgPath)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return cmd
}

// TestDaemonKill9 kills the daemon with SIGKILL twice during a burst of
// writes and restarts it. Attackers with exactly 5 failures must all be
// banned (no line lost); attackers with exactly 4 must never be (no line
// counted twice). A decision re-sent after a crash keeps its id.
func TestDaemonKill9(t *testing.T) {
	if os.Getenv("STOCKADE_DAEMON_CHILD") != "" {
		t.Skip("child")
	}
	h := newHarness(t)
	cfgPath := filepath.Join(h.dir, "stockade.yaml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf(`state_dir: %s
socket: %s
origin: test
rules: [%s]
sources:
  - files: [%s]
    start: beginning
sinks:
  - jsonl: %s
`, filepath.Join(h.dir, "state"), h.socket, h.rules, h.log, h.out)), 0o644)

	start := func() *exec.Cmd {
		cmd := startChild(t, cfgPath)
		h.waitFor("the child daemon", func() bool { _, err := control.NewClient(h.socket).Do(control.Request{Op: "ping"}); return err == nil })
		return cmd
	}

	const n = 300 // attackers of each kind
	lines := make([]string, 0, 9*n)
	for round := range 5 {
		for i := range n {
			lines = append(lines, fmt.Sprintf("sshd[%d]: Failed password for root from 203.0.%d.%d port %d ssh2", 1000+i, 100+i/250, i%250, 40000+round))
			if round < 4 {
				lines = append(lines, fmt.Sprintf("sshd[%d]: Failed password for root from 198.51.%d.%d port %d ssh2", 2000+i, i/250, i%250, 40000+round))
			}
		}
	}
	f, err := os.OpenFile(h.log, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	write := func(ls []string) {
		for _, l := range ls {
			fmt.Fprintf(f, "%s web1 %s\n", time.Now().UTC().Format("2006-01-02T15:04:05.000000-07:00"), l)
			if len(l)%7 == 0 {
				time.Sleep(100 * time.Microsecond) // a burst, not a single write
			}
		}
	}

	cmd := start()
	third := len(lines) / 3
	write(lines[:third])
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	write(lines[third : 2*third]) // written while stockade is down
	cmd = start()
	time.Sleep(150 * time.Millisecond)
	write(lines[2*third:])
	cmd.Process.Signal(syscall.SIGKILL) // killed mid-read
	cmd.Wait()
	cmd = start()
	fi, _ := os.Stat(h.log)
	h.waitFor("every line read", func() bool {
		rep, err := control.NewClient(h.socket).Do(control.Request{Op: "status"})
		return err == nil && len(rep.Status.Files) == 1 && rep.Status.Files[0].Offset == fi.Size() && rep.Status.Clock.After(time.Time{})
	})
	time.Sleep(2 * saveEvery) // let the last decisions reach the file
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("daemon exit after SIGTERM: %v", err)
	}

	ids := map[string]string{}
	dups := 0
	for _, d := range h.decisions() {
		if strings.HasPrefix(d.Target.String(), "198.51.") {
			t.Errorf("%s banned with only 4 failures: a line was counted twice", d.Target)
		}
		if prev, ok := ids[d.Target.String()]; ok {
			dups++
			if prev != d.ID {
				t.Errorf("%s decided twice with different ids (%s, %s): a new ban, not a re-sent one", d.Target, prev, d.ID)
			}
		}
		ids[d.Target.String()] = d.ID
	}
	banned := 0
	for target := range ids {
		if strings.HasPrefix(target, "203.0.") {
			banned++
		}
	}
	if banned != n {
		t.Errorf("%d of %d attackers banned: lines were lost", banned, n)
	}
	t.Logf("%d attackers banned, %d decisions re-sent after the crashes (%.1f%%)", banned, dups, 100*float64(dups)/float64(max(1, len(ids))))
}

// TestDaemonResumesAFileStartedAtItsEnd: a file followed from its end has
// its starting point saved at once, before any line of it arrives; so
// lines written while stockade was down after a crash are read after the
// restart even though none had been read before it. An empty file is read
// from its beginning after the restart.
func TestDaemonResumesAFileStartedAtItsEnd(t *testing.T) {
	if os.Getenv("STOCKADE_DAEMON_CHILD") != "" {
		t.Skip("child")
	}
	for _, tc := range []struct {
		name    string
		history bool
	}{{"with history", true}, {"empty", false}} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			if tc.history {
				h.fail("198.51.100.1", 2) // history before stockade: not read
			}
			cfgPath := filepath.Join(h.dir, "stockade.yaml")
			os.WriteFile(cfgPath, []byte(fmt.Sprintf("state_dir: %s\nsocket: %s\norigin: test\nrules: [%s]\nsources:\n  - files: [%s]\nsinks:\n  - jsonl: %s\n",
				filepath.Join(h.dir, "state"), h.socket, h.rules, h.log, h.out)), 0o644)
			start := func() *exec.Cmd {
				cmd := startChild(t, cfgPath)
				h.waitFor("the file followed", func() bool {
					rep, err := control.NewClient(h.socket).Do(control.Request{Op: "status"})
					return err == nil && len(rep.Status.Files) == 1
				})
				return cmd
			}
			cmd := start()
			time.Sleep(200 * time.Millisecond) // the position event reaches the daemon
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()
			h.fail("203.0.113.90", 5) // while stockade is down
			cmd = start()
			defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
			h.waitFor("the ban of what was written while down", func() bool { return h.bans("203.0.113.90") == 1 })
			if n := h.bans("198.51.100.1"); n != 0 {
				t.Errorf("lines from before stockade ever started were judged: %d decisions", n)
			}
		})
	}
}
