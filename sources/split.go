package sources

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/stockade-ids/stockade/pipeline"
)

// chunkSize is the most bytes of lines a chunk holds: large enough that
// handing a chunk to another goroutine costs nothing next to decoding
// its 2,000 to 10,000 lines, and that bufio hands a stream's bytes over
// without copying them (over its 256 KB), small enough that a few per
// decoder in flight stay within a few megabytes. It exceeds MaxLine, so a
// line too long for a chunk is too long to parse anyway.
const chunkSize = 1 << 20

// placeSize is the bytes of a plain file a chunk covers when it is read
// in place (see place): each decoder reads its own a window at a time,
// so the range is not what the cache must hold. Every chunk hands the
// merge its own batches, the last one part full: an eve.json, whose
// lines are mostly not events, made one batch of some 60 events per
// chunk of 256 KB, and two cores spent 1.35 times the CPU of one; at
// 1 MB, 1.17 times. The chunks in flight at once (two per decoder) still
// hold a few megabytes of batches at most, and the last chunk, finished
// by one decoder while the other idles, is a thirtieth of a 30 MB log.
const placeSize = 1 << 20

// tailChunks is how many chunks of placeSize from the end of the file
// the chunks start to shrink (see placeLen).
const tailChunks = 4

// placeLen is the bytes the next chunk read in place covers, rest bytes
// from the end of the range: placeSize, then, over the last tailChunks
// of them, a quarter of what is left, down to an eighth of placeSize.
// The last chunk is decoded by one decoder while the others have none:
// at 1 MB, 6 ms of an auth.log's 10,000 lines with a core idle, at the
// end of every split replay. Shrinking, the last chunks end about when
// the others do; the handful more chunks (each its own batches, the
// last part full) are at the end alone.
func placeLen(rest int64) int64 {
	if rest < tailChunks*placeSize {
		return min(rest, max(placeSize/8, rest/4))
	}
	return placeSize
}

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

	// at reads a plain file in place: a chunk is a range of its bytes,
	// read by the goroutine that decodes it (see load), next the start of
	// the next range, end the file's size when the replay began.
	at        io.ReaderAt
	next, end int64
	// handles are idle descriptors of the file of its own each, for the
	// decoders' reads (see handle).
	handles []*os.File
}

// handle returns a descriptor of the file for one decoder: the kernel
// keeps the read-ahead state of each open file apart, and two decoders
// reading through one took three times the CPU a byte. It is the file
// opened again through /proc (the very file, even if renamed since),
// or the shared one where that fails.
func (f *File) handle() io.ReaderAt {
	s := f.split
	s.mu.Lock()
	if n := len(s.handles); n > 0 {
		h := s.handles[n-1]
		s.handles = s.handles[:n-1]
		s.mu.Unlock()
		return h
	}
	s.mu.Unlock()
	if fh, ok := f.f.(*os.File); ok {
		if h, err := os.Open("/proc/self/fd/" + strconv.Itoa(int(fh.Fd()))); err == nil {
			return h
		}
	}
	return s.at
}

func (f *File) putHandle(at io.ReaderAt) {
	if h, ok := at.(*os.File); ok && at != f.split.at {
		f.split.mu.Lock()
		f.split.handles = append(f.split.handles, h)
		f.split.mu.Unlock()
	}
}

// NextChunk implements pipeline.Splitter: the next run of whole lines of
// the file, read on the calling goroutine. A line longer than a chunk is
// counted as too long and skipped, as Next does.
func (f *File) NextChunk() (pipeline.Chunk, error) {
	s := f.splitState()
	if s.at != nil {
		if s.next >= s.end {
			return nil, io.EOF
		}
		c := &chunk{f: f, place: &place{from: s.next, to: s.next + placeLen(s.end-s.next), first: -1}}
		s.next = c.place.to
		return c, nil
	}
	for {
		if s.eof && len(s.carry) == 0 {
			return nil, io.EOF
		}
		buf := s.buffer()
		buf = append(buf, s.carry...)
		off := f.offset - int64(len(s.carry))
		n, err := readFull(f.rd, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		f.offset += int64(n)
		cut := false // a gzip archive read only in part (see readError)
		switch {
		case err == io.EOF:
			s.eof = true
		case err != nil:
			partial := len(buf) > 0 && buf[len(buf)-1] != '\n'
			if err = f.readError(err, partial); err != io.EOF {
				s.putBuffer(buf)
				return nil, err
			}
			s.eof, cut = true, true
		}
		end := len(buf)
		if !s.eof || cut {
			// A cut archive's last line is cut: counted, never judged.
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
		if cut {
			s.carry = s.carry[:0]
			return &chunk{f: f, buf: buf[:end], off: off}, nil
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
			if err = f.readError(err, false); err == io.EOF {
				f.split.eof, err = true, nil
			}
			return err
		}
	}
}

// readFull reads into b until it is full or r fails: io.EOF is a clean
// end (whatever was read before it), anything else r's error.
func readFull(r io.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := r.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func (f *File) splitState() *splitState {
	if f.split == nil {
		f.split = &splitState{}
		// A plain file not read yet is read in place, each chunk by its
		// decoder; a gzip file or a stream, in order by NextChunk.
		if at, ok := f.f.(io.ReaderAt); ok && f.rd.gz == nil && f.offset == 0 && f.size > 0 {
			f.split.at, f.split.end = at, f.size
			// The workers read the file from its start; the head the
			// reader buffered to detect the format is not part of that.
			f.count.n.Store(0)
		}
	}
	return f.split
}

// readAt reads len(b) bytes at off, fewer at the end of the file.
func (f *File) readAt(at io.ReaderAt, b []byte, off int64) (int, error) {
	n, err := at.ReadAt(b, off)
	if err == io.EOF {
		err = nil
	}
	if err != nil {
		err = fmt.Errorf("%s: %w", f.Path, err)
	}
	return n, err
}

func (s *splitState) buffer() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.bufs); n > 0 {
		b := s.bufs[n-1]
		s.bufs = s.bufs[:n-1]
		return b[:0]
	}
	if s.at != nil {
		// A window (see place): room for a line up to the longest
		// parsed, and a read of 64 KB after it.
		return make([]byte, 0, windowSize+MaxLine+1)
	}
	// Room for a chunk and the line it ends in, up to the longest parsed.
	return make([]byte, 0, chunkSize+MaxLine+2)
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
	// place: a chunk of a plain file, read in place (see place).
	place *place

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
	if c.place != nil {
		return c.nextInPlace(ev)
	}
	for c.pos < len(c.buf) {
		raw := c.buf[c.pos:]
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			raw = raw[:i+1]
		}
		c.pos += len(raw)
		if c.decode(raw, c.off+int64(c.pos), ev) {
			return nil
		}
	}
	return io.EOF
}

// Settle implements pipeline.Chunk: the chunk's events stand unless a
// parser guessed where the chunks settled before it have taught it what
// it did not know when it decoded; then the chunk is rewound, to be
// decode judges one line of the chunk, raw with its end of line (nil:
// too long to hold): a line too long is counted, an empty one skipped;
// it reports whether ev holds an event, its offset end, the end of the
// line.
func (c *chunk) decode(raw []byte, end int64, ev *pipeline.Event) bool {
	if raw == nil || len(raw) > MaxLine {
		c.count.Bad(ReasonTooLong)
		return false
	}
	line := trimEOL(raw)
	if len(line) == 0 {
		return false
	}
	o, _ := c.dec.Decode(line, ev)
	if o == Event {
		ev.Source = c.f.Path
		ev.Offset = end
		return true
	}
	if o != Skip { // a skip leaves ev as it was (pipeline.Parser)
		ev.Reset()
	}
	return false
}

// decoded again knowing it.
func (c *chunk) Settle() bool {
	s := c.f.split
	known := s.learnt.Load()
	if c.dec.guessed()&(known&^c.start) != 0 {
		c.pos, c.start = 0, known
		if c.place != nil {
			c.place.rewind()
		}
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
	if c.buf != nil {
		c.f.split.putBuffer(c.buf)
	}
	if c.place != nil && c.place.win != nil {
		c.f.split.putBuffer(c.place.win)
		c.place.win = nil
	}
	if c.place != nil && c.place.at != nil {
		c.f.putHandle(c.place.at)
		c.place.at = nil
	}
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
