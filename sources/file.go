// Package sources reads logs into events. Its Decoder is the one step from
// a line to an Event (parse, classify as event, skip or bad line, count)
// that every source and tool takes; its Sniffer detects a log's format from
// its first lines; OpenReader opens a log, gzip or plain, and detects its
// format; File reads a log file for replay. The per-format parsers are its
// sub-packages (syslog, nginx, suricata, fail2ban, decision, plain); the
// live readers are tail (files) and listen (syslog, journald, stdin).
package sources

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/sources/suricata"
)

// MaxLine is the longest line parsed, its end of line included; longer
// lines are counted as bad ("line too long") and skipped without holding
// them in memory.
const MaxLine = pipeline.MaxLine

// Options tune how a file is read.
type Options struct {
	// Format forces the format; FormatUnknown detects it from the first lines.
	Format pipeline.Format
	// Loc is the zone of timestamps written without one (RFC 3164 syslog,
	// fast.log, fail2ban). Nil means time.Local.
	Loc *time.Location
	// Ref bounds syslog year inference (no line is later than Ref); zero
	// means the file's modification time.
	Ref time.Time
	// HomeNet is what a Suricata alert never bans (see suricata.HomeNet).
	HomeNet suricata.HomeNet
	// Web are the options of web access logs (log_format, real_ip_from).
	Web Web
	// Pool, when set, bounds the descriptors of the files opened with it
	// (see Pool); a file of a Pool is never read in place by a split
	// replay's decoders, so a Pool is for replays of more files than
	// workers.
	Pool *Pool
}

// File is one log file read as a pipeline.Iterator.
type File struct {
	Path   string
	Format pipeline.Format

	f     io.Closer // nil: a stream its caller closes
	count *countingReader
	size  int64
	rd    *Reader
	long  []byte
	// broken is the error a gzip archive read only in part ended with
	// (see readError).
	broken error
	dec    *Decoder
	offset int64 // bytes of the decompressed stream consumed
	opt    Options
	split  *splitState // read in chunks (see NextChunk)
}

// Open opens path, transparently gunzipping it (by its magic bytes, not its
// name), and detects its format unless opt.Format is set.
func Open(path string, opt Options) (*File, error) {
	var rc io.ReadCloser
	var fi os.FileInfo
	var err error
	if opt.Pool != nil {
		rc, fi, err = openParkable(opt.Pool, path)
	} else {
		var fh *os.File
		if fh, err = os.Open(path); err == nil {
			rc = fh
			if fi, err = fh.Stat(); err != nil {
				fh.Close()
			}
		}
	}
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		rc.Close()
		return nil, fmt.Errorf("%s is a directory", path)
	}
	if opt.Ref.IsZero() {
		opt.Ref = fi.ModTime()
	}
	f, err := open(path, rc, rc, fi.Size(), opt)
	if err != nil {
		rc.Close()
	}
	return f, err
}

// OpenStream reads r as a log named name (standard input: "stdin") with
// the same options as a file, home net and web layout included: a log
// piped in is judged as the same log named. Its year reference is opt.Ref,
// or now; closing the File does not close r.
func OpenStream(name string, r io.Reader, opt Options) (*File, error) {
	if opt.Ref.IsZero() {
		opt.Ref = time.Now()
	}
	return open(name, r, nil, 0, opt)
}

// open reads r as path; closer (nil: none) is closed with the File.
func open(path string, r io.Reader, closer io.Closer, size int64, opt Options) (*File, error) {
	f := &File{Path: path, size: size, f: closer, count: &countingReader{r: r}, opt: opt}
	buffer := readBuffer
	if opt.Pool != nil {
		// Thousands of files wait their turn, each holding what its
		// buffers read ahead: 64 KB each, not 256 (a gzip file has two).
		buffer = headSize
	}
	rd, err := openReader(f.count, opt.Web.Format(opt.Format), buffer)
	switch {
	case errors.Is(err, ErrEmpty):
		err = &emptyError{path: path}
	case errors.Is(err, ErrUndetectable):
		err = fmt.Errorf("%s: %w (use --type syslog|nginx|fastlog|eve|fail2ban|decision|plain)", path, ErrUndetectable)
	case err != nil:
		err = fmt.Errorf("%s: %w", path, err)
	}
	if err != nil {
		return nil, err
	}
	f.rd, f.Format = rd, rd.Format
	f.dec = f.newDecoder(nil)
	return f, nil
}

// newDecoder returns a Decoder of the file's lines counting into c (nil:
// a Counter of its own).
func (f *File) newDecoder(c *Counter) *Decoder {
	d := NewDecoder(f.Format, f.opt.Ref, f.opt.Loc, c)
	d.SetHomeNet(f.opt.HomeNet)
	d.SetWeb(f.opt.Web)
	d.SetDocker(f.rd.Docker)
	return d
}

// emptyError is Open's error for an empty file: ErrEmpty to errors.Is,
// so that a replay skips the empty rotated logs it is given.
type emptyError struct{ path string }

func (e *emptyError) Error() string {
	return e.path + ": empty file: cannot detect its format (use --type)"
}

func (e *emptyError) Unwrap() error { return ErrEmpty }

// Next implements pipeline.Iterator.
func (f *File) Next(ev *pipeline.Event) error {
	for {
		line, err := f.readLine()
		if err != nil {
			return err
		}
		if len(line) == 0 {
			continue // empty, or too long and counted
		}
		o, _ := f.dec.Decode(line, ev)
		if o == Event {
			ev.Source = f.Path
			ev.Offset = f.offset
			return nil
		}
		if o != Skip { // a skip leaves ev as it was (pipeline.Parser)
			ev.Reset()
		}
	}
}

// Counts returns what the lines read so far became.
func (f *File) Counts() Counts { return f.dec.Counter().Counts() }

// readLine returns the next line without its terminator, nil (and no error)
// for a line over MaxLine, or io.EOF. The slice is valid until the next call.
func (f *File) readLine() ([]byte, error) {
	if f.broken != nil {
		return nil, io.EOF
	}
	line, err := f.rd.ReadSlice('\n')
	f.offset += int64(len(line))
	if err == nil || (err == io.EOF && len(line) > 0) {
		if len(line) > MaxLine {
			f.dec.Counter().Bad(ReasonTooLong)
			return nil, nil
		}
		return trimEOL(line), nil
	}
	if err != bufio.ErrBufferFull {
		if err == io.EOF {
			return nil, io.EOF
		}
		return nil, f.readError(err, len(line) > 0)
	}
	// A line longer than the buffer: gather it up to MaxLine, then discard
	// the rest of it so memory stays bounded whatever the input.
	f.long = append(f.long[:0], line...)
	tooLong := len(f.long) > MaxLine
	for {
		line, err = f.rd.ReadSlice('\n')
		f.offset += int64(len(line))
		if !tooLong {
			f.long = append(f.long, line...)
			tooLong = len(f.long) > MaxLine
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil && err != io.EOF {
			f.long = f.long[:0]
			return nil, f.readError(err, true)
		}
		break
	}
	if tooLong {
		f.dec.Counter().Bad(ReasonTooLong)
		f.long = f.long[:0]
		return nil, nil
	}
	return trimEOL(f.long), nil
}

// readError is what a read that failed with err returns, partial when
// it ended inside a line. A gzip archive that ends before its stream does
// (compressed as the disk filled, copied in part) or is corrupt past some
// point is read to there: its whole lines stand, the cut one is counted
// as bad (a cut address is another address) and never judged, the file
// ends there, and BrokenWarning says so. Any other failure is the error.
func (f *File) readError(err error, partial bool) error {
	if f.rd.gz == nil {
		return fmt.Errorf("%s: %w", f.Path, err)
	}
	f.broken = err
	if partial {
		f.dec.Counter().Bad(ReasonCutShort)
	}
	return io.EOF
}

// BrokenWarning is what a replay says of a gzip archive read only in
// part (see readError): "" for one read to its end. Like ShrankWarning,
// --quiet does not silence it: lines were not judged.
func (f *File) BrokenWarning() string {
	if f.broken == nil {
		return ""
	}
	return fmt.Sprintf("%s is cut short or corrupt after %d bytes of lines (%v): the lines up to there were judged, the rest could not be read", f.Path, f.offset, f.broken)
}

// Warnings are ShrankWarning's and BrokenWarning's, those that apply.
func (f *File) Warnings() []string {
	var ws []string
	for _, w := range [...]string{f.ShrankWarning(), f.BrokenWarning()} {
		if w != "" {
			ws = append(ws, w)
		}
	}
	return ws
}

func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b
}

// Progress reports the bytes of the file read so far (compressed bytes for
// a .gz file) and its size.
func (f *File) Progress() (read, size int64) { return f.count.n.Load(), f.size }

// Shrank reports whether the file is now shorter than when it was opened,
// and its size now. A log truncated in place while it is replayed (as
// logrotate's copytruncate does) reads to its new end and no further, so
// what it held past that was not replayed; the caller warns of it. A file
// truncated and written past its old size again is not seen.
func (f *File) Shrank() (now int64, shrank bool) {
	fh, ok := f.f.(interface{ Stat() (os.FileInfo, error) })
	if !ok {
		return 0, false
	}
	fi, err := fh.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return 0, false
	}
	return fi.Size(), fi.Size() < f.size
}

// ShrankWarning is what a replay says of a file that Shrank: "" when it
// did not. Every replay says it, the summary, a comparison and a report,
// and --quiet does not silence it: lines were not judged.
func (f *File) ShrankWarning() string {
	now, ok := f.Shrank()
	if !ok {
		return ""
	}
	read, was := f.Progress()
	return fmt.Sprintf("%s shrank from %d to %d bytes while it was replayed (truncated in place?): %d bytes were read, what it held beyond them was not", f.Path, was, now, read)
}

// Close releases the file.
func (f *File) Close() error {
	f.rd.Close()
	if f.split != nil {
		for _, h := range f.split.handles {
			h.Close()
		}
		f.split.handles = nil
	}
	if f.f == nil {
		return nil
	}
	return f.f.Close()
}

// countingReader counts bytes for the progress bar, which reads the count
// from another goroutine.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}
