package tail

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/sources"
)

// archiveExts are compressed rotations. They are not tailed even when a glob
// matches them: their lines were read while they were the live file, and
// nobody appends to a compressed stream.
var archiveExts = []string{".gz", ".bz2", ".xz", ".zst"}

func isArchive(name string) bool {
	for _, ext := range archiveExts {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}

// resume is where the first scan starts the file found at a path that has
// checkpoints.
type resume struct {
	fromStart bool // rotated while we were down: the file there is new
	fp        uint64
	offset    int64
}

// expand returns the paths the globs match now, sorted, archives left out.
func (t *Tailer) expand() []string {
	var out []string
	for _, g := range t.cfg.Globs {
		m, _ := filepath.Glob(g) // the pattern was checked by New
		for _, p := range m {
			if !isArchive(p) {
				out = append(out, p)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func (t *Tailer) matchGlob(path string) bool {
	for _, g := range t.cfg.Globs {
		if ok, _ := filepath.Match(g, path); ok {
			return true
		}
	}
	return false
}

// fileKey is a file's identity, what os.SameFile compares on Linux.
type fileKey struct{ dev, ino uint64 }

func keyOf(fi os.FileInfo) (fileKey, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileKey{}, false
	}
	return fileKey{uint64(st.Dev), uint64(st.Ino)}, true
}

// byID returns the follower of the file fi describes, if any. Each scan
// asks it once per matched path, so it is a look-up, not a walk of the
// followers: with thousands of logs (a host's virtual hosts) a walk made
// every scan quadratic, half a core at rest for 5,000 files.
func (t *Tailer) byID(fi os.FileInfo) *follower {
	if k, ok := keyOf(fi); ok {
		return t.ids[k]
	}
	for _, f := range t.files {
		if os.SameFile(f.id, fi) {
			return f
		}
	}
	return nil
}

// scan matches the globs against the files there are now. A followed file
// its path no longer leads to was renamed away or deleted: it is read to
// its end before any new file is opened, so the old file's lines come
// first, and then for a grace period (see graceFactor); if no glob matches
// its new name, it is let go after that. A path that leads to a file not
// followed yet is a new file, read from its beginning; on the first scan
// (plan non-nil), from its checkpoint or, with StartAtEnd, its end.
func (t *Tailer) scan(ctx context.Context, w *watcher, plan map[string]resume) error {
	w.watchDirs(t.cfg.Globs)
	var fresh []string
	claimed := make(map[*follower]bool, len(t.files))
	for _, p := range t.expand() {
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		f := t.byID(fi)
		if f == nil {
			fresh = append(fresh, p)
			continue
		}
		// A file at two matched paths (a hard link) is where its source is.
		if !claimed[f] || p == f.source {
			f.path = p
		}
		f.scanSize, f.scanned = fi.Size(), true
		claimed[f] = true
	}
	for _, f := range t.files {
		moved := !claimed[f] || f.path != f.source
		if moved && !f.moved {
			f.lastData = time.Now()
			if f.stats.cur == f {
				f.stats.rotations.Add(1)
			}
			t.log.Info("file renamed away or deleted: reading it to its end", "source", f.source, "path", f.path, "offset", f.offset)
			if _, err := t.read(ctx, f, 0); err != nil {
				return err
			}
		}
		f.moved = moved
		f.retired = !claimed[f]
	}
	for _, p := range fresh {
		if err := t.open(ctx, p, plan); err != nil {
			return err
		}
	}
	w.setNames(t.files)
	return nil
}

// open starts following the file at path, unless it is followed already
// (it was renamed there, or hard-linked).
func (t *Tailer) open(ctx context.Context, path string, plan map[string]resume) error {
	fd, err := os.Open(path)
	if err != nil {
		// Said once per path and error, not at every poll.
		if msg := err.Error(); t.openErrs[path] != msg {
			t.openErrs[path] = msg
			t.log.Warn("cannot open file: trying again on every scan", "path", path, "err", err)
		}
		return nil
	}
	delete(t.openErrs, path)
	fi, err := fd.Stat()
	if err != nil || !fi.Mode().IsRegular() || t.byID(fi) != nil {
		fd.Close()
		return nil
	}
	size := fi.Size()
	n, _ := fd.ReadAt(t.buf[:maxFingerprint], 0)
	fp, fpLen := fingerprint(t.buf[:n])
	f := &follower{source: path, path: path, fd: fd, id: fi, fp: fp, fpLen: fpLen, checked: size, lastData: time.Now()}
	from := "beginning"
	if plan != nil {
		if r, ok := plan[path]; ok {
			switch {
			case r.fromStart:
				from = "beginning (rotated while we were down)"
			case fp != r.fp:
				from = "beginning (rotated since start)"
			case size < r.offset:
				from = "beginning (truncated while we were down)"
			default:
				f.offset, from = r.offset, "checkpoint"
			}
		} else if t.cfg.StartAtEnd {
			f.offset, f.skipping = t.lineEnd(fd, size)
			from = "end"
		}
	}
	f.readPos = f.offset
	t.add(f, true)
	t.log.Info("following file", "path", path, "from", from, "offset", f.offset, "size", size)
	if t.cfg.Format != pipeline.FormatUnknown {
		t.setFormat(f, t.cfg.Format)
	}
	if from == "end" {
		// A file started at its end has no checkpoint yet: if lines came
		// and their effects were lost in a crash before the first save, a
		// restart would start at the (new) end again and skip them. A
		// position event, sent before any line of the file, lets the
		// daemon save where this file started first.
		select {
		case t.out <- pipeline.Event{Source: path, Offset: f.offset}:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// lineEnd is where a file of the given size is started at its end: after
// its last '\n', so that a line being written as we start is read whole
// once complete. Inside a line longer than MaxLine it is the end, skipping
// that line's rest.
func (t *Tailer) lineEnd(fd *os.File, size int64) (int64, bool) {
	from := max(0, size-sources.MaxLine)
	n, _ := fd.ReadAt(t.buf[:size-from], from)
	if i := bytes.LastIndexByte(t.buf[:n], '\n'); i >= 0 {
		return from + int64(i) + 1, false
	}
	if from == 0 {
		return 0, false
	}
	return size, true
}

// add registers f under its source path; a current file is the one whose
// position that path's stats show.
func (t *Tailer) add(f *follower, current bool) {
	f.stats = t.statsFor(f.source)
	if current {
		f.stats.makeCurrent(f)
	}
	t.mu.Lock()
	t.files = append(t.files, f)
	t.bySource[f.source] = append(t.bySource[f.source], f)
	t.mu.Unlock()
	if k, ok := keyOf(f.id); ok {
		t.ids[k] = f
	}
	f.publish()
}

// readFiles reads the files a write was seen to. One with more than a
// budget to read is read in turns with the others, as readAll does.
func (t *Tailer) readFiles(ctx context.Context, fs []*follower) error {
	for _, f := range fs {
		if f.done {
			continue
		}
		more, err := t.read(ctx, f, budget)
		if err != nil {
			return err
		}
		if more {
			return t.readAll(ctx)
		}
	}
	return nil
}

// readAll reads every file until none has more, one budget at a time so a
// long backlog does not starve the others. Then rotated files that have
// been quiet for the grace period get their partial last line emitted, and
// are let go unless a glob still matches them.
func (t *Tailer) readAll(ctx context.Context) error {
	for {
		more := false
		for _, f := range t.files {
			m, err := t.read(ctx, f, budget)
			if err != nil {
				return err
			}
			more = more || m
		}
		if !more {
			break
		}
	}
	var done []*follower
	for _, f := range t.files {
		if f.moved && time.Since(f.lastData) >= t.grace {
			if err := t.finish(ctx, f); err != nil {
				return err
			}
			if f.retired {
				done = append(done, f)
			}
		}
	}
	for _, f := range done {
		t.log.Info("done with file renamed away or deleted", "source", f.source, "path", f.path, "offset", f.offset)
		f.fd.Close()
		t.forget(f)
	}
	return nil
}
