package sources

import (
	"bytes"
	"io"

	"github.com/stockade-ids/stockade/pipeline"
)

// windowSize is how much of a plain file a decoder reads at once: its
// lines are parsed while they are in the core's cache. A window of a
// whole chunk, 1 MB, cost five times the CPU to read, in two decoders.
const windowSize = 64 << 10

// place is a chunk of a plain file read in place by its decoder: the
// lines that start in [from, to), the last one to its end, read a window
// at a time. A line too long to parse is passed over, never held.
type place struct {
	from, to int64
	first    int64 // the first line that starts in the chunk; -1: not yet known
	cur      int64 // where the next line starts
	win      []byte
	woff     int64 // the file's offset of win[0]
	eof      bool  // win reaches the end of the file
	at       io.ReaderAt
	counted  bool // its lines' bytes are in the file's progress
}

func (p *place) rewind() {
	p.cur, p.woff, p.eof = p.first, p.first, false
	p.win = p.win[:0]
}

// nextInPlace is Next for a chunk read in place.
func (c *chunk) nextInPlace(ev *pipeline.Event) error {
	p := c.place
	if p.first < 0 {
		if p.win == nil {
			p.win = c.f.split.buffer()
		}
		p.cur, p.woff, p.win = p.from, p.from, p.win[:0]
		if p.from > 0 {
			// The line that holds the byte before belongs to the chunk
			// before: the first line starts after its end.
			p.cur, p.woff = p.from-1, p.from-1
			if err := c.passLine(); err != nil {
				return err
			}
		}
		p.first = p.cur
	}
	for p.cur < p.to {
		raw, err := c.lineAt()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if c.decode(raw, p.cur, ev) {
			return nil
		}
	}
	// Progress counts the bytes of the chunk's lines once: windows
	// overlap at the chunks' edges, and a chunk decoded again reads its
	// lines again.
	if !p.counted {
		p.counted = true
		c.f.count.n.Add(p.cur - p.first)
	}
	return io.EOF
}

// lineAt returns the line that starts at cur, with its '\n' (none at
// the end of the file), and moves cur past it; nil for a line over
// MaxLine, passed over.
func (c *chunk) lineAt() ([]byte, error) {
	p := c.place
	for {
		rest := p.win[p.cur-p.woff:]
		if k := bytes.IndexByte(rest, '\n'); k >= 0 {
			p.cur += int64(k) + 1
			return rest[:k+1], nil
		}
		if p.eof {
			if len(rest) == 0 {
				return nil, io.EOF
			}
			p.cur += int64(len(rest))
			return rest, nil
		}
		if len(rest) > MaxLine {
			return nil, c.passLine()
		}
		if err := c.fill(); err != nil {
			return nil, err
		}
	}
}

// passLine moves cur past the end of the line it is in.
func (c *chunk) passLine() error {
	p := c.place
	for {
		rest := p.win[p.cur-p.woff:]
		if k := bytes.IndexByte(rest, '\n'); k >= 0 {
			p.cur += int64(k) + 1
			return nil
		}
		p.cur += int64(len(rest))
		if p.eof {
			return nil
		}
		if err := c.fill(); err != nil {
			return err
		}
	}
}

// fill moves the window to start at cur, keeping what it holds from
// there, and reads on; the end of the file is its size when the replay
// began, or where it ends if it shrank.
func (c *chunk) fill() error {
	p := c.place
	n := copy(p.win[:cap(p.win)], p.win[p.cur-p.woff:])
	p.win, p.woff = p.win[:n], p.cur
	at := p.woff + int64(n)
	want := min(int64(cap(p.win)-n), c.f.split.end-at)
	if want <= 0 {
		p.eof = true
		return nil
	}
	if p.at == nil {
		p.at = c.f.handle()
	}
	m, err := c.f.readAt(p.at, p.win[n:n+int(want)], at)
	p.win = p.win[:n+m]
	if err != nil {
		return err
	}
	if int64(m) < want {
		p.eof = true
	}
	return nil
}
