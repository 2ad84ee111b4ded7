package tail

import (
	"compress/gzip"
	"context"
	"errors"
	"io"
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
// before the new file at the path, which is read from its beginning; an
// old file compressed meanwhile (logrotate's compress without
// delaycompress) is read from its gzip archive. Where CrowdSec starts at
// the end and misses what was written while it was down, this loses
// nothing unless the old file is deleted (or compressed other than by
// gzip).
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
	sib := t.newSiblings(byPath)
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
				t.resumeRotated(sib, p, cp, cur)
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
func (t *Tailer) resumeRotated(sib *siblings, path string, cp Checkpoint, cur os.FileInfo) {
	fd, fi, fpLen := sib.find(path, cp.Fingerprint, cur)
	name := ""
	if fd != nil {
		name = fd.Name()
	} else {
		fd, fi, fpLen, name = sib.findArchive(path, cp)
	}
	if fd == nil {
		t.log.Warn("file rotated while we were down and its old version is not found (deleted, or compressed other than by gzip): "+
			"its lines after the checkpoint are lost; reading the new file from its beginning",
			"path", path, "offset", cp.Offset)
		return
	}
	if fi.Size() < cp.Offset {
		t.log.Warn("rotated file is shorter than its checkpoint: not resumed", "path", name, "source", path,
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
		source: path, path: name, fd: fd, id: fi,
		fp: cp.Fingerprint, fpLen: fpLen, checked: fi.Size(),
		offset: cp.Offset, readPos: cp.Offset,
		moved: true, retired: true, lastData: time.Now(),
	}
	t.add(f, false)
	t.log.Info("file rotated while we were down: finishing its old version first", "path", path,
		"old", name, "offset", cp.Offset, "size", fi.Size())
	if t.cfg.Format != pipeline.FormatUnknown {
		t.setFormat(f, t.cfg.Format)
	}
}

// siblings are what start looks through for the old files of logs
// rotated while the daemon was down: each directory is listed once, its
// files' fingerprints read once, at the first checkpoint that needs them.
// With thousands of logs rotated while it was down (a host's virtual
// hosts, at midnight), each looking through its directory and opening
// every file the globs match there made the start quadratic: 2,000 logs
// took 40 s before their lines were read.
type siblings struct {
	t     *Tailer
	bases map[string]map[string]bool // the checkpoints' base names by directory
	dirs  map[string]*dirIndex
}

// dirIndex is one directory's files that may be an old file: by
// fingerprint those a glob matches or that have a rotated name of a
// checkpoint's path there, and the gzip archives by the base name they
// are a rotation of; each in the directory's order.
type dirIndex struct {
	byFP     map[uint64][]string
	archives map[string][]string
}

func (t *Tailer) newSiblings(byPath map[string][]Checkpoint) *siblings {
	sib := &siblings{t: t, bases: map[string]map[string]bool{}, dirs: map[string]*dirIndex{}}
	for p := range byPath {
		dir, base := filepath.Split(p)
		if sib.bases[dir] == nil {
			sib.bases[dir] = map[string]bool{}
		}
		sib.bases[dir][base] = true
	}
	return sib
}

// rotationOf calls f with each base of the directory name is a rotated
// name of (see rotatedName).
func (s *siblings) rotationOf(dir, name string, f func(base string)) {
	for i := 1; i < len(name); i++ {
		if strings.IndexByte(".-_", name[i]) >= 0 && s.bases[dir][name[:i]] {
			f(name[:i])
		}
	}
}

func (s *siblings) index(dir string) *dirIndex {
	if d := s.dirs[dir]; d != nil {
		return d
	}
	d := &dirIndex{byFP: map[uint64][]string{}, archives: map[string][]string{}}
	s.dirs[dir] = d
	entries, err := os.ReadDir(filepath.Clean(dir))
	if err != nil {
		return d
	}
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() {
			continue
		}
		if stem, ok := strings.CutSuffix(name, ".gz"); ok {
			s.rotationOf(dir, stem, func(base string) { d.archives[base] = append(d.archives[base], name) })
			continue
		}
		if isArchive(name) {
			continue
		}
		candidate := s.t.matchGlob(filepath.Join(dir, name))
		s.rotationOf(dir, name, func(string) { candidate = true })
		if !candidate {
			continue
		}
		if fp, _ := headFingerprint(filepath.Join(dir, name), s.t.buf[:maxFingerprint]); fp != 0 {
			d.byFP[fp] = append(d.byFP[fp], name)
		}
	}
	return d
}

func headFingerprint(path string, buf []byte) (uint64, int) {
	fd, err := os.Open(path)
	if err != nil {
		return 0, 0
	}
	defer fd.Close()
	n, _ := fd.ReadAt(buf, 0)
	return fingerprint(buf[:n])
}

// find opens the file in path's directory whose fingerprint is fp: a
// rotated name of path (path.1, path-20250101, path.0), else any file the
// globs match there (logs of one kind often begin alike: another host's
// log is never taken while the path's own rotation is there). Archives
// are not looked into (see archiveExts), nor is cur, the file now at path.
func (s *siblings) find(path string, fp uint64, cur os.FileInfo) (*os.File, os.FileInfo, int) {
	dir, base := filepath.Split(path)
	names := s.index(dir).byFP[fp]
	for _, rotated := range []bool{true, false} {
		for _, name := range names {
			if name != base && rotatedName(name, base) == rotated && (rotated || s.t.matchGlob(filepath.Join(dir, name))) {
				if fd, fi, n := s.open(filepath.Join(dir, name), fp, cur); fd != nil {
					return fd, fi, n
				}
			}
		}
	}
	return nil, nil, 0
}

// open opens the file at full if it is fp's and not cur.
func (s *siblings) open(full string, fp uint64, cur os.FileInfo) (*os.File, os.FileInfo, int) {
	fd, err := os.Open(full)
	if err != nil {
		return nil, nil, 0
	}
	fi, err := fd.Stat()
	if err == nil && fi.Mode().IsRegular() && (cur == nil || !os.SameFile(fi, cur)) {
		// Read again: the index was read before this file was opened.
		n, _ := fd.ReadAt(s.t.buf[:maxFingerprint], 0)
		if got, fpLen := fingerprint(s.t.buf[:n]); got == fp {
			return fd, fi, fpLen
		}
	}
	fd.Close()
	return nil, nil, 0
}

// rotatedName reports whether name is a rotated name of base: base.1,
// base-20250101, base_old.
func rotatedName(name, base string) bool {
	return len(name) > len(base) && strings.HasPrefix(name, base) && strings.ContainsRune(".-_", rune(name[len(base)]))
}

// findArchive looks among path's rotated names compressed with gzip
// (auth.log.1.gz, auth.log-20251108.gz) for the one whose content begins
// as the file of checkpoint cp did, and unpacks it (see unpack): the file,
// its fingerprint's length and the archive's name, or nil.
func (s *siblings) findArchive(path string, cp Checkpoint) (*os.File, os.FileInfo, int, string) {
	t := s.t
	dir, base := filepath.Split(path)
	for _, name := range s.index(dir).archives[base] {
		full := filepath.Join(dir, name)
		fp, fpLen := archiveFingerprint(full, t.buf[:maxFingerprint])
		if fp != cp.Fingerprint {
			continue
		}
		fd, err := unpack(full, cp.Offset)
		if err != nil {
			t.log.Warn("cannot unpack the rotated file's archive: its lines after the checkpoint are lost",
				"path", path, "archive", full, "offset", cp.Offset, "err", err)
			return nil, nil, 0, ""
		}
		fi, err := fd.Stat()
		if err != nil {
			fd.Close()
			return nil, nil, 0, ""
		}
		return fd, fi, fpLen, full
	}
	return nil, nil, 0, ""
}

// archiveFingerprint is the fingerprint of the content of the gzip archive
// at path, read into buf.
func archiveFingerprint(path string, buf []byte) (uint64, int) {
	a, err := os.Open(path)
	if err != nil {
		return 0, 0
	}
	defer a.Close()
	zr, err := gzip.NewReader(a)
	if err != nil {
		return 0, 0
	}
	n, _ := io.ReadFull(zr, buf)
	return fingerprint(buf[:n])
}

// unpack writes the content of the gzip archive at path to a temporary
// file, removed at once (it goes when it is closed), laid out as the log
// was: its head, which detection and the fingerprint read, then from
// offset on the lines not read yet; the bytes between, read before the
// daemon stopped, are a hole that takes no disk. An archive cut short
// gives what it holds.
func unpack(path string, offset int64) (*os.File, error) {
	a, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer a.Close()
	zr, err := gzip.NewReader(a)
	if err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp("", "stockade-rotated-*")
	if err != nil {
		return nil, err
	}
	os.Remove(tmp.Name())
	// The archive's end, cut short or not, ends the file: one shorter
	// than the checkpoint is the caller's to say.
	ended := func(err error) bool { return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) }
	head := min(offset, headSize)
	_, err = io.CopyN(tmp, zr, head)
	if err == nil && offset > head {
		if _, err = io.CopyN(io.Discard, zr, offset-head); err == nil {
			_, err = tmp.Seek(offset, io.SeekStart)
		}
	}
	if err == nil {
		_, err = io.Copy(tmp, zr)
	}
	if err != nil && !ended(err) {
		tmp.Close()
		return nil, err
	}
	return tmp, nil
}
