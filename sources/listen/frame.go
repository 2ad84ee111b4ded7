package listen

import (
	"bufio"
	"io"

	"github.com/stockade-ids/stockade/pipeline"
)

// The reasons this package refuses a message before any parser sees it.
var (
	errTooLong   = pipeline.Bad("message too long")
	errFraming   = pipeline.Bad("bad framing")
	errTruncated = pipeline.Bad("truncated frame")
)

// maxLenDigits bounds an octet count: nine digits is just under 1 GB, far
// beyond any MaxMessage, and a longer run of digits is garbage, not a length.
const maxLenDigits = 9

// framer splits a syslog TCP stream into messages as RFC 6587 describes.
// Senders differ, and rsyslog, syslog-ng and journald's forwarders can all be
// pointed at one port, so the framing is decided per message by its first
// byte: a digit 1-9 starts octet counting ("<len> <msg>"), '<' starts a
// newline-terminated message (non-transparent framing). Anything else is not
// a frame; the framer counts it and resynchronises at the next newline,
// which is where a newline-framed sender's next message begins.
type framer struct {
	r     *bufio.Reader
	max   int
	arena arena
	long  []byte // a newline frame longer than r's buffer, gathered
}

func newFramer(r io.Reader, maxMessage int) *framer {
	return &framer{
		r:     bufio.NewReaderSize(r, 32<<10),
		max:   maxMessage,
		arena: arena{size: 64 << 10},
	}
}

// next reads one frame. It returns the message (owned by the caller, its
// trailer stripped) or a non-nil bad for a frame it refused, and an error
// that ends the stream: io.EOF when the peer is done. A message and io.EOF
// may come together, when the last frame had no trailer.
func (f *framer) next() (msg []byte, bad *pipeline.BadLine, err error) {
	for {
		c, err := f.r.ReadByte()
		if err != nil {
			return nil, nil, err
		}
		switch {
		case c == '<':
			_ = f.r.UnreadByte()
			return f.line()
		case c >= '1' && c <= '9':
			return f.octets(int(c - '0'))
		case c == '\n' || c == '\r' || c == ' ' || c == '\t' || c == 0:
			// Trailers that some octet-counting senders add anyway, and
			// blank lines: nothing to count.
		default:
			return nil, errFraming, f.skipLine()
		}
	}
}

// octets reads the rest of an octet-counted frame whose first length digit
// was d.
func (f *framer) octets(d int) ([]byte, *pipeline.BadLine, error) {
	n, digits := d, 1
	for {
		c, err := f.r.ReadByte()
		if err != nil {
			return nil, truncated(err), err
		}
		if c == ' ' {
			break
		}
		if c < '0' || c > '9' || digits == maxLenDigits {
			if c == '\n' {
				return nil, errFraming, nil
			}
			return nil, errFraming, f.skipLine()
		}
		n = n*10 + int(c-'0')
		digits++
	}
	if n > f.max {
		// The length is believable, so the frame is skipped as a whole and
		// the stream stays in step with the sender.
		if _, err := f.r.Discard(n); err != nil {
			return nil, truncated(err), err
		}
		return nil, errTooLong, nil
	}
	buf := f.arena.alloc(n)
	if _, err := io.ReadFull(f.r, buf); err != nil {
		if err == io.ErrUnexpectedEOF {
			err = io.EOF
		}
		return nil, truncated(err), err
	}
	return trimTrailer(buf), nil, nil
}

// truncated is the bad reason for a frame cut short by err: a peer that
// hangs up mid-frame has sent a truncated frame; a broken connection is not
// the peer's fault to count.
func truncated(err error) *pipeline.BadLine {
	if err == io.EOF {
		return errTruncated
	}
	return nil
}

// line reads a newline-terminated frame.
func (f *framer) line() ([]byte, *pipeline.BadLine, error) {
	b, err := f.r.ReadSlice('\n')
	if err == nil || err == io.EOF {
		if len(b) == 0 {
			return nil, nil, err
		}
		b = trimTrailer(b)
		if len(b) > f.max {
			return nil, errTooLong, err
		}
		return f.arena.clone(b), nil, err
	}
	if err != bufio.ErrBufferFull {
		return nil, nil, err
	}
	// Longer than the read buffer: gather up to max, and past that only
	// look for the newline, so memory stays bounded whatever the peer sends.
	f.long = append(f.long[:0], b...)
	tooLong := false
	for err == bufio.ErrBufferFull {
		b, err = f.r.ReadSlice('\n')
		if !tooLong {
			f.long = append(f.long, b...)
			// +2 leaves room for a "\r\n" trailer on a message of max bytes.
			tooLong = len(f.long) > f.max+2
		}
	}
	if err != nil && err != io.EOF {
		return nil, nil, err
	}
	long := trimTrailer(f.long)
	var msg []byte
	var bad *pipeline.BadLine
	if tooLong || len(long) > f.max {
		bad = errTooLong
	} else {
		msg = f.arena.clone(long)
	}
	if cap(f.long) > 2*f.r.Size() {
		f.long = nil // rare: do not keep a large buffer per idle connection
	}
	return msg, bad, err
}

// skipLine discards input up to and including the next newline. It returns
// only errors other than io.EOF: at the end of the stream the next call to
// next reports it.
func (f *framer) skipLine() error {
	for {
		_, err := f.r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF {
			return nil
		}
		return err
	}
}

// trimTrailer strips the line terminators senders put after a message:
// "\n", "\r\n", and the NUL some older ones use.
func trimTrailer(b []byte) []byte {
	for n := len(b); n > 0 && (b[n-1] == '\n' || b[n-1] == '\r' || b[n-1] == 0); n-- {
		b = b[:n-1]
	}
	return b
}
