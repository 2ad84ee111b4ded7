package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/internal/golden"
)

// writeLog writes lines to dir/name, gzipped when the name ends in .gz.
func writeLog(t *testing.T, dir, name, lines string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	data := []byte(lines)
	if strings.HasSuffix(name, ".gz") {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write(data)
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		data = b.Bytes()
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	// The year of a syslog line comes from its file's time: fixed, so
	// that the decisions are the same every year.
	mtime := time.Date(2025, 11, 9, 0, 0, 0, 0, time.UTC)
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestReplaySkipsEmptyNamedFile: an empty log named on the command line
// (a rotated log nothing was written to, plain or gzipped) is skipped with
// a note, as in a directory replay, and the other files are replayed.
func TestReplaySkipsEmptyNamedFile(t *testing.T) {
	dir := t.TempDir()
	empty := writeLog(t, dir, "auth.log", "")
	emptyGz := writeLog(t, dir, "auth.log.2.gz", "")
	blank := writeLog(t, dir, "auth.log.3", "\n\n")
	var lines strings.Builder
	at := time.Date(2025, 11, 8, 22, 0, 0, 0, time.UTC)
	for i := range 6 {
		lines.WriteString(sshdLine(at.Add(time.Duration(i)*time.Second), "203.0.113.9", i))
	}
	full := writeLog(t, dir, "auth.log.1", lines.String())
	ds, summary, err := replay(t, empty, emptyGz, full, blank)
	if err != nil {
		t.Fatalf("replay with empty files: %v\n%s", err, summary)
	}
	if len(ds) != 1 || ds[0].Target.String() != "203.0.113.9" {
		t.Fatalf("decisions %+v\n%s", ds, summary)
	}
	for _, p := range []string{empty, emptyGz, blank} {
		if !strings.Contains(summary, "skipping "+p+": empty file") {
			t.Errorf("no note for the empty %s:\n%s", p, summary)
		}
	}
}

// rotatedGateLogs writes the archive of the gate jail's /var/log/gate.log
// as logrotate leaves it: numbered, gzipped and dated copies, one failure
// of 203.0.113.50 in each (the jail bans at 3 within 10 min), and a log no
// rule reads.
func rotatedGateLogs(t *testing.T) []string {
	dir := t.TempDir()
	return []string{
		writeLog(t, dir, "gate.log-20251108.gz", "Nov  8 22:00:01 web1 gated[7]: denied root from 203.0.113.50\n"),
		writeLog(t, dir, "gate.log.2.gz", "Nov  8 22:01:01 web1 gated[8]: denied root from 203.0.113.50\n"),
		writeLog(t, dir, "gate.log.1", "Nov  8 22:02:01 web1 gated[9]: denied admin from 203.0.113.50\n"),
		writeLog(t, dir, "kern.log", "Nov  8 22:02:02 web1 kernel: denied root from 203.0.113.51\n"),
	}
}

// TestReplayRotatedJailLogs: the rotated and compressed names of an
// imported jail's logpath are read by its rule, and a file no rule reads
// is named in the summary rather than replayed silently for nothing.
func TestReplayRotatedJailLogs(t *testing.T) {
	conf := f2bConf(t, "[gate]\nenabled = true\n")
	logs := rotatedGateLogs(t)
	var stdout, stderr bytes.Buffer
	err := run(t.Context(), append([]string{"replay", "--origin", "test", "--tz", "UTC", "--rules", "fail2ban:" + conf}, logs...), &stdout, &stderr)
	if err != nil {
		t.Fatalf("replay: %v\n%s", err, stderr.String())
	}
	got := strings.ReplaceAll(stdout.String(), filepath.Dir(logs[0]), "LOGS")
	golden.Check(t, filepath.Join("testdata", "jails", "rotated.golden.jsonl"), []byte(got))
	if !strings.Contains(stdout.String(), `"target":"203.0.113.50"`) {
		t.Errorf("the jail's rotated logs banned nobody:\n%s", stderr.String())
	}
	summary := stderr.String()
	if want := logs[3] + " (syslog) feeds no rule"; !strings.Contains(summary, want) {
		t.Errorf("the summary does not say %q:\n%s", want, summary)
	}
	for _, p := range logs[:3] {
		if strings.Contains(summary, p+" (syslog) feeds no rule") {
			t.Errorf("%s said to feed no rule:\n%s", p, summary)
		}
	}
}

// TestRunFollowsJailLogpaths: `stockade run --rules fail2ban:DIR` with no
// files follows the logpath of each enabled jail, and bans from it.
func TestRunFollowsJailLogpaths(t *testing.T) {
	logs := t.TempDir()
	log := filepath.Join(logs, "gate.log")
	conf := f2bConf(t, "[gate]\nenabled = true\nlogpath = "+log+"\n")
	out := filepath.Join(t.TempDir(), "decisions.jsonl")
	appendFile(t, log, "")
	ctx, cancel := context.WithCancel(t.Context())
	var stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"run", "--state", t.TempDir(), "--output", out, "--from-start", "--rules", "fail2ban:" + conf}, &bytes.Buffer{}, &stderr)
	}()
	stopped := false
	defer func() {
		cancel()
		if stopped {
			return
		}
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v\n%s", err, stderr.String())
			}
		case <-time.After(10 * time.Second):
			t.Error("the daemon did not stop within 10s of its cancel")
		}
	}()
	now := time.Now()
	for i := range 3 {
		appendFile(t, log, now.Add(time.Duration(i)*time.Second).Format(time.Stamp)+" web1 gated[7]: denied root from 203.0.113.50\n")
	}
	waitFor(t, 10*time.Second, "the ban of 203.0.113.50 from the jail's logpath", func() bool {
		select {
		case err := <-done:
			stopped = true
			t.Fatalf("run stopped: %v\n%s", err, stderr.String())
		default:
		}
		b, _ := os.ReadFile(out)
		return bytes.Contains(b, []byte(`"target":"203.0.113.50"`))
	})
}

// TestRulesSources: what `run --rules fail2ban:DIR` follows with no files:
// each enabled jail's logpath, once, and journald for a systemd jail;
// nothing for rules that name no log.
func TestRulesSources(t *testing.T) {
	conf := f2bConf(t, "[gate]\nenabled = true\nlogpath = /srv/a/gate.log\n         /srv/b/*.log\n\n"+
		"[gate-again]\nenabled = true\nfilter = gate\nlogpath = /srv/a/gate.log\n\n"+
		"[gate-journal]\nenabled = true\nfilter = gate\nbackend = systemd\n\n"+
		"[gate-off]\nfilter = gate\nlogpath = /srv/off.log\n")
	srcs, err := rulesSources([]string{"fail2ban:" + conf}, "", "end")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := describeSources(srcs), "/srv/a/gate.log, /srv/b/*.log, journald"; got != want {
		t.Errorf("followed %q, want %q", got, want)
	}
	if len(srcs) != 2 || srcs[0].Files == nil || srcs[0].Files.Start != "end" || srcs[1].Journald == nil {
		t.Errorf("sources %+v", srcs)
	}
	if srcs, err := rulesSources([]string{"default"}, "", "end"); err != nil || len(srcs) != 0 {
		t.Errorf("the built-in packs name logs to follow: %+v, %v", srcs, err)
	}
}
