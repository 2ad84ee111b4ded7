// Package sources reads logs into events: it opens files (gzip or plain),
// detects their format from the first lines, and runs the per-format parsers
// of its sub-packages (syslog, nginx, suricata, fail2ban).
package sources

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"sync/atomic"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/sources/suricata"
)

// MaxLine is the longest line parsed; longer lines are counted as bad
// ("line too long") and skipped without holding them in memory.
const MaxLine = 64 << 10

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
}

// File is one log file read as a pipeline.Iterator.
type File struct {
	Path   string
	Format pipeline.Format

	Lines   uint64            // lines read
	Events  uint64            // lines that became events
	Skipped uint64            // well-formed lines that are not events
	Bad     map[string]uint64 // bad lines by reason

	f      *os.File
	count  *countingReader
	size   int64
	gz     *gzip.Reader
	r      *bufio.Reader
	long   []byte
	parser pipeline.Parser
	offset int64 // bytes of the decompressed stream consumed
}

// Open opens path, transparently gunzipping it (by its magic bytes, not its
// name), and detects its format unless opt.Format is set.
func Open(path string, opt Options) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	fi, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, err
	}
	if fi.IsDir() {
		fh.Close()
		return nil, fmt.Errorf("%s is a directory", path)
	}
	f := &File{Path: path, f: fh, size: fi.Size(), Bad: map[string]uint64{}}
	f.count = &countingReader{r: fh}
	br := bufio.NewReaderSize(f.count, 256<<10)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			fh.Close()
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		f.gz = gz
		br = bufio.NewReaderSize(gz, 256<<10)
	}
	f.r = br
	f.Format = opt.Format
	if f.Format == pipeline.FormatUnknown {
		head, _ := br.Peek(64 << 10)
		f.Format = Detect(head)
		if f.Format == pipeline.FormatUnknown {
			f.Close()
			if len(bytes.TrimSpace(head)) == 0 {
				return nil, fmt.Errorf("%s: empty file: cannot detect its format (use --type)", path)
			}
			return nil, fmt.Errorf("%s: cannot detect the log format from the first lines (use --type syslog|nginx|fastlog|eve|fail2ban|decision|plain)", path)
		}
	}
	ref := opt.Ref
	if ref.IsZero() {
		ref = fi.ModTime()
	}
	f.parser = WithHomeNet(NewParser(f.Format, ref, opt.Loc), opt.HomeNet)
	return f, nil
}

// Next implements pipeline.Iterator.
func (f *File) Next(ev *pipeline.Event) error {
	for {
		line, err := f.readLine()
		if err != nil {
			return err
		}
		if line == nil {
			continue // too long, counted
		}
		if len(line) == 0 {
			continue
		}
		f.Lines++
		switch perr := f.parser.Parse(line, ev); {
		case perr == nil:
			f.Events++
			ev.Source = f.Path
			ev.Offset = f.offset
			return nil
		case perr == pipeline.ErrSkip:
			f.Skipped++
		default:
			var bl *pipeline.BadLine
			if errors.As(perr, &bl) {
				f.Bad[bl.Reason]++
			} else {
				f.Bad["parse error"]++
			}
		}
		ev.Reset()
	}
}

// readLine returns the next line without its terminator, nil (and no error)
// for a line over MaxLine, or io.EOF. The slice is valid until the next call.
func (f *File) readLine() ([]byte, error) {
	line, err := f.r.ReadSlice('\n')
	f.offset += int64(len(line))
	if err == nil || (err == io.EOF && len(line) > 0) {
		if len(line) > MaxLine {
			f.Lines++
			f.Bad["line too long"]++
			return nil, nil
		}
		return trimEOL(line), nil
	}
	if err != bufio.ErrBufferFull {
		if err == io.EOF {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("%s: %w", f.Path, err)
	}
	// A line longer than the buffer: gather it up to MaxLine, then discard
	// the rest of it so memory stays bounded whatever the input.
	f.long = append(f.long[:0], line...)
	tooLong := len(f.long) > MaxLine
	for {
		line, err = f.r.ReadSlice('\n')
		f.offset += int64(len(line))
		if !tooLong {
			f.long = append(f.long, line...)
			tooLong = len(f.long) > MaxLine
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("%s: %w", f.Path, err)
		}
		break
	}
	if tooLong {
		f.Lines++
		f.Bad["line too long"]++
		f.long = f.long[:0]
		return nil, nil
	}
	return trimEOL(f.long), nil
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

// BadLines returns the bad-line reasons sorted by count, then name.
func (f *File) BadLines() []Reason {
	out := make([]Reason, 0, len(f.Bad))
	for r, n := range f.Bad {
		out = append(out, Reason{r, n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Reason < out[j].Reason
	})
	return out
}

// Reason is a bad-line reason and how often it occurred.
type Reason struct {
	Reason string
	Count  uint64
}

// Progress reports the bytes of the file read so far (compressed bytes for
// a .gz file) and its size.
func (f *File) Progress() (read, size int64) { return f.count.n.Load(), f.size }

// Close releases the file.
func (f *File) Close() error {
	if f.gz != nil {
		f.gz.Close()
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
