package daemon

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/sources/tail"
)

// TestDaemonExecShellMetacharacters: an eve.json alert whose signature is
// full of shell syntax (command substitution, backticks, ';', '|', a
// newline, a NUL) reaches an exec sink through the whole daemon. The
// command gets the text as one literal argument and runs once; nothing in
// the text runs.
func TestDaemonExecShellMetacharacters(t *testing.T) {
	dir := t.TempDir()
	pwned := filepath.Join(dir, "pwned")
	record := filepath.Join(dir, "argv")
	script := filepath.Join(dir, "record.sh")
	// Each argument, NUL-terminated, so newlines inside one show.
	os.WriteFile(script, []byte("#!/bin/sh\nfor a in \"$@\"; do printf '%s\\000' \"$a\" >> "+record+"; done\n"), 0o755)
	sig := "ET x $(touch " + pwned + ") `touch " + pwned + "`; touch " + pwned + " | touch " + pwned + " && touch " + pwned +
		"\ntouch " + pwned + "\x00; touch " + pwned
	alert := map[string]any{
		"timestamp": time.Now().UTC().Format("2006-01-02T15:04:05.000000+0000"), "event_type": "alert",
		"src_ip": "203.0.113.40", "src_port": 51000, "dest_ip": "192.0.2.10", "dest_port": 80, "proto": "TCP",
		"alert": map[string]any{"action": "allowed", "gid": 1, "signature_id": 1, "rev": 1, "signature": sig, "category": "x", "severity": 1},
	}
	line, err := json.Marshal(alert)
	if err != nil {
		t.Fatal(err)
	}
	eve := filepath.Join(dir, "eve.json")
	os.WriteFile(eve, append(line, '\n'), 0o644)

	cfg := &Config{StateDir: filepath.Join(dir, "state"), Socket: filepath.Join(dir, "ctl.sock"), Origin: "test",
		Sources: []SourceConfig{{Files: &tail.FilesConfig{Files: []string{eve}, Start: "beginning"}}},
		Sinks:   []SinkConfig{{Exec: &ExecConfig{Ban: []string{script, "{target}", "{reason}", "--", "{rule}"}}}}}
	l := startLive(t, cfg, nil)
	waitFor(t, 15*time.Second, "the ban command", func() bool {
		b, _ := os.ReadFile(record)
		return bytes.Count(b, []byte{0}) >= 4
	})
	l.stop() // the exec sink runs what it has queued, then stops
	got, _ := os.ReadFile(record)
	args := strings.Split(strings.TrimSuffix(string(got), "\x00"), "\x00")
	wantSig := strings.ReplaceAll(sig, "\x00", "\uFFFD")
	if len(args) != 4 || args[0] != "203.0.113.40" || !strings.HasSuffix(args[1], wantSig) || args[2] != "--" || args[3] != "suricata-p1" {
		t.Fatalf("the command ran with %d arguments %q; want the target, the reason ending in the signature, --, the rule", len(args), args)
	}
	if _, err := os.Stat(pwned); err == nil {
		t.Fatal("text from the alert ran as a command")
	}
}
