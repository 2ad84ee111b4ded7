package tail

import (
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/sources"
)

// watchModes runs a test with inotify and with polling alone, which must
// find the same lines, only later.
var watchModes = []struct {
	name string
	opts []option
}{
	{"inotify", nil},
	{"poll", []option{pollOnly}},
}

func TestAppend(t *testing.T) {
	for _, m := range watchModes {
		t.Run(m.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "auth.log")
			first := authLines("a", 0, 3)
			writeFile(t, path, first)
			h := start(t, Config{Globs: []string{path}}, m.opts...)
			h.wait(3)
			appendFile(t, path, authLines("a", 3, 5))
			appendFile(t, path, authLines("a", 5, 7))
			evs := h.wait(7)
			checkLines(t, evs, map[string]int{"a": 7})

			var end int64
			for i, ev := range evs {
				end += int64(len(authLine("a", i)))
				if ev.Offset != end {
					t.Errorf("event %d: Offset %d, want %d", i, ev.Offset, end)
				}
				if ev.Source != path || ev.Format != pipeline.FormatSyslog || ev.Program != "sshd" {
					t.Errorf("event %d: source %q format %v program %q", i, ev.Source, ev.Format, ev.Program)
				}
				if want := strings.TrimSuffix(authLine("a", i), "\n"); ev.Line != want {
					t.Errorf("event %d: Line %q, want %q", i, ev.Line, want)
				}
			}
		})
	}
}

func TestPartialLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.log")
	line := authLine("a", 1)
	writeFile(t, path, authLine("a", 0)+line[:40])
	h := start(t, Config{Globs: []string{path}})
	if evs := h.wait(1); len(evs) != 1 {
		t.Fatalf("%d events before the line is complete, want 1", len(evs))
	}
	appendFile(t, path, line[40:len(line)-1]) // still no '\n'
	if evs := h.wait(1); len(evs) != 1 {
		t.Fatalf("%d events before the '\\n', want 1", len(evs))
	}
	appendFile(t, path, "\n")
	evs := h.wait(2)
	checkLines(t, evs, map[string]int{"a": 2})
	if evs[1].Line != strings.TrimSuffix(line, "\n") {
		t.Errorf("completed line: %q", evs[1].Line)
	}
}

// TestRenameRotation is logrotate's create mode: the old file is renamed,
// a new one created, and the writer keeps appending to the old one until it
// reopens its log. Every line arrives once, in order per file; the old
// file's partial last line is emitted once we are done with it.
func TestRenameRotation(t *testing.T) {
	for _, tc := range []struct {
		name string
		glob string // relative to the directory
	}{
		{"exact path", "auth.log"},
		// The rotated name matches too: the old file is still followed
		// under its new name, not read again from the start.
		{"glob matches the rotated name", "auth.log*"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "auth.log")
			old, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			defer old.Close()
			write := func(f *os.File, s string) {
				if _, err := f.WriteString(s); err != nil {
					t.Fatal(err)
				}
			}
			write(old, authLines("old", 0, 50))
			h := start(t, Config{Globs: []string{filepath.Join(dir, tc.glob)}})
			h.wait(50)

			// Lines just before the rotation, then the rotation and the
			// new file's first lines.
			write(old, authLines("old", 50, 100))
			if err := os.Rename(path, path+".1"); err != nil {
				t.Fatal(err)
			}
			cur, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			defer cur.Close()
			write(cur, authLines("new", 0, 50))
			// The new file is read only once the rotation was seen and the
			// old file read to its end; lines written to the old file
			// after that (the writer has not reopened its log yet) are
			// read in the grace period.
			h.wait(150)
			write(old, authLines("old", 100, 110))
			last := authLine("old", 110)
			write(old, last[:len(last)-1]) // never completed
			write(cur, authLines("new", 50, 100))

			evs := h.wait(211)
			checkLines(t, evs, map[string]int{"old": 111, "new": 100})
			for _, ev := range evs {
				if ev.Source != path { // the old file too: it was followed as auth.log
					t.Fatalf("Source %q", ev.Source)
				}
			}
			if tc.glob == "auth.log" {
				if st := h.stats(path); st.Rotations != 1 || st.Events != 211 {
					t.Errorf("stats: %+v", st)
				}
			}
		})
	}
}

func TestCopyTruncate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.log")
	writeFile(t, path, authLines("before", 0, 20))
	h := start(t, Config{Globs: []string{path}})
	h.wait(20)
	// logrotate copies the file, then truncates it in place; the writer
	// goes on at offset 0 (O_APPEND).
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, authLines("after", 0, 5))
	evs := h.wait(25)
	checkLines(t, evs, map[string]int{"before": 20, "after": 5})
	if got, want := evs[24].Offset, int64(len(authLines("after", 0, 5))); got != want {
		t.Errorf("last offset %d, want %d", got, want)
	}
	if st := h.stats(path); st.Truncations != 1 {
		t.Errorf("truncations: %d", st.Truncations)
	}
}

// TestTruncateRegrown: the file was truncated and has regrown past the read
// offset before we looked: its first line tells.
func TestTruncateRegrown(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.log")
	writeFile(t, path, authLines("before", 0, 5))
	h := start(t, Config{Globs: []string{path}}, pollOnly)
	h.wait(5)
	// One write, so the file never looks shorter than the offset.
	writeFile(t, path, authLines("after", 0, 20))
	evs := h.wait(25)
	checkLines(t, evs, map[string]int{"before": 5, "after": 20})
}

func TestDeleteRecreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.log")
	writeFile(t, path, authLines("first", 0, 10))
	h := start(t, Config{Globs: []string{path}})
	h.wait(10)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the deleted file to be let go", func() bool { return len(h.tl.Checkpoints(nil)) == 0 })
	writeFile(t, path, authLines("second", 0, 5))
	evs := h.wait(15)
	checkLines(t, evs, map[string]int{"first": 10, "second": 5})
}

func TestGlobNewFile(t *testing.T) {
	dir := t.TempDir()
	auth := filepath.Join(dir, "auth.log")
	access := filepath.Join(dir, "access.log")
	writeFile(t, auth, authLines("auth", 0, 3))
	writeGzip(t, filepath.Join(dir, "auth.log.2.gz"), authLines("archived", 0, 3))
	h := start(t, Config{Globs: []string{filepath.Join(dir, "*")}, StartAtEnd: true})
	waitFor(t, "auth.log followed", func() bool { return h.stats(auth).Size > 0 })

	// A file that appears later is read from its beginning, even with
	// StartAtEnd, and gets its own format.
	var lines strings.Builder
	for i := range 4 {
		lines.WriteString(accessLine(i))
	}
	writeFile(t, access, lines.String())
	appendFile(t, auth, authLines("auth", 3, 5))
	evs := h.wait(6)
	var nginx, syslog int
	for _, ev := range evs {
		switch {
		case ev.Source == access && ev.Format == pipeline.FormatNginx && ev.Method == "POST":
			nginx++
		case ev.Source == auth && ev.Format == pipeline.FormatSyslog:
			syslog++
		default:
			t.Errorf("unexpected event from %s (%v): %q", ev.Source, ev.Format, ev.Line)
		}
	}
	if nginx != 4 || syslog != 2 {
		t.Errorf("%d nginx events, %d syslog events: want 4 and 2", nginx, syslog)
	}
	for _, st := range h.tl.Stats() {
		if strings.HasSuffix(st.Path, ".gz") {
			t.Errorf("compressed file followed: %+v", st)
		}
	}
}

func writeGzip(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	zw.Write([]byte(s))
	zw.Close()
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestStartAtEnd(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.log")
	partial := authLine("a", 10)
	// The line being written as we start is read once complete.
	writeFile(t, path, authLines("old", 0, 10)+partial[:30])
	h := start(t, Config{Globs: []string{path}, StartAtEnd: true})
	waitFor(t, "auth.log followed", func() bool { return h.stats(path).Size > 0 })
	appendFile(t, path, partial[30:]+authLines("a", 11, 14))
	evs := h.wait(4)
	if len(evs) != 4 {
		t.Fatalf("%d events, want 4", len(evs))
	}
	// Before any line: where the file was started, to be saved at once.
	h.mu.Lock()
	pos := h.positions
	h.mu.Unlock()
	if want := int64(len(authLines("old", 0, 10))); len(pos) != 1 || pos[0].Source != path || pos[0].Offset != want {
		t.Errorf("position events %+v, want one at offset %d", pos, want)
	}
	for i, ev := range evs {
		if tag, n := key(t, ev); tag != "a" || n != 10+i {
			t.Errorf("event %d: %s-%d", i, tag, n)
		}
	}
}

func TestDetectEmptyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	writeFile(t, path, "")
	h := start(t, Config{Globs: []string{path}})
	waitFor(t, "access.log followed", func() bool { return len(h.tl.Stats()) == 1 })
	line := accessLine(0)
	appendFile(t, path, line[:20]) // too little to tell
	time.Sleep(5 * testPoll)
	if st := h.stats(path); st.Format != pipeline.FormatUnknown {
		t.Fatalf("format %v from a partial line", st.Format)
	}
	appendFile(t, path, line[20:]+accessLine(1)+accessLine(2))
	evs := h.wait(3)
	if len(evs) != 3 {
		t.Fatalf("%d events, want 3", len(evs))
	}
	for _, ev := range evs {
		if ev.Format != pipeline.FormatNginx || !ev.Addr.IsValid() {
			t.Errorf("event %q: format %v addr %v", ev.Line, ev.Format, ev.Addr)
		}
	}
	if st := h.stats(path); st.Format != pipeline.FormatNginx {
		t.Errorf("stats format %v", st.Format)
	}
}

func TestLongLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.log")
	writeFile(t, path, authLine("a", 0))
	h := start(t, Config{Globs: []string{path}})
	h.wait(1)
	// 200 KB written in pieces, so the tailer meets it partial, across
	// several reads and polls.
	long := "2025-11-08T22:00:00.000000+00:00 web1 sshd[1]: " + strings.Repeat("x", 200<<10)
	for i := 0; i < len(long); i += 50 << 10 {
		appendFile(t, path, long[i:min(i+50<<10, len(long))])
		time.Sleep(2 * testPoll)
	}
	appendFile(t, path, "\n"+authLine("a", 1))
	evs := h.wait(2)
	checkLines(t, evs, map[string]int{"a": 2})
	fi, _ := os.Stat(path)
	st := h.stats(path)
	if st.Lines != 3 || st.Events != 2 || st.Bad["line too long"] != 1 || st.Offset != fi.Size() {
		t.Errorf("stats: %+v, size %d", st, fi.Size())
	}
	// Just under the limit is a line like any other.
	edge := "2025-11-08T22:00:00.000000+00:00 web1 sshd[1]: "
	edge += strings.Repeat("y", sources.MaxLine-1-len(edge))
	appendFile(t, path, edge+"\n")
	if evs := h.wait(3); len(evs) != 3 || len(evs[2].Line) != sources.MaxLine-1 {
		t.Errorf("a line of MaxLine bytes with its '\\n' was not read whole")
	}
}

// TestCancel: with nobody reading out, Run blocks on the send, not on
// memory, and returns nil promptly when cancelled, having sent nothing.
func TestCancel(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.log")
	writeFile(t, path, authLines("a", 0, 1000))
	tl, err := New(Config{Globs: []string{path}, Poll: testPoll})
	if err != nil {
		t.Fatal(err)
	}
	goroutines := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tl.Run(ctx, make(chan pipeline.Event)) }()
	waitFor(t, "the first line read", func() bool { return len(tl.Stats()) == 1 && tl.Stats()[0].Lines == 1 })
	began := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run returned %v on cancel", err)
		}
		if d := time.Since(began); d > time.Second {
			t.Errorf("Run took %v to return", d)
		}
	case <-time.After(deadline):
		t.Fatal("Run did not return after cancel")
	}
	if cps := tl.Checkpoints(nil); len(cps) != 1 || cps[0].Offset != 0 {
		t.Errorf("checkpoints after cancel: %+v, want offset 0: nothing was sent", cps)
	}
	// Nothing left behind: the inotify watcher's goroutine ends with Run.
	waitFor(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= goroutines })
	if err := tl.Run(t.Context(), nil); err == nil {
		t.Error("a second Run did not fail")
	}
}

func TestStats(t *testing.T) {
	dir := t.TempDir()
	auth := filepath.Join(dir, "auth.log")
	eve := filepath.Join(dir, "eve.json")
	junk := filepath.Join(dir, "junk.log")
	writeFile(t, auth, authLines("a", 0, 20)+"Nov 99 25:61:00 garbage\n"+authLine("a", 20)+"\n\n"+"not a syslog line at all\n")
	evelines, err := os.ReadFile("../../testdata/replay/eve.json")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, eve, string(evelines))
	writeFile(t, junk, strings.Repeat("what is this\n", 30))
	h := start(t, Config{Globs: []string{filepath.Join(dir, "*")}})
	waitFor(t, "eve.json read", func() bool {
		st := h.stats(eve)
		return st.Size > 0 && st.Offset == st.Size
	})
	evs := h.wait(21)

	st := h.stats(auth)
	fi, _ := os.Stat(auth)
	var bad uint64
	for _, n := range st.Bad {
		bad += n
	}
	if st.Format != pipeline.FormatSyslog || st.Lines != 23 || st.Events != 21 || bad != 2 ||
		st.Offset != fi.Size() || st.Size != fi.Size() || st.Fingerprint != fileFingerprint(t, auth) || st.Fingerprint == 0 {
		t.Errorf("auth.log stats: %+v", st)
	}
	st = h.stats(eve)
	var alerts uint64
	for _, ev := range evs {
		if ev.Source == eve {
			alerts++
		}
	}
	if st.Format != pipeline.FormatEve || st.Skipped == 0 || st.Events != alerts || st.Events+st.Skipped+sum(st.Bad) != st.Lines {
		t.Errorf("eve.json stats: %+v (%d alerts received)", st, alerts)
	}
	if st := h.stats(junk); st.Format != pipeline.FormatUnknown || st.Lines != 0 {
		t.Errorf("junk.log stats: %+v", st)
	}
}

func sum(m map[string]uint64) uint64 {
	var n uint64
	for _, v := range m {
		n += v
	}
	return n
}

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"no globs", Config{}},
		{"bad glob", Config{Globs: []string{"/var/log/[a"}}},
		{"bad format", Config{Globs: []string{"x"}, Format: 99}},
		{"negative offset", Config{Globs: []string{"x"}, Checkpoints: []Checkpoint{{Path: "x", Offset: -1}}}},
	} {
		if _, err := New(tc.cfg); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

func TestFingerprint(t *testing.T) {
	long := strings.Repeat("z", 5000)
	for _, tc := range []struct {
		head string
		n    int
	}{
		{"", 0},
		{"partial", 0},
		{"line\nmore", 5},
		{"\n", 1},
		{long, maxFingerprint},
	} {
		fp, n := fingerprint([]byte(tc.head))
		if n != tc.n || (n == 0) != (fp == 0) {
			t.Errorf("fingerprint(%.10q) = %x, %d; want n %d", tc.head, fp, n, tc.n)
		}
	}
	a, _ := fingerprint([]byte("line\nmore"))
	b, _ := fingerprint([]byte("line\nother"))
	c, _ := fingerprint([]byte("line2\n"))
	if a != b || a == c {
		t.Errorf("fingerprints: %x %x %x", a, b, c)
	}
}
