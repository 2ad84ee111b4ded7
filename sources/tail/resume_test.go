package tail

import (
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/stockade-ids/stockade/pipeline"
)

// TestResumeSameFile stops a Tailer, appends while it is down, and starts
// another from the first one's checkpoints: it reads just the new lines.
func TestResumeSameFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.log")
	writeFile(t, path, authLines("a", 0, 20))
	h := start(t, Config{Globs: []string{path}})
	first := h.wait(20)
	h.stop()
	cps := h.tl.Checkpoints(nil)
	if len(cps) != 1 || cps[0] != (Checkpoint{path, fileFingerprint(t, path), first[19].Offset}) {
		t.Fatalf("checkpoints %+v", cps)
	}

	appendFile(t, path, authLines("a", 20, 30))
	h = start(t, Config{Globs: []string{path}, Checkpoints: cps, StartAtEnd: true})
	evs := h.wait(10)
	checkLines(t, append(first, evs...), map[string]int{"a": 30})
}

// TestResume starts from checkpoints that a daemon saved, after what
// happened to the files while it was down.
func TestResume(t *testing.T) {
	// upTo returns the offset just after line n of tag in a file of
	// authLines(tag, 0, ...).
	upTo := func(tag string, n int) int64 { return int64(len(authLines(tag, 0, n))) }

	for _, tc := range []struct {
		name string
		// setup writes the files in dir as they are on start, and returns
		// the checkpoints for path (dir/auth.log).
		setup func(t *testing.T, dir, path string) []Checkpoint
		want  map[string][2]int
	}{
		{
			name: "same file, saved mid-file",
			setup: func(t *testing.T, dir, path string) []Checkpoint {
				writeFile(t, path, authLines("a", 0, 30))
				return []Checkpoint{{path, fileFingerprint(t, path), upTo("a", 12)}}
			},
			want: map[string][2]int{"a": {12, 30}},
		},
		{
			name: "rotated while down",
			setup: func(t *testing.T, dir, path string) []Checkpoint {
				writeFile(t, path, authLines("old", 0, 20))
				cp := Checkpoint{path, fileFingerprint(t, path), upTo("old", 20)}
				appendFile(t, path, authLines("old", 20, 35)) // written after the save
				rename(t, path, path+".1")
				writeFile(t, path, authLines("new", 0, 15))
				// Decoys: an archive, an unrelated rotation, another file.
				writeGzip(t, path+".2.gz", authLines("old", 0, 35))
				writeFile(t, path+"-20251101", authLines("older", 0, 5))
				writeFile(t, filepath.Join(dir, "syslog"), authLines("other", 0, 5))
				return []Checkpoint{cp}
			},
			want: map[string][2]int{"old": {20, 35}, "new": {0, 15}},
		},
		{
			name: "rotated twice while down",
			setup: func(t *testing.T, dir, path string) []Checkpoint {
				writeFile(t, path, authLines("old", 0, 20))
				cp := Checkpoint{path, fileFingerprint(t, path), upTo("old", 10)}
				rename(t, path, path+"-20251108")
				writeFile(t, path+".1", authLines("mid", 0, 5)) // not ours: no checkpoint
				writeFile(t, path, authLines("new", 0, 15))
				return []Checkpoint{cp}
			},
			// The file between the two is lost (its fingerprint is
			// unknown), the old one finished, the new one read whole.
			want: map[string][2]int{"old": {10, 20}, "new": {0, 15}},
		},
		{
			name: "copytruncate while down",
			setup: func(t *testing.T, dir, path string) []Checkpoint {
				writeFile(t, path, authLines("old", 0, 30))
				cp := Checkpoint{path, fileFingerprint(t, path), upTo("old", 20)}
				b, _ := os.ReadFile(path)
				writeFile(t, path+".1", string(b))
				writeFile(t, path, authLines("new", 0, 15))
				return []Checkpoint{cp}
			},
			want: map[string][2]int{"old": {20, 30}, "new": {0, 15}},
		},
		{
			// logrotate's compress without delaycompress: the old file is
			// gone, its lines are in the archive. Read from the archive,
			// from the checkpoint on; another archive is not it.
			name: "rotated while down, old file compressed",
			setup: func(t *testing.T, dir, path string) []Checkpoint {
				writeFile(t, path, authLines("old", 0, 20))
				cp := Checkpoint{path, fileFingerprint(t, path), upTo("old", 10)}
				writeGzip(t, path+".1.gz", authLines("old", 0, 20))
				writeGzip(t, path+".2.gz", authLines("older", 0, 5))
				writeFile(t, path, authLines("new", 0, 15))
				return []Checkpoint{cp}
			},
			want: map[string][2]int{"old": {10, 20}, "new": {0, 15}},
		},
		{
			// The checkpoint far past the archive's head: the lines before
			// it are not read again (nor kept on disk).
			name: "rotated while down, compressed, checkpoint deep in it",
			setup: func(t *testing.T, dir, path string) []Checkpoint {
				writeFile(t, path, authLines("old", 0, 3000))
				cp := Checkpoint{path, fileFingerprint(t, path), upTo("old", 2500)}
				writeGzip(t, path+"-20251108.gz", authLines("old", 0, 3100)) // 100 more written after the save
				writeFile(t, path, authLines("new", 0, 15))
				return []Checkpoint{cp}
			},
			want: map[string][2]int{"old": {2500, 3100}, "new": {0, 15}},
		},
		{
			name: "stopped mid-rotation",
			setup: func(t *testing.T, dir, path string) []Checkpoint {
				// The old file was still being read for its grace period
				// when we stopped: the path has a checkpoint per file.
				writeFile(t, path+".1", authLines("old", 0, 30))
				writeFile(t, path, authLines("new", 0, 10))
				return []Checkpoint{
					{path, fileFingerprint(t, path), upTo("new", 5)},
					{path, fileFingerprint(t, path+".1"), upTo("old", 25)},
				}
			},
			want: map[string][2]int{"old": {25, 30}, "new": {5, 10}},
		},
		{
			name: "file was empty",
			setup: func(t *testing.T, dir, path string) []Checkpoint {
				writeFile(t, path, authLines("a", 0, 5))
				return []Checkpoint{{path, 0, 0}}
			},
			want: map[string][2]int{"a": {0, 5}},
		},
		{
			name: "truncated below the checkpoint",
			setup: func(t *testing.T, dir, path string) []Checkpoint {
				writeFile(t, path, authLines("a", 0, 30))
				cp := Checkpoint{path, fileFingerprint(t, path), upTo("a", 30)}
				writeFile(t, path, authLines("a", 0, 5))
				return []Checkpoint{cp}
			},
			want: map[string][2]int{"a": {0, 5}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "auth.log")
			cps := tc.setup(t, dir, path)
			// StartAtEnd does not apply to a path with checkpoints.
			h := start(t, Config{Globs: []string{path}, Checkpoints: cps, StartAtEnd: true})
			n := 0
			for _, span := range tc.want {
				n += span[1] - span[0]
			}
			evs := h.wait(n)
			checkSpans(t, evs, tc.want)
			// The old file is finished before the new one is read.
			sawNew := false
			for _, ev := range evs {
				tag, _ := key(t, ev)
				sawNew = sawNew || tag == "new"
				if tag == "old" && sawNew {
					t.Fatalf("old line after new ones")
				}
				if ev.Source != path || ev.Format != pipeline.FormatSyslog {
					t.Errorf("source %s format %v", ev.Source, ev.Format)
				}
			}
		})
	}
}

// TestCheckpointsApplied turns the offsets of applied events into
// checkpoints across a rotation: each gets the fingerprint of the file its
// line came from.
func TestCheckpointsApplied(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "auth.log")
	writeFile(t, path, authLines("older", 0, 30))
	oldFP := fileFingerprint(t, path)
	h := start(t, Config{Globs: []string{path}})
	h.wait(30)
	rename(t, path, path+".1")
	writeFile(t, path, authLines("new", 0, 10))
	evs := h.wait(40)
	checkLines(t, evs, map[string]int{"older": 30, "new": 10})
	newFP := fileFingerprint(t, path)

	check := func(when string) {
		for _, tc := range []struct {
			name string
			ev   int
			fp   uint64
		}{
			{"old file, past the new file's end", 29, oldFP},
			{"old file, within the new file's length", 5, oldFP},
			{"new file", 39, newFP},
			{"new file, first line", 30, newFP},
		} {
			applied := map[string]int64{path: evs[tc.ev].Offset, filepath.Join(dir, "other.log"): 10}
			want := []Checkpoint{{path, tc.fp, evs[tc.ev].Offset}}
			if got := h.tl.Checkpoints(applied); !slices.Equal(got, want) {
				t.Errorf("%s, %s: %+v, want %+v", when, tc.name, got, want)
			}
		}
	}
	check("old file still open")
	waitFor(t, "the old file to be let go", func() bool { return len(h.tl.Checkpoints(nil)) == 1 })
	check("old file let go")
}

func rename(t *testing.T, from, to string) {
	t.Helper()
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
}

// TestUnpackKeepsOnlyWhatIsLeft: an archive unpacked to resume from a
// checkpoint holds, where the log held them, its head (for detection and
// the fingerprint) and the lines from the checkpoint on; what was read
// before is a hole: 20 MB of lines read before the stop take no disk.
func TestUnpackKeepsOnlyWhatIsLeft(t *testing.T) {
	dir := t.TempDir()
	content := authLines("old", 0, 200_000) // about 20 MB
	offset := int64(len(authLines("old", 0, 199_000)))
	archive := filepath.Join(dir, "auth.log.1.gz")
	writeGzip(t, archive, content)
	fd, err := unpack(archive, offset)
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	fi, err := fd.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != int64(len(content)) {
		t.Fatalf("unpacked %d bytes, the log held %d", fi.Size(), len(content))
	}
	head := make([]byte, headSize)
	if _, err := fd.ReadAt(head, 0); err != nil || string(head) != content[:headSize] {
		t.Fatalf("the head is not the log's: %v", err)
	}
	rest := make([]byte, int64(len(content))-offset)
	if _, err := fd.ReadAt(rest, offset); err != nil || string(rest) != content[offset:] {
		t.Fatalf("the lines from the checkpoint on are not the log's: %v", err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Blocks*512 > 2*(headSize+int64(len(rest)))+1<<20 {
		t.Errorf("%d bytes on disk for %d of head and lines left: the lines read before were written", st.Blocks*512, headSize+int64(len(rest)))
	}
	if _, err := os.Stat(fd.Name()); !os.IsNotExist(err) {
		t.Errorf("the unpacked file is left in the temporary directory: %v", err)
	}
}

// TestResumeRotatedAmongLookAlikes: logs of one kind often begin with the
// same line (a monitor's probe, logged by every virtual host in the same
// second). A log rotated while the daemon was down is finished from its
// own rotated file, never from another log the glob matches that happens
// to begin alike and comes first in the directory.
func TestResumeRotatedAmongLookAlikes(t *testing.T) {
	dir := t.TempDir()
	probe := authLine("probe", 0)
	a, b := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	writeFile(t, a, probe+authLines("a", 1, 10)) // followed, not rotated
	writeFile(t, b, probe)
	fp := fileFingerprint(t, b)
	cps := []Checkpoint{
		{a, fp, int64(len(probe + authLines("a", 1, 10)))},
		{b, fp, int64(len(probe))},
	}
	appendFile(t, b, authLines("b", 1, 10)) // written after the save
	rename(t, b, b+".1")
	writeFile(t, b, authLines("c", 0, 5))

	h := start(t, Config{Globs: []string{filepath.Join(dir, "*.log")}, Checkpoints: cps})
	evs := h.wait(14)
	checkSpans(t, evs, map[string][2]int{"b": {1, 10}, "c": {0, 5}})
	for _, ev := range evs {
		if tag, _ := key(t, ev); tag == "b" && ev.Source != b {
			t.Errorf("b's old line from %s", ev.Source)
		}
	}
}
