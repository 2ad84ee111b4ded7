//go:build unix

package listen

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

// fakeJournal is a journalctl stand-in. Run number n prints the file outN,
// records its arguments and pid, then exits with the status in exitN if
// there is one, or sleeps until killed.
type fakeJournal struct {
	dir, path string
}

func newFakeJournal(t *testing.T) *fakeJournal {
	t.Helper()
	dir := t.TempDir()
	f := &fakeJournal{dir: dir, path: filepath.Join(dir, "journalctl")}
	script := fmt.Sprintf(`#!/bin/sh
d=%q
n=$(cat "$d/runs" 2>/dev/null || echo 0)
n=$((n+1))
echo $n > "$d/runs"
echo "$@" > "$d/args$n"
echo $$ > "$d/pid$n"
cat "$d/out$n" 2>/dev/null
if [ -e "$d/exit$n" ]; then exit $(cat "$d/exit$n"); fi
exec sleep 60
`, dir)
	if err := os.WriteFile(f.path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fakeJournal) set(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(f.dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (f *fakeJournal) get(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(f.dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// runJournald runs j until stop is called, which cancels it and checks that
// Run returns nil promptly.
func runJournald(t *testing.T, j *Journald) (out chan pipeline.Event, stop func()) {
	t.Helper()
	out = make(chan pipeline.Event, 100)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- j.Run(ctx, out) }()
	stopped := false
	stop = func() {
		t.Helper()
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run = %v, want nil on cancel", err)
			}
		case <-time.After(3 * time.Second):
			t.Fatal("Run did not return after cancel")
		}
	}
	t.Cleanup(stop)
	return out, stop
}

func gone(pid int) bool { return syscall.Kill(pid, 0) == syscall.ESRCH }

func TestJournald(t *testing.T) {
	f := newFakeJournal(t)
	records, err := os.ReadFile(filepath.Join("testdata", "journal.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	f.set(t, "out1", string(records))
	j := &Journald{Command: f.path, Args: []string{"-u", "ssh.service"}, Loc: time.UTC}
	out, stop := runJournald(t, j)

	evs := collect(t, out, 4)
	tests := []struct {
		msg, prog, host string
		pid             int
		time            time.Time
	}{
		{"Failed password for root from 203.0.113.45 port 22 ssh2", "sshd", "bastion", 2738, time.Date(2025, 11, 8, 22, 0, 1, 123456000, time.UTC)},
		{"Invalid user \xff\nfrom", "sshd", "", 77, time.Date(2025, 11, 8, 22, 0, 2, 0, time.UTC)},
		{"bare", "", "", 0, time.Date(2025, 11, 8, 22, 0, 4, 0, time.UTC)},
		{"first", "a", "", 0, time.Date(2025, 11, 8, 22, 0, 5, 0, time.UTC)},
	}
	for i, w := range tests {
		ev := evs[i]
		if ev.Message != w.msg || ev.Line != w.msg || ev.Program != w.prog || ev.Host != w.host || ev.PID != w.pid || !ev.Time.Equal(w.time) {
			t.Errorf("event %d = %q %q %q %d %v, want %q %q %q %d %v", i, ev.Message, ev.Program, ev.Host, ev.PID, ev.Time,
				w.msg, w.prog, w.host, w.pid, w.time)
		}
		if ev.Source != JournaldSource || ev.Format != pipeline.FormatSyslog || ev.Addr.IsValid() {
			t.Errorf("event %d: source %q format %v addr %v", i, ev.Source, ev.Format, ev.Addr)
		}
	}
	waitFor(t, "all records", func() bool { return j.Stats().Received == 8 })
	st := j.Stats()
	if st.Events != 4 || st.Bad["no message"] != 2 || st.Bad["bad json"] != 1 || st.Bad["no timestamp"] != 1 {
		t.Errorf("stats = %+v", st)
	}
	if got := f.get(t, "args1"); got != "-f -o json -u ssh.service" {
		t.Errorf("args = %q", got)
	}

	pid, _ := strconv.Atoi(f.get(t, "pid1"))
	if gone(pid) {
		t.Fatal("child gone before cancel")
	}
	stop()
	if !gone(pid) {
		t.Error("child still running after Run returned")
	}
}

// A child that dies is restarted after the last record it wrote.
func TestJournaldRestart(t *testing.T) {
	f := newFakeJournal(t)
	f.set(t, "out1", `{"__CURSOR":"s=1;i=1","__REALTIME_TIMESTAMP":"1762639201000000","MESSAGE":"one"}
{"__CURSOR":"s=1;i=2","__REALTIME_TIMESTAMP":"1762639202000000","MESSAGE":"two"}
`)
	f.set(t, "exit1", "1")
	f.set(t, "out2", `{"__CURSOR":"s=1;i=3","__REALTIME_TIMESTAMP":"1762639203000000","MESSAGE":"three"}
`)
	f.set(t, "exit2", "0")
	f.set(t, "out3", `{"__CURSOR":"s=1;i=4","__REALTIME_TIMESTAMP":"1762639204000000","MESSAGE":"four"}
`)
	j := &Journald{Command: f.path, Args: []string{"-n", "0", "--since=today", "-u", "ssh"}, backoff: 10 * time.Millisecond}
	out, stop := runJournald(t, j)
	var got []string
	for _, ev := range collect(t, out, 4) {
		got = append(got, ev.Message)
	}
	if fmt.Sprint(got) != "[one two three four]" {
		t.Errorf("messages = %v", got)
	}
	if a := f.get(t, "args1"); a != "-f -o json -n 0 --since=today -u ssh" {
		t.Errorf("first args = %q", a)
	}
	if a := f.get(t, "args2"); a != "-f -o json --after-cursor=s=1;i=2 -u ssh" {
		t.Errorf("args after a restart = %q", a)
	}
	if a := f.get(t, "args3"); a != "-f -o json --after-cursor=s=1;i=3 -u ssh" {
		t.Errorf("args after a second restart = %q", a)
	}
	pid, _ := strconv.Atoi(f.get(t, "pid3"))
	stop()
	if !gone(pid) {
		t.Error("child still running after Run returned")
	}
}

func TestJournaldNotInstalled(t *testing.T) {
	for _, cmd := range []string{filepath.Join(t.TempDir(), "journalctl"), "stockade-test-no-such-journalctl"} {
		start := time.Now()
		err := (&Journald{Command: cmd}).Run(t.Context(), make(chan pipeline.Event))
		if err == nil || !strings.Contains(err.Error(), "not installed") {
			t.Errorf("%s: err = %v, want not installed", cmd, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("%s: took %v to fail", cmd, d)
		}
	}
}

// A first child that fails without writing anything is a configuration
// error, reported with what it said, not retried for ever.
func TestJournaldFailsAtOnce(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "journalctl")
	script := "#!/bin/sh\necho \"journalctl: unrecognized option '--bogus'\" >&2\nexit 1\n"
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	err := (&Journald{Command: path, Args: []string{"--bogus"}}).Run(t.Context(), make(chan pipeline.Event))
	if err == nil || !strings.Contains(err.Error(), "unrecognized option") {
		t.Errorf("err = %v, want the child's complaint", err)
	}
	var exit interface{ ExitCode() int }
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Errorf("err = %v, want the exit status", err)
	}
}

func TestParseRecord(t *testing.T) {
	tests := []struct {
		name, in string
		msg      string
		prog     string
		pid      int
		cursor   string
		bad      string
	}{
		{name: "string", in: `{"MESSAGE":"hi","__REALTIME_TIMESTAMP":"1","__CURSOR":"c"}`, msg: "hi", cursor: "c"},
		{name: "bytes", in: `{"MESSAGE":[104,105],"__REALTIME_TIMESTAMP":"1"}`, msg: "hi"},
		{name: "empty bytes", in: `{"MESSAGE":[],"__REALTIME_TIMESTAMP":"1"}`, msg: ""},
		{name: "multi-valued bytes", in: `{"MESSAGE":[[104,105],"x"],"__REALTIME_TIMESTAMP":"1"}`, msg: "hi"},
		{name: "byte out of range", in: `{"MESSAGE":[256],"__REALTIME_TIMESTAMP":"1"}`, bad: "no message"},
		{name: "number message", in: `{"MESSAGE":5,"__REALTIME_TIMESTAMP":"1"}`, bad: "no message"},
		{name: "object message", in: `{"MESSAGE":{},"__REALTIME_TIMESTAMP":"1"}`, bad: "no message"},
		{name: "nested too deep", in: `{"MESSAGE":[[[104]]],"__REALTIME_TIMESTAMP":"1"}`, bad: "no message"},
		{name: "comm when no identifier", in: `{"MESSAGE":"m","_COMM":"sshd","__REALTIME_TIMESTAMP":"1"}`, msg: "m", prog: "sshd"},
		{name: "identifier over comm", in: `{"MESSAGE":"m","_COMM":"sshd-session","SYSLOG_IDENTIFIER":"sshd","__REALTIME_TIMESTAMP":"1"}`, msg: "m", prog: "sshd"},
		{name: "journald pid over claimed", in: `{"MESSAGE":"m","_PID":"5","SYSLOG_PID":"6","__REALTIME_TIMESTAMP":"1"}`, msg: "m", pid: 5},
		{name: "claimed pid", in: `{"MESSAGE":"m","SYSLOG_PID":"6","__REALTIME_TIMESTAMP":"1"}`, msg: "m", pid: 6},
		{name: "bad pid", in: `{"MESSAGE":"m","_PID":"x","__REALTIME_TIMESTAMP":"1"}`, msg: "m"},
		{name: "bad time", in: `{"MESSAGE":"m","__REALTIME_TIMESTAMP":"soon","__CURSOR":"c"}`, bad: "no timestamp", cursor: "c"},
		{name: "no time", in: `{"MESSAGE":"m"}`, bad: "no timestamp"},
		{name: "not an object", in: `[1,2]`, bad: "bad json"},
		{name: "truncated", in: `{"MESSAGE":"m`, bad: "bad json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ev pipeline.Event
			cursor, err := parseRecord([]byte(tt.in), time.UTC, &ev, new(Identity))
			if cursor != tt.cursor {
				t.Errorf("cursor = %q, want %q", cursor, tt.cursor)
			}
			if tt.bad != "" {
				var bl *pipeline.BadLine
				if !errors.As(err, &bl) || bl.Reason != tt.bad {
					t.Errorf("err = %v, want %q", err, tt.bad)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ev.Message != tt.msg || ev.Program != tt.prog || ev.PID != tt.pid {
				t.Errorf("event = %q %q %d, want %q %q %d", ev.Message, ev.Program, ev.PID, tt.msg, tt.prog, tt.pid)
			}
		})
	}
}

func TestWithoutStart(t *testing.T) {
	tests := []struct{ in, want string }{
		{"-u ssh", "-u ssh"},
		{"-n 0 -u ssh", "-u ssh"},
		{"-n -u ssh", "-u ssh"},
		{"-n5 --lines=7 --lines 3 -u ssh", "-u ssh"},
		{"--since today -S -1h --since=yesterday -S2025-01-01 -p warning", "-p warning"},
		{"--cursor x --after-cursor=y -c z --cursor-file f _COMM=sshd", "_COMM=sshd"},
	}
	for _, tt := range tests {
		if got := strings.Join(withoutStart(strings.Fields(tt.in)), " "); got != tt.want {
			t.Errorf("withoutStart(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// A record over the limit is counted and skipped; the next one is read.
func TestJournaldLongRecord(t *testing.T) {
	f := newFakeJournal(t)
	long := `{"__REALTIME_TIMESTAMP":"1762639201000000","MESSAGE":"` + strings.Repeat("x", maxRecord) + `"}`
	f.set(t, "out1", long+"\n"+`{"__REALTIME_TIMESTAMP":"1762639202000000","MESSAGE":"after"}`+"\n")
	j := &Journald{Command: f.path}
	out, _ := runJournald(t, j)
	if ev := collect(t, out, 1)[0]; ev.Message != "after" {
		t.Errorf("message = %q, want the record after the long one", ev.Message)
	}
	if st := j.Stats(); st.Received != 2 || st.Bad["message too long"] != 1 {
		t.Errorf("stats = %+v", st)
	}
}
