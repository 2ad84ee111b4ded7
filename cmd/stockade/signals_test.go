package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCLIChild is `stockade` itself when the parent test starts this
// binary again with STOCKADE_TEST_CLI set: the arguments come in
// STOCKADE_TEST_ARGS, separated by unit separators (0x1f).
func TestCLIChild(t *testing.T) {
	if os.Getenv("STOCKADE_TEST_CLI") != "1" {
		t.Skip("run by TestServiceSignals as a child process")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, strings.Split(os.Getenv("STOCKADE_TEST_ARGS"), "\x1f"), os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "stockade:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// TestServiceSignals runs `stockade run --config` as its own process, as
// systemd and logrotate meet it: READY=1 on $NOTIFY_SOCKET, WATCHDOG=1 while
// $WATCHDOG_USEC is set, the decisions file reopened after a rename on
// SIGUSR1 and on SIGHUP, STOPPING=1 and exit status 0 on SIGTERM.
func TestServiceSignals(t *testing.T) {
	dir := t.TempDir()
	packs := filepath.Join(dir, "rules")
	os.Mkdir(packs, 0o755)
	src, err := os.ReadFile(filepath.Join("..", "..", "rules", "packs", "sshd.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(packs, "sshd.yaml"), src, 0o644)
	authLog, out := filepath.Join(dir, "auth.log"), filepath.Join(dir, "decisions.jsonl")
	os.WriteFile(authLog, nil, 0o644)
	cfg := filepath.Join(dir, "stockade.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("state_dir: %s\nsocket: %s\norigin: test\nrules: [%s]\nsources:\n  - files: [%s]\n    start: beginning\nsinks:\n  - jsonl: %s\n",
		filepath.Join(dir, "state"), filepath.Join(dir, "s.sock"), packs, authLog, out)), 0o644)

	notify := filepath.Join(dir, "notify")
	sock, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notify, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCLIChild$")
	cmd.Env = append(os.Environ(), "STOCKADE_TEST_CLI=1", "STOCKADE_TEST_ARGS=run\x1f--config\x1f"+cfg,
		"NOTIFY_SOCKET="+notify, "WATCHDOG_USEC=2000000", "WATCHDOG_PID=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-exited
		}
	}()
	next := func(want string) {
		t.Helper()
		buf := make([]byte, 4096)
		for range 10 { // watchdog pings may come between
			// Waits for the child's next notification, at most 10 s.
			sock.SetReadDeadline(time.Now().Add(10 * time.Second))
			n, err := sock.Read(buf)
			if err != nil {
				t.Fatalf("waiting for %s: %v\n%s", want, err, stderr.String())
			}
			if strings.HasPrefix(string(buf[:n]), want) {
				return
			}
		}
		t.Fatalf("no %s among the child's notifications", want)
	}
	next("READY=1")
	next("WATCHDOG=1")

	fail := func(addr string) {
		f, _ := os.OpenFile(authLog, os.O_APPEND|os.O_WRONLY, 0)
		defer f.Close()
		for i := range 5 {
			fmt.Fprintf(f, "%s web1 sshd[%d]: Failed password for root from %s port %d ssh2\n",
				time.Now().UTC().Format("2006-01-02T15:04:05.000000-07:00"), 100+i, addr, 40000+i)
		}
	}
	holds := func(path, addr string) bool {
		b, _ := os.ReadFile(path)
		return bytes.Contains(b, []byte(`"target":"`+addr+`"`))
	}
	waitFile := func(path, addr string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !holds(path, addr) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: no ban of %s within 10 s\n%s", filepath.Base(path), addr, stderr.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	fail("203.0.113.80")
	waitFile(out, "203.0.113.80")
	for i, sig := range []syscall.Signal{syscall.SIGUSR1, syscall.SIGHUP} {
		rotated := fmt.Sprintf("%s.%d", out, i+1)
		if err := os.Rename(out, rotated); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(out, nil, 0o640) // logrotate's create
		if err := cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		// The daemon handles the signal in its loop; the next ban comes
		// after it (the signal is queued before the line is written).
		time.Sleep(200 * time.Millisecond)
		addr := fmt.Sprintf("203.0.113.%d", 81+i)
		fail(addr)
		waitFile(out, addr)
		if holds(rotated, addr) {
			t.Errorf("after %v the ban of %s went to the renamed file", sig, addr)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	next("STOPPING=1")
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("stockade exited with %v after SIGTERM\n%s", err, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("stockade did not stop within 15 s of SIGTERM")
	}
}
