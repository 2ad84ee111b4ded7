package daemon

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/control"
)

// TestDaemonKill9UnderLoad kills the daemon with SIGKILL three times
// while a writer appends to its log at about 50,000 lines a second, and
// restarts it each time. At the end every attacker with five failures is
// banned, and still banned (no active ban lost); no attacker with four is
// (no line counted twice); and fewer than 1% of the decisions are copies
// re-sent after a crash (same id: sinks drop them).
func TestDaemonKill9UnderLoad(t *testing.T) {
	if os.Getenv("STOCKADE_DAEMON_CHILD") != "" {
		t.Skip("child")
	}
	if testing.Short() {
		t.Skip("a load of 220,000 lines: not in -short")
	}
	h := newHarness(t)
	cfgPath := filepath.Join(h.dir, "stockade.yaml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf("state_dir: %s\nsocket: %s\norigin: test\nrules: [%s]\nsources:\n  - files: [%s]\n    start: beginning\nsinks:\n  - jsonl: %s\n",
		filepath.Join(h.dir, "state"), h.socket, h.rules, h.log, h.out)), 0o644)
	start := func() *exec.Cmd {
		cmd := startChild(t, cfgPath)
		h.waitFor("the child daemon", func() bool { _, err := control.NewClient(h.socket).Do(control.Request{Op: "ping"}); return err == nil })
		return cmd
	}

	const five, four, noise = 3000, 1000, 200000
	attacker := func(i int) string { return fmt.Sprintf("203.0.%d.%d", i/250, i%250) }
	under := func(i int) string { return fmt.Sprintf("198.51.%d.%d", i/250, i%250) }
	var lines []string
	n := 0
	for round := range 5 {
		for i := range five {
			lines = append(lines, fmt.Sprintf("sshd[%d]: Failed password for root from %s port %d ssh2", 1000+i%9000, attacker(i), 40000+round))
			if round < 4 && i < four {
				lines = append(lines, fmt.Sprintf("sshd[%d]: Failed password for root from %s port %d ssh2", 1000+i%9000, under(i), 40000+round))
			}
			for range noise / (5 * five) {
				lines = append(lines, fmt.Sprintf("CRON[%d]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0) %d", n, n))
				n++
			}
		}
	}

	// The writer: 100 lines every 10ms, each stamped when written.
	var written atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		f, err := os.OpenFile(h.log, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for i := 0; i < len(lines); i += 500 {
			<-tick.C
			var b strings.Builder
			stamp := time.Now().UTC().Format("2006-01-02T15:04:05.000000-07:00")
			for _, l := range lines[i:min(i+500, len(lines))] {
				b.WriteString(stamp + " web1 " + l + "\n")
			}
			f.WriteString(b.String())
			written.Store(int64(min(i+500, len(lines))))
		}
	}()

	// Three kills: in the steady state; while the daemon catches up with
	// what was written while it was down (its queue full, saves every
	// decisionSave); and in the steady state again.
	cmd := start()
	t.Cleanup(func() { // a failed test leaves no daemon behind
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	kill := func() {
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
	}
	waitFor(t, 60*time.Second, "the writer", func() bool { return written.Load() >= int64(len(lines)/4) })
	kill()
	time.Sleep(time.Second) // fifty thousand lines to catch up with
	cmd = start()
	time.Sleep(30 * time.Millisecond)
	kill()
	cmd = start()
	waitFor(t, 60*time.Second, "the writer", func() bool { return written.Load() >= int64(3*len(lines)/4) })
	kill()
	cmd = start()
	<-done
	fi, _ := os.Stat(h.log)
	h.waitFor("every line read", func() bool {
		rep, err := control.NewClient(h.socket).Do(control.Request{Op: "status"})
		return err == nil && len(rep.Status.Files) == 1 && rep.Status.Files[0].Offset == fi.Size()
	})
	time.Sleep(2 * saveEvery)
	rep, err := control.NewClient(h.socket).Do(control.Request{Op: "status", Rule: "sshd"})
	if err != nil {
		t.Fatal(err)
	}
	active := rep.Status.Rules[0].BannedList
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("daemon exit after SIGTERM: %v", err)
	}

	ids := map[string]string{}
	total, dups := 0, 0
	for _, d := range h.decisions() {
		total++
		if strings.HasPrefix(d.Target.String(), "198.51.") {
			t.Errorf("%s banned with four failures: a line was counted twice", d.Target)
		}
		if prev, ok := ids[d.Target.String()]; ok {
			dups++
			if prev != d.ID {
				t.Errorf("%s decided twice with different ids: a new ban, not a re-sent one", d.Target)
			}
		}
		ids[d.Target.String()] = d.ID
	}
	for i := range five {
		if _, ok := ids[attacker(i)]; !ok {
			t.Errorf("%s never banned: lines were lost", attacker(i))
		}
		if !slices.Contains(active, attacker(i)) {
			t.Errorf("%s's ban is not active after the restarts: an active ban was lost", attacker(i))
		}
	}
	rate := 100 * float64(dups) / float64(max(1, total))
	t.Logf("%d lines, 3 kills: %d decisions, %d of them re-sent after a crash (%.2f%%); %d active bans at the end", len(lines), total, dups, rate, len(active))
	if rate >= 1 {
		t.Errorf("%.2f%% of the decisions were re-sent after the crashes, want under 1%%", rate)
	}
}
