package tail

import (
	"bytes"
	"context"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/sources"
)

// follower reads one file, known by its identity rather than its name. Only
// Run's goroutine touches it, except the atomics that Stats and Checkpoints
// read.
type follower struct {
	source string // the path it was first followed under: Event.Source
	path   string // where it was last seen
	fd     *os.File
	id     os.FileInfo // identity, for os.SameFile
	stats  *pathStats

	format       pipeline.Format
	docker       bool             // a Docker json-file log (see sources.DockerHead)
	dec          *sources.Decoder // nil until the format is known
	undetectable bool
	detectSize   int64 // size at the last detection attempt
	// detectFrom is where detection reads the head from: past any first
	// lines too long to parse (they cannot tell the format, and would
	// fill the head). detectScan is how far the search for the end of the
	// too-long line at detectFrom got.
	detectFrom, detectScan int64

	fp       uint64 // 0 until the first line is complete
	fpLen    int    // bytes fp covers, newline included
	checked  int64  // size when fp was last verified
	offset   int64  // bytes consumed: the next line starts here
	readPos  int64  // bytes read: offset plus pending, or plus a long line being skipped
	pending  []byte // the partial line after offset
	skipping bool   // discarding the rest of a line up to its '\n'
	skipBad  bool   // ... and counting it as too long when it ends

	// moved: its source path no longer leads to it (renamed away or
	// deleted). Once quiet for the grace period its partial last line is
	// emitted: nobody will complete it. retired: no matched path leads to
	// it at all; once quiet it is also closed.
	moved    bool
	retired  bool
	done     bool      // let go: closed and forgotten
	lastData time.Time // last growth, or when it moved
	// scanSize is the size the scan just saw the file at (scanned), which
	// its next read takes rather than asking again: with thousands of
	// files, a stat each is most of a poll's cost.
	scanSize int64
	scanned  bool
	errLast  string // last read error logged, so a failing file logs once

	pubOffset atomic.Int64
	pubFP     atomic.Uint64
}

// read reads f from readPos, at most limit bytes (0: to EOF), and reports
// whether it stopped for the limit with more to read. Only ctx's error is
// returned: read failures are logged and tried again on the next round.
func (t *Tailer) read(ctx context.Context, f *follower, limit int) (bool, error) {
	size, scanned := f.scanSize, f.scanned
	f.scanned = false
	if !scanned || size < f.readPos {
		// No size from the scan just before (or one that reads were
		// quicker than): ask the file.
		fi, err := f.fd.Stat()
		if err != nil {
			t.fileErr(f, "stat", err)
			return false, nil
		}
		size = fi.Size()
	}
	f.stats.setSize(f, size)
	t.checkTruncate(f, size)
	if f.dec == nil && (f.undetectable || !t.detect(f, size)) {
		return false, nil
	}
	if f.readPos >= size {
		return false, nil
	}
	n := 0
	for limit <= 0 || n < limit {
		f.dec.Follow(t.cfg.Now)
		m, err := f.fd.ReadAt(t.buf, f.readPos)
		if m > 0 {
			f.lastData = time.Now()
			n += m
			if err := t.consume(ctx, f, t.buf[:m]); err != nil {
				return false, err
			}
		}
		if err == io.EOF || m == 0 {
			return false, nil
		}
		if err != nil {
			t.fileErr(f, "read", err)
			return false, nil
		}
	}
	return true, nil
}

// checkTruncate restarts f at 0 when it was truncated in place: it shrank
// below what was read, or its first line is no longer the one it had (it was
// truncated and has regrown past the offset since we last looked).
func (t *Tailer) checkTruncate(f *follower, size int64) {
	why := ""
	switch {
	case size < f.readPos:
		why = "file shrank below the read offset"
	case f.fp != 0 && size != f.checked:
		n, _ := f.fd.ReadAt(t.buf[:f.fpLen], 0)
		if fp, _ := fingerprint(t.buf[:n]); fp != f.fp {
			why = "first line changed"
		}
	}
	f.checked = size
	if why != "" {
		t.log.Info("file truncated in place (copytruncate?): reading it again from the start",
			"path", f.path, "offset", f.offset, "size", size, "why", why, "partial_line_dropped", len(f.pending) > 0)
		f.stats.truncations.Add(1)
		f.offset, f.readPos = 0, 0
		f.pending = f.pending[:0]
		f.skipping, f.skipBad = false, false
		f.fp, f.fpLen = 0, 0
		f.undetectable, f.detectSize = false, 0 // new content: look again
		f.detectFrom, f.detectScan = 0, 0
		f.publish()
	}
	if f.fp == 0 && size > 0 {
		n, _ := f.fd.ReadAt(t.buf[:maxFingerprint], 0)
		f.fp, f.fpLen = fingerprint(t.buf[:n])
		f.publish()
	}
}

// consume splits data, read at f.readPos, into lines and emits them.
func (t *Tailer) consume(ctx context.Context, f *follower, data []byte) error {
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if f.skipping {
			if i < 0 {
				f.readPos += int64(len(data))
				return nil
			}
			f.readPos += int64(i + 1)
			data = data[i+1:]
			f.skipping = false
			if f.skipBad {
				f.skipBad = false
				f.stats.count.Bad(sources.ReasonTooLong)
			}
			f.setOffset(f.readPos)
			continue
		}
		if i < 0 {
			// A partial line: keep it until its '\n' arrives, unless it is
			// already too long, in which case the rest of it is skipped.
			f.readPos += int64(len(data))
			if len(f.pending)+len(data) >= sources.MaxLine {
				f.pending = f.pending[:0]
				f.skipping, f.skipBad = true, true
				return nil
			}
			f.pending = append(f.pending, data...)
			return nil
		}
		f.readPos += int64(i + 1)
		if len(f.pending)+i >= sources.MaxLine {
			// Same limit as sources.File: the line with its '\n' is longer
			// than MaxLine.
			f.pending = f.pending[:0]
			f.stats.count.Bad(sources.ReasonTooLong)
			f.setOffset(f.readPos)
			data = data[i+1:]
			continue
		}
		var line []byte
		if len(f.pending) == 0 {
			line = data[:i]
		} else {
			line = append(f.pending, data[:i]...)
			f.pending = line[:0]
		}
		data = data[i+1:]
		if err := t.emit(ctx, f, line, f.readPos); err != nil {
			return err
		}
	}
	return nil
}

// emit decodes a copy of line and sends the event. The copy is the event's
// own memory: the strings the parser sets alias it, so they stay valid after
// the send, at one allocation per line.
func (t *Tailer) emit(ctx context.Context, f *follower, line []byte, end int64) error {
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if len(line) == 0 {
		f.setOffset(end)
		return nil
	}
	own := make([]byte, len(line))
	copy(own, line)
	// Decode into the Tailer's Event, not a local one: a local would escape
	// through the Parser interface, a second allocation per line.
	ev := &t.ev
	*ev = pipeline.Event{}
	if o, _ := f.dec.Decode(own, ev); o == sources.Event {
		ev.Source = f.source
		ev.Offset = end
		select {
		case t.out <- *ev:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f.setOffset(end)
	return nil
}

// finish emits the partial last line of a file we are done with: nobody
// will complete it now.
func (t *Tailer) finish(ctx context.Context, f *follower) error {
	switch {
	case f.skipping && f.skipBad:
		f.skipping, f.skipBad = false, false
		f.stats.count.Bad(sources.ReasonTooLong)
		f.setOffset(f.readPos)
	case len(f.pending) > 0 && f.dec != nil:
		line := f.pending
		f.pending = nil
		return t.emit(ctx, f, line, f.readPos)
	}
	return nil
}

// detect picks f's parser from the first complete lines of the file. It
// waits while the file is empty or too short to tell, and gives up once it
// has seen as much as detection looks at.
func (t *Tailer) detect(f *follower, size int64) bool {
	if size == f.detectSize {
		return false
	}
	f.detectSize = size
	if !t.skipLongLines(f, size) {
		return false // a too-long first line, still being written
	}
	n, _ := f.fd.ReadAt(t.buf[:headSize], f.detectFrom)
	head := t.buf[:n]
	full := n == headSize
	if i := bytes.LastIndexByte(head, '\n'); i >= 0 {
		head = head[:i+1]
	} else if !full {
		return false // a partial first line
	}
	if inner, ok := sources.DockerHead(head); ok {
		f.docker, head = true, inner
	}
	var sniff sources.Sniffer
	sniff.Write(head)
	format := sniff.Format()
	if format == pipeline.FormatUnknown {
		if full || sniff.Full() {
			f.undetectable = true
			t.log.Warn("cannot detect the log format from the first lines: file not followed (set its format)",
				"path", f.path)
		}
		return false
	}
	t.setFormat(f, format)
	return true
}

// skipLongLines moves f.detectFrom past the lines at the start of the
// file that are too long to parse (a first line of 10 MB must not make the
// file undetectable: the lines after it still tell its format; the reader
// counts the long ones as bad). It reports false while such a line has no
// end yet. Each byte is searched once, however often the file grows.
func (t *Tailer) skipLongLines(f *follower, size int64) bool {
	for {
		n, _ := f.fd.ReadAt(t.buf[:headSize], f.detectFrom)
		if n < headSize || bytes.IndexByte(t.buf[:n], '\n') >= 0 {
			return true // the first line at detectFrom fits in the head
		}
		// headSize is sources.MaxLine: a line without its end in the head
		// is too long to parse. Find its end.
		pos := max(f.detectScan, f.detectFrom+int64(n))
		for {
			m, _ := f.fd.ReadAt(t.buf, pos)
			if m == 0 {
				f.detectScan = pos
				return false
			}
			if i := bytes.IndexByte(t.buf[:m], '\n'); i >= 0 {
				f.detectFrom = pos + int64(i) + 1
				f.detectScan = f.detectFrom
				break
			}
			pos += int64(m)
		}
	}
}

func (t *Tailer) setFormat(f *follower, format pipeline.Format) {
	now := t.cfg.Now()
	f.format = format
	f.dec = sources.NewDecoder(format, now, t.cfg.Loc, &f.stats.count)
	f.dec.SetHomeNet(t.cfg.HomeNet)
	f.dec.SetWeb(t.cfg.Web)
	if t.cfg.Format != pipeline.FormatUnknown && f.fd != nil {
		// A format given is that of the lines; whether they come wrapped
		// in Docker's json-file records the file's first lines tell.
		n, _ := f.fd.ReadAt(t.buf[:headSize], 0)
		_, f.docker = sources.DockerHead(t.buf[:n])
	}
	f.dec.SetDocker(f.docker)
	f.stats.setFormat(f, format)
	if t.cfg.Format == pipeline.FormatUnknown {
		t.log.Info("format detected", "path", f.path, "format", format)
	}
}

func (t *Tailer) fileErr(f *follower, op string, err error) {
	if s := err.Error(); s != f.errLast {
		f.errLast = s
		t.log.Warn("cannot read file: trying again", "path", f.path, "op", op, "err", err)
	}
}

func (f *follower) setOffset(off int64) {
	f.offset = off
	f.pubOffset.Store(off)
	if f.stats.cur == f {
		f.stats.offset.Store(off)
	}
}

func (f *follower) publish() {
	f.pubOffset.Store(f.offset)
	f.pubFP.Store(f.fp)
	if f.stats.cur == f {
		f.stats.offset.Store(f.offset)
		f.stats.fp.Store(f.fp)
	}
}
