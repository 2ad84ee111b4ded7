package listen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/sources"
	"github.com/stockade-ids/stockade/sources/suricata"
)

// StdinSource is the Source of events read by Stdin.
const StdinSource = "stdin"

// MaxLine is the longest line Stdin parses; longer ones are counted as bad
// ("line too long") and skipped, as in files.
const MaxLine = sources.MaxLine

const (
	// detectWait bounds the wait for sources.DetectLines lines once a
	// first line has come: a quiet live log (`tail -f auth.log |
	// stockade`) may take hours to write 20 lines.
	detectWait = 2 * time.Second
	// stdinSlab is the size of the buffers r is read into; lines alias them.
	stdinSlab = 64 << 10
	// minRead is the least room a read is given before a new slab is begun.
	minRead = 4 << 10
)

var errLineTooLong = pipeline.Bad("line too long")

// Stdin reads r to its end (or until ctx is done), one event per line, and
// sends them on out with Source "stdin". With FormatUnknown it detects the
// format from the first sources.DetectLines non-empty lines, or from those
// it has after two seconds, or at the end of input; it fails if they name
// no format. loc is the zone of timestamps written without one (nil:
// time.Local).
//
// It returns nil at the end of r and on cancel. r is read on a goroutine of
// its own, so a cancel returns at once even while a read blocks; that
// goroutine ends when the read returns.
func Stdin(ctx context.Context, r io.Reader, format pipeline.Format, loc *time.Location, out chan<- pipeline.Event) (Counts, error) {
	return readStdin(ctx, r, sources.Options{Format: format, Loc: loc}, out, detectWait)
}

// StdinWith is Stdin with the options a file is read with: the home net
// that chooses a Suricata alert's side and the web layout and trusted
// proxies of access lines, so that a log piped in is judged as the same
// log named. opt.Ref is not used: lines are dated as they come.
func StdinWith(ctx context.Context, r io.Reader, opt sources.Options, out chan<- pipeline.Event) (Counts, error) {
	return readStdin(ctx, r, opt, out, detectWait)
}

func readStdin(ctx context.Context, r io.Reader, opt sources.Options, out chan<- pipeline.Event, wait time.Duration) (Counts, error) {
	chunks := make(chan chunk, 4)
	stop := make(chan struct{})
	defer close(stop)
	go readChunks(r, chunks, stop)

	st := &stdin{format: opt.Web.Format(opt.Format), loc: opt.Loc, home: opt.HomeNet, web: opt.Web, out: out}
	var (
		timer   *time.Timer
		timeout <-chan time.Time
	)
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	done := func(err error) (Counts, error) {
		if err == errCanceled {
			err = nil
		}
		return st.c.snapshot(), err
	}
	for {
		select {
		case <-ctx.Done():
			return done(nil)
		case <-timeout:
			timeout = nil
			if err := st.detect(ctx); err != nil {
				return done(err)
			}
		case ch := <-chunks:
			if err := st.feed(ctx, ch.b); err != nil {
				return done(err)
			}
			if st.dec == nil && timer == nil && len(st.head) > 0 {
				timer = time.NewTimer(wait)
				timeout = timer.C
			}
			switch {
			case ch.err == io.EOF:
				return done(st.end(ctx))
			case ch.err != nil:
				return done(fmt.Errorf("stdin: %w", ch.err))
			}
		}
	}
}

// chunk is one read from r. b is never reused, so lines may alias it.
type chunk struct {
	b   []byte
	err error
}

func readChunks(r io.Reader, chunks chan<- chunk, stop <-chan struct{}) {
	var slab []byte
	for {
		if cap(slab)-len(slab) < minRead {
			slab = make([]byte, 0, stdinSlab)
		}
		n, err := r.Read(slab[len(slab):cap(slab)])
		l := len(slab)
		slab = slab[:l+n]
		if n == 0 && err == nil {
			continue
		}
		select {
		case chunks <- chunk{slab[l : l+n : l+n], err}:
		case <-stop:
			return
		}
		if err != nil {
			return
		}
	}
}

// stdin is the line-splitting and parsing state of one Stdin call.
type stdin struct {
	format pipeline.Format
	loc    *time.Location
	home   suricata.HomeNet
	web    sources.Web
	out    chan<- pipeline.Event
	dec    *sources.Decoder // nil until the format is known
	c      counters
	ev     pipeline.Event // decoded into, sent by value

	sniff   sources.Sniffer
	head    [][]byte // lines held until the format is known
	partial []byte   // the start of a line that continues in the next chunk
	tooLong bool     // the partial line is over MaxLine: drop it at its end
}

// feed splits b into lines. Lines inside b alias it; a line across chunks
// is gathered in partial, which is then its own.
func (s *stdin) feed(ctx context.Context, b []byte) error {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			s.addPartial(b)
			return nil
		}
		line := b[:i]
		b = b[i+1:]
		if s.partial != nil || s.tooLong {
			s.addPartial(line)
			line, s.partial = s.partial, nil
			if s.tooLong {
				s.tooLong = false
				s.c.msgs.Bad(errLineTooLong.Reason)
				continue
			}
		}
		if err := s.line(ctx, line); err != nil {
			return err
		}
	}
	return nil
}

func (s *stdin) addPartial(b []byte) {
	if s.tooLong {
		return
	}
	if len(s.partial)+len(b) > MaxLine+1 { // +1: a "\r" may still be trimmed
		s.tooLong, s.partial = true, nil
		return
	}
	if s.partial == nil {
		// The first piece is copied: b aliases a chunk that later lines
		// still alias, and appending must not write into it.
		s.partial = make([]byte, 0, max(2*len(b), 256))
	}
	s.partial = append(s.partial, b...)
}

// end handles a last line without a newline and a pending detection.
func (s *stdin) end(ctx context.Context) error {
	if s.tooLong {
		s.c.msgs.Bad(errLineTooLong.Reason)
	} else if s.partial != nil {
		line := s.partial
		s.partial = nil
		if err := s.line(ctx, line); err != nil {
			return err
		}
	}
	if s.dec == nil {
		return s.detect(ctx)
	}
	return nil
}

// line handles one line, holding it while the format is being detected.
func (s *stdin) line(ctx context.Context, line []byte) error {
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if len(line) > MaxLine {
		s.c.msgs.Bad(errLineTooLong.Reason)
		return nil
	}
	if s.dec == nil {
		if s.format != pipeline.FormatUnknown {
			s.start()
		} else {
			if !s.sniff.Line(line) {
				return nil // blank: no vote, and nothing to parse
			}
			s.head = append(s.head, line)
			if !s.sniff.Full() {
				return nil
			}
			return s.detect(ctx)
		}
	}
	return s.send(ctx, line)
}

// detect picks the format from the held lines and sends them.
func (s *stdin) detect(ctx context.Context) error {
	if s.dec != nil {
		return nil
	}
	if s.format == pipeline.FormatUnknown {
		s.format = s.sniff.Format()
		if s.format == pipeline.FormatUnknown {
			if len(s.head) == 0 {
				return nil // empty input: nothing to detect, nothing lost
			}
			return errors.New("stdin: cannot detect the log format from the first lines (use --type syslog|nginx|fastlog|eve|fail2ban)")
		}
	}
	s.start()
	head := s.head
	s.head = nil
	for _, line := range head {
		if err := s.send(ctx, line); err != nil {
			return err
		}
	}
	return nil
}

func (s *stdin) start() {
	s.dec = sources.NewDecoder(s.format, time.Now(), s.loc, &s.c.msgs)
	s.dec.SetHomeNet(s.home)
	s.dec.SetWeb(s.web)
}

// errCanceled stops the line loop when ctx is done; Stdin returns nil then.
var errCanceled = errors.New("canceled")

func (s *stdin) send(ctx context.Context, line []byte) error {
	if len(line) == 0 {
		return nil
	}
	s.dec.Follow(time.Now)
	ev := &s.ev
	*ev = pipeline.Event{}
	if o, _ := s.dec.Decode(line, ev); o != sources.Event {
		return nil
	}
	ev.Source = StdinSource
	select {
	case s.out <- *ev:
		return nil
	case <-ctx.Done():
		return errCanceled
	}
}
