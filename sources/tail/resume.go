package tail

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

// start applies the checkpoints, then scans for the first time.
//
// A checkpoint whose fingerprint is the file's now at its path continues
// that file at its offset. One whose fingerprint differs names a file that
// was rotated while we were down: it is looked for among the path's
// siblings (auth.log.1, auth.log-20250101, or any file the globs match in
// the same directory) by fingerprint, and read from the offset to its end
// before the new file at the path, which is read from its beginning. Where
// CrowdSec starts at the end and misses what was written while it was down,
// this loses nothing unless the old file is gone (compressed or deleted).
func (t *Tailer) start(ctx context.Context, w *watcher) error {
	byPath := map[string][]Checkpoint{}
	for _, cp := range t.cfg.Checkpoints {
		if !t.matchGlob(cp.Path) {
			t.log.Debug("checkpoint for a path no glob matches: ignored", "path", cp.Path)
			continue
		}
		byPath[cp.Path] = append(byPath[cp.Path], cp)
	}
	plan := map[string]resume{}
	for _, p := range slices.Sorted(maps.Keys(byPath)) {
		var (
			cur   os.FileInfo
			curFP uint64
		)
		if fd, err := os.Open(p); err == nil {
			if fi, err := fd.Stat(); err == nil && fi.Mode().IsRegular() {
				cur = fi
				n, _ := fd.ReadAt(t.buf[:maxFingerprint], 0)
				curFP, _ = fingerprint(t.buf[:n])
			}
			fd.Close()
		}
		r := resume{fromStart: true}
		for _, cp := range byPath[p] {
			switch {
			case cur != nil && cp.Fingerprint != 0 && cp.Fingerprint == curFP:
				// Duplicates of one file's checkpoint: the furthest wins.
				if r.fromStart || cp.Offset > r.offset {
					r = resume{fp: curFP, offset: cp.Offset}
				}
			case cp.Fingerprint == 0:
				// Nothing of that file was consumed: it was empty.
			default:
				t.resumeRotated(p, cp, cur)
			}
		}
		plan[p] = r
	}
	// The old files first, so their lines come before the new ones'.
	for _, f := range t.files {
		if _, err := t.read(ctx, f, 0); err != nil {
			return err
		}
	}
	return t.scan(ctx, w, plan)
}

// resumeRotated finds the old file of checkpoint cp among the siblings of
// path and follows it from cp.Offset, as a rotated file: it is read to its
// end, then let go.
func (t *Tailer) resumeRotated(path string, cp Checkpoint, cur os.FileInfo) {
	fd, fi, fpLen := t.findSibling(path, cp.Fingerprint, cur)
	if fd == nil {
		t.log.Warn("file rotated while we were down and its old version is not found (compressed or deleted): "+
			"its lines after the checkpoint are lost; reading the new file from its beginning",
			"path", path, "offset", cp.Offset)
		return
	}
	if fi.Size() < cp.Offset {
		t.log.Warn("rotated file is shorter than its checkpoint: not resumed", "path", fd.Name(), "source", path,
			"offset", cp.Offset, "size", fi.Size())
		fd.Close()
		return
	}
	if f := t.byID(fi); f != nil {
		fd.Close()
		if cp.Offset > f.offset {
			f.offset, f.readPos = cp.Offset, cp.Offset
			f.publish()
		}
		return
	}
	f := &follower{
		source: path, path: fd.Name(), fd: fd, id: fi,
		fp: cp.Fingerprint, fpLen: fpLen, checked: fi.Size(),
		offset: cp.Offset, readPos: cp.Offset,
		moved: true, retired: true, lastData: time.Now(),
	}
	t.add(f, false)
	t.log.Info("file rotated while we were down: finishing its old version first", "path", path,
		"old", fd.Name(), "offset", cp.Offset, "size", fi.Size())
	if t.cfg.Format != pipeline.FormatUnknown {
		t.setFormat(f, t.cfg.Format)
	}
}

// findSibling opens the file in path's directory whose fingerprint is fp:
// a rotated name of path (path.1, path-20250101, path.0) or any file the
// globs match there. Archives are not looked into (see archiveExts), nor is
// cur, the file now at path.
func (t *Tailer) findSibling(path string, fp uint64, cur os.FileInfo) (*os.File, os.FileInfo, int) {
	dir, base := filepath.Split(path)
	entries, err := os.ReadDir(filepath.Clean(dir))
	if err != nil {
		return nil, nil, 0
	}
	for _, e := range entries {
		name := e.Name()
		full := filepath.Join(dir, name)
		if name == base || isArchive(name) || !e.Type().IsRegular() {
			continue
		}
		rotated := len(name) > len(base) && strings.HasPrefix(name, base) && strings.ContainsRune(".-_", rune(name[len(base)]))
		if !rotated && !t.matchGlob(full) {
			continue
		}
		fd, err := os.Open(full)
		if err != nil {
			continue
		}
		fi, err := fd.Stat()
		if err == nil && (cur == nil || !os.SameFile(fi, cur)) {
			n, _ := fd.ReadAt(t.buf[:maxFingerprint], 0)
			if got, fpLen := fingerprint(t.buf[:n]); got == fp {
				return fd, fi, fpLen
			}
		}
		fd.Close()
	}
	return nil, nil, 0
}
