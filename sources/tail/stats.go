package tail

import (
	"maps"
	"os"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/sources"
)

// FileStats describes one followed path. The counters add up over every
// file that was followed under the path (the old file of a rotation
// included), so they only grow; Format, Offset, Size and Fingerprint are the
// current file's.
type FileStats struct {
	Path        string
	Format      pipeline.Format // FormatUnknown until detected
	Lines       uint64          // non-empty lines read
	Events      uint64          // lines that became events
	Skipped     uint64          // well-formed lines that are not events
	Bad         map[string]uint64
	Offset      int64 // bytes consumed
	Size        int64
	Fingerprint uint64
	// LinesFormat is the latest format detected under the path: the one
	// the counters' lines were read in, still set while a new file after
	// a rotation has none yet.
	LinesFormat pipeline.Format
	Rotations   uint64 // files renamed away or deleted under this path
	Truncations uint64 // truncations in place (copytruncate)
}

// pathStats are the counters of one path. Run's goroutine writes them;
// Stats reads them from anywhere.
type pathStats struct {
	path string
	cur  *follower // the file now followed under path; Run's goroutine only

	count                  sources.Counter // every file's lines under path
	rotations, truncations atomic.Uint64
	format, linesFormat    atomic.Uint32
	offset, size           atomic.Int64
	fp                     atomic.Uint64
}

func (s *pathStats) setSize(f *follower, size int64) {
	if s.cur == f {
		s.size.Store(size)
	}
}

func (s *pathStats) setFormat(f *follower, format pipeline.Format) {
	if s.cur == f {
		s.format.Store(uint32(format))
	}
	if format != pipeline.FormatUnknown {
		s.linesFormat.Store(uint32(format))
	}
}

// makeCurrent makes f the file whose position the path's stats show.
func (s *pathStats) makeCurrent(f *follower) {
	s.cur = f
	s.format.Store(uint32(f.format))
	if f.format != pipeline.FormatUnknown {
		s.linesFormat.Store(uint32(f.format))
	}
	s.offset.Store(f.offset)
	s.fp.Store(f.fp)
}

// statsFor returns the stats of path, creating them; Run's goroutine only.
func (t *Tailer) statsFor(path string) *pathStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.paths[path]
	if s == nil {
		s = &pathStats{path: path}
		t.paths[path] = s
	}
	return s
}

// Stats returns the stats of every path followed so far, sorted by path. It
// is safe to call concurrently with Run.
func (t *Tailer) Stats() []FileStats {
	t.mu.Lock()
	all := slices.Collect(maps.Values(t.paths))
	t.mu.Unlock()
	slices.SortFunc(all, func(a, b *pathStats) int { return strings.Compare(a.path, b.path) })
	out := make([]FileStats, len(all))
	for i, s := range all {
		n := s.count.Counts()
		out[i] = FileStats{
			Path:        s.path,
			Format:      pipeline.Format(s.format.Load()),
			Lines:       n.Lines,
			Events:      n.Events,
			Skipped:     n.Skipped,
			Bad:         n.Bad,
			Offset:      s.offset.Load(),
			Size:        s.size.Load(),
			Fingerprint: s.fp.Load(),
			LinesFormat: pipeline.Format(s.linesFormat.Load()),
			Rotations:   s.rotations.Load(),
			Truncations: s.truncations.Load(),
		}
	}
	return out
}

// Checkpoints turns the offsets of applied lines into resume points.
// applied maps an Event.Source to the Event.Offset of the last line whose
// effects the daemon has saved; sources this Tailer does not follow are
// left out. The fingerprint is the file's that line came from: the newest
// file followed under that path which has sent a line ending there, so a
// line of the old file of a rotation is not taken for one of the new file
// (in the rare case where both files sent a line ending at that very offset,
// the newer file is assumed).
//
// With applied nil, it returns where every open file was read up to: the
// offset after the last line Run sent or skipped. Once Run has returned and
// every event it sent was applied, these are exact; a path may have two,
// the old file of a rotation and then the new one, and Config.Checkpoints
// takes both.
//
// It is safe to call concurrently with Run.
func (t *Tailer) Checkpoints(applied map[string]int64) []Checkpoint {
	t.mu.Lock()
	defer t.mu.Unlock()
	if applied == nil {
		out := make([]Checkpoint, 0, len(t.files))
		for _, f := range t.files {
			out = append(out, Checkpoint{Path: f.source, Fingerprint: f.pubFP.Load(), Offset: f.pubOffset.Load()})
		}
		return out
	}
	var out []Checkpoint
	for _, src := range slices.Sorted(maps.Keys(applied)) {
		if _, ours := t.paths[src]; !ours {
			continue
		}
		off := applied[src]
		if off == 0 {
			// Nothing consumed (a file started at its end while empty):
			// a restart reads it from its beginning.
			out = append(out, Checkpoint{Path: src})
			continue
		}
		if fp, ok := t.sentFrom(src, off); ok {
			out = append(out, Checkpoint{Path: src, Fingerprint: fp, Offset: off})
		}
	}
	return out
}

// sentFrom returns the fingerprint of the newest file followed under src
// that has sent a line ending at off. t.mu is held.
func (t *Tailer) sentFrom(src string, off int64) (uint64, bool) {
	files := t.bySource[src]
	for i := len(files) - 1; i >= 0; i-- {
		f := files[i]
		fp, sent := f.pubFP.Load(), f.pubOffset.Load()
		if fp == 0 || sent < off {
			continue
		}
		// A line ends at off: the partial last line of a rotated file,
		// emitted up to where the file was read, or a '\n'.
		if off == sent || endsLine(f.fd, off) {
			return fp, true
		}
	}
	gone := t.gone[src]
	for i := len(gone) - 1; i >= 0; i-- {
		if g := gone[i]; g.fp != 0 && g.sent >= off {
			return g.fp, true
		}
	}
	return 0, false
}

func endsLine(fd *os.File, off int64) bool {
	var b [1]byte
	n, _ := fd.ReadAt(b[:], off-1)
	return n == 1 && b[0] == '\n'
}

// fileMark remembers a file that was let go, for a Checkpoints call about
// lines the daemon applies after that.
type fileMark struct {
	fp   uint64
	sent int64
}

// maxGone bounds the files remembered per path: rotations are minutes
// apart at the very least, and saves a second or so.
const maxGone = 4

// forget removes f from the followed files, remembering its fingerprint.
func (t *Tailer) forget(f *follower) {
	if k, ok := keyOf(f.id); ok && t.ids[k] == f {
		delete(t.ids, k)
	}
	f.done = true
	t.mu.Lock()
	defer t.mu.Unlock()
	t.files = slices.DeleteFunc(t.files, func(g *follower) bool { return g == f })
	if fs := slices.DeleteFunc(t.bySource[f.source], func(g *follower) bool { return g == f }); len(fs) > 0 {
		t.bySource[f.source] = fs
	} else {
		delete(t.bySource, f.source)
	}
	g := append(t.gone[f.source], fileMark{f.fp, f.offset})
	if len(g) > maxGone {
		g = slices.Delete(g, 0, len(g)-maxGone)
	}
	t.gone[f.source] = g
}
