package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/config"
	"github.com/stockade-ids/stockade/control"
	"github.com/stockade-ids/stockade/daemon"
	"github.com/stockade-ids/stockade/sinks/jsonl"
	"github.com/stockade-ids/stockade/sources/tail"
)

// cli runs `stockade ARGS... --socket SOCK` as the binary would and
// returns its stdout, stderr and error.
func cli(t *testing.T, sock string, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), append(args, "--socket", sock), &out, &errb)
	if os.Getenv("STOCKADE_SHOW_CLI") != "" {
		fmt.Printf("$ stockade %s\n%s%s", strings.Join(args, " "), out.String(), errb.String())
	}
	return out.String(), errb.String(), err
}

// TestOperatorCLI runs the operator's commands as an admin types them,
// against a daemon listening on its real control socket: each prints
// what the daemon did in words (and -o json what a script needs), and bad
// usage exits 2.
func TestOperatorCLI(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "auth.log")
	os.WriteFile(logPath, nil, 0o644)
	sock := filepath.Join(dir, "ctl.sock")
	cfg := daemon.Config{StateDir: filepath.Join(dir, "state"), Socket: sock, Origin: "web1",
		Sources: []config.Source{{Files: &tail.FilesConfig{Files: []string{logPath}, Start: "beginning"}}},
		Sinks:   []config.Sink{{JSONL: &jsonl.Config{Path: filepath.Join(dir, "decisions.jsonl")}}}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil))) }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("the daemon did not stop within 10s")
		}
	}()
	waitFor(t, 10*time.Second, "the control socket", func() bool {
		_, err := control.NewClient(sock).Do(control.Request{Op: "ping"})
		return err == nil
	})
	now := time.Now()
	for i := range 5 {
		appendFile(t, logPath, sshdLine(now, "203.0.113.60", i))
	}
	waitFor(t, 10*time.Second, "the sshd ban", func() bool {
		out, _, _ := cli(t, sock, "bans", "203.0.113.60")
		return strings.Contains(out, "203.0.113.60")
	})

	checks := []struct {
		args []string
		want []string
		code int
	}{
		{[]string{"bans"}, []string{"TARGET", "LEFT", "203.0.113.60", "sshd", "web1", "sshd authentication failures: 5 matches within 10m0s"}, 0},
		{[]string{"bans", "--since", "1h", "--rule", "sshd"}, []string{"203.0.113.60"}, 0},
		{[]string{"bans", "-o", "json", "--origin", "web1"}, []string{`"target": "203.0.113.60"`, `"left_s": `, `"evidence": [`}, 0},
		{[]string{"bans", "--rule", "nginx-scan"}, []string{"no active bans"}, 0},
		{[]string{"bans", "203.0.113.60"}, []string{"> " + now.UTC().Format("2006-01-02T15:04:05"), "Failed password for root from 203.0.113.60"}, 0},
		{[]string{"ban", "198.51.100.7", "--for", "1h"}, []string{"banned 198.51.100.7 under manual until", "(1h0m0s)"}, 0},
		{[]string{"ban", "198.51.100.7", "--for", "10m"}, []string{"already banned until", "by manual on 198.51.100.7; nothing changed (--replace sets its ban to 10m0s from now)"}, 0},
		{[]string{"ban", "198.51.100.7", "--for", "10m", "--replace"}, []string{"unbanned 198.51.100.7 (replaced by the operator)", "banned 198.51.100.7 under manual until", "(10m0s)"}, 0},
		{[]string{"ban", "198.51.100.8", "--rule", "sshdd"}, nil, 1},
		{[]string{"status", "sshd"}, []string{"Banned IP list:\t203.0.113.60 (", "left)"}, 0},
		{[]string{"allow", "add", "203.0.113.0/24", "--comment", "office VPN", "--for", "7d"}, []string{"added 203.0.113.0/24 to the runtime allowlist; lifted 1 bans: 203.0.113.60"}, 0},
		{[]string{"allow", "list"}, []string{"203.0.113.0/24", "runtime", "office VPN"}, 0},
		{[]string{"history", "203.0.113.60"}, []string{"ban", "sshd", "unban", "protected (allow-runtime)"}, 0},
		{[]string{"bans", "import", filepath.Join("..", "..", "sources", "blocklist", "testdata", "drop.txt"), "--origin", "drop", "--for", "1d"}, []string{"list drop: 2 banned, 0 renewed, 0 unchanged, 0 already banned longer, 1 protected (not banned)", "not banned: 203.0.113.128/25 (allow-runtime)"}, 0},
		{[]string{"bans", "--origin", "list:drop"}, []string{"198.51.100.0/24", "2001:db8:dead::/48"}, 0},
		{[]string{"unban", "--all", "--rule", "list:drop"}, []string{"unbanned 198.51.100.0/24 (unbanned by the operator)", "unbanned 2001:db8:dead::/48"}, 0},
		{[]string{"unban", "--all"}, []string{"unbanned 198.51.100.7"}, 0},
		{[]string{"bans"}, []string{"no active bans"}, 0},
		{[]string{"allow", "del", "203.0.113.0/24"}, []string{"removed 203.0.113.0/24 from the runtime allowlist"}, 0},
		{[]string{"history"}, nil, 2},
		{[]string{"bans", "-o", "yaml"}, nil, 2},
	}
	for _, c := range checks {
		out, _, err := cli(t, sock, c.args...)
		code := 0
		if err != nil {
			code = 1
			if ee, ok := err.(*exitError); ok {
				code = ee.code
			}
		}
		if code != c.code {
			t.Errorf("stockade %s: exit %d (%v), want %d", strings.Join(c.args, " "), code, err, c.code)
		}
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("stockade %s printed\n%s\nwant it to hold %q", strings.Join(c.args, " "), out, w)
			}
		}
	}
	out, _, err := cli(t, sock, "history", "203.0.113.60", "-o", "json")
	var h []map[string]any
	if err != nil || json.Unmarshal([]byte(out), &h) != nil || len(h) != 2 || h[0]["action"] != "ban" {
		t.Fatalf("history -o json: %v %s", err, out)
	}
}
