package sources

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/stockade-ids/stockade/pipeline"
)

// chunkSize is the most bytes of lines a chunk holds: large enough that
// handing a chunk to another goroutine costs nothing next to decoding
// its 1,000 to 3,000 lines, small enough that a few per decoder in flight
// stay within a few megabytes. It exceeds MaxLine, so a line too long for
// a chunk is too long to parse anyway.
const chunkSize = 256 << 10

var _ pipeline.Splitter = (*File)(nil)

// splitState is what a File read in chunks shares between the goroutine
// that reads the chunks, those that decode them and the one that settles
// them in file order.
type splitState struct {
	// learnt is what the lines settled so far taught the parsers (see
	// learner), as the Decoder's learnt bits.
	learnt atomic.Uint32

	mu       sync.Mutex
	decoders []*Decoder // idle, for the next chunk to decode
	bufs     [][]byte   // idle chunk buffers

	carry []byte // the start of a line the last chunk read ended in
	eof   bool
}

// NextChunk implements pipeline.Splitter: the next run of whole lines of
// the file, read on the calling goroutine. A line longer than a chunk is
// counted as too long and skipped, as Next does.
func (f *File) NextChunk() (pipeline.Chunk, error) {
	s := f.splitState()
	for {
		if s.eof && len(s.carry) == 0 {
			return nil, io.EOF
		}
		buf := s.buffer()
		buf = append(buf, s.carry...)
		off := f.offset - int64(len(s.carry))
		n, err := io.ReadFull(f.rd, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		f.offset += int64(n)
		switch {
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			s.eof = true
		case err != nil:
			s.putBuffer(buf)
			return nil, fmt.Errorf("%s: %w", f.Path, err)
		}
		end := len(buf)
		if !s.eof {
			end = bytes.LastIndexByte(buf, '\n') + 1
		}
		if end == 0 {
			s.putBuffer(buf)
			s.carry = s.carry[:0]
			if s.eof {
				return nil, io.EOF
			}
			// Not one whole line in a chunk: skip it to its end.
			if err := f.skipLine(); err != nil {
				return nil, err
			}
			continue
		}
		s.carry = append(s.carry[:0], buf[end:]...)
		return &chunk{f: f, buf: buf[:end], off: off}, nil
	}
}

// skipLine counts the line being read as too long and reads past it.
func (f *File) skipLine() error {
	f.dec.Counter().Bad(ReasonTooLong)
	for {
		line, err := f.rd.ReadSlice('\n')
		f.offset += int64(len(line))
		switch {
		case err == nil:
			return nil
		case err == io.EOF:
			f.split.eof = true
			return nil
		case err != bufio.ErrBufferFull:
			return fmt.Errorf("%s: %w", f.Path, err)
		}
	}
}

func (f *File) splitState() *splitState {
	if f.split == nil {
		f.split = &splitState{}
	}
	return f.split
}

func (s *splitState) buffer() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.bufs); n > 0 {
		b := s.bufs[n-1]
		s.bufs = s.bufs[:n-1]
		return b[:0]
	}
	return make([]byte, 0, chunkSize)
}

func (s *splitState) putBuffer(b []byte) {
	s.mu.Lock()
	s.bufs = append(s.bufs, b[:0])
	s.mu.Unlock()
}

// decoder returns an idle Decoder of the file's format, counting into c.
func (f *File) decoder(c *Counter) *Decoder {
	s := f.split
	s.mu.Lock()
	var d *Decoder
	if n := len(s.decoders); n > 0 {
		d = s.decoders[n-1]
		s.decoders = s.decoders[:n-1]
	}
	s.mu.Unlock()
	if d == nil {
		return f.newDecoder(c)
	}
	d.count = c
	return d
}

func (f *File) putDecoder(d *Decoder) {
	s := f.split
	s.mu.Lock()
	s.decoders = append(s.decoders, d)
	s.mu.Unlock()
}

// chunk is a run of a File's whole lines, read by NextChunk.
type chunk struct {
	f   *File
	buf []byte
	off int64 // the file's offset of buf[0]
	pos int

	dec *Decoder
	// count is what the chunk's lines became, added to the file's counts
	// when the chunk settles.
	count Counter
	// start is what the parsers had learnt when the chunk's decoding
	// began (see learner).
	start uint32
}

// Next implements pipeline.Iterator: the chunk's next event, as File.Next
// reads it.
func (c *chunk) Next(ev *pipeline.Event) error {
	if c.dec == nil {
		c.dec = c.f.decoder(&c.count)
		c.start = c.f.split.learnt.Load()
		c.dec.learn(c.start)
	}
	for c.pos < len(c.buf) {
		raw := c.buf[c.pos:]
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			raw = raw[:i+1]
		}
		c.pos += len(raw)
		if len(raw) > MaxLine {
			c.count.Bad(ReasonTooLong)
			continue
		}
		line := trimEOL(raw)
		if len(line) == 0 {
			continue
		}
		if o, _ := c.dec.Decode(line, ev); o == Event {
			ev.Source = c.f.Path
			ev.Offset = c.off + int64(c.pos)
			return nil
		}
		ev.Reset()
	}
	return io.EOF
}

// Settle implements pipeline.Chunk: the chunk's events stand unless a
// parser guessed where the chunks settled before it have taught it what
// it did not know when it decoded; then the chunk is rewound, to be
// decoded again knowing it.
func (c *chunk) Settle() bool {
	s := c.f.split
	known := s.learnt.Load()
	if c.dec.guessed()&(known&^c.start) != 0 {
		c.pos, c.start = 0, known
		c.count.reset()
		c.dec.learn(known)
		return false
	}
	s.learnt.Store(known | c.dec.learnt())
	c.f.dec.Counter().add(&c.count)
	return true
}

// Release implements pipeline.Chunk.
func (c *chunk) Release() {
	if c.dec != nil {
		c.f.putDecoder(c.dec)
		c.dec = nil
	}
	c.f.split.putBuffer(c.buf)
	c.buf = nil
}

// learner is a parser that reads some lines by what it learnt of its
// source from the lines before them (nginx.Parser: whether a field
// precedes the client address). A File read in chunks carries what each
// chunk taught to the next, and decodes again a chunk whose parser
// guessed for want of knowing it.
type learner interface {
	Learnt() bool
	Learn(bool)
	Guessed() bool
}

// The Decoder's learners, as bits.
const (
	learnParser uint32 = 1 << iota // the format's parser
	learnAccess                    // the access lines of syslog (see liftAccess)
)

// learnt returns what the Decoder's parsers learnt, as learn* bits.
func (d *Decoder) learnt() uint32 {
	return d.learners(learner.Learnt)
}

// guessed returns the learners that guessed since learn, as learn* bits.
func (d *Decoder) guessed() uint32 {
	return d.learners(learner.Guessed)
}

func (d *Decoder) learners(f func(learner) bool) uint32 {
	var bits uint32
	if l, ok := d.parser.(learner); ok && f(l) {
		bits |= learnParser
	}
	if l, ok := d.access.(learner); ok && f(l) {
		bits |= learnAccess
	}
	return bits
}

// learn sets what the Decoder's parsers learnt (learn* bits) and clears
// what they guessed.
func (d *Decoder) learn(bits uint32) {
	if l, ok := d.parser.(learner); ok {
		l.Learn(bits&learnParser != 0)
	}
	if bits&learnAccess != 0 {
		d.accessParser()
	}
	if l, ok := d.access.(learner); ok {
		l.Learn(bits&learnAccess != 0)
	}
}
