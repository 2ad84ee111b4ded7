// Package jsonl writes decisions as JSON lines, one decision per line, in
// the schema documented in README (pipeline.Decision).
package jsonl

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"

	"github.com/stockade-ids/stockade/pipeline"
)

// Sink appends decisions to a writer. Each Write is flushed before it
// returns, so a consumer tailing the file sees whole lines only.
type Sink struct {
	path string // the file OpenFile opened, for Reopen; "" for a writer

	mu  sync.Mutex // Write, Reopen and Close come from different goroutines
	w   *bufio.Writer
	buf []byte // one decision's line, reused

	// Log is where a decision whose evidence was cut to fit a line is
	// told (nil: slog's default).
	Log    *slog.Logger
	closer io.Closer
}

// New writes to w; Close does not close w.
func New(w io.Writer) *Sink {
	s := &Sink{}
	s.use(w)
	return s
}

func (s *Sink) use(w io.Writer) {
	s.w = bufio.NewWriterSize(w, 64<<10)
}

// OpenFile appends to path, creating it with mode 0640.
func OpenFile(path string) (*Sink, error) {
	f, err := openFile(path)
	if err != nil {
		return nil, err
	}
	s := New(f)
	s.path, s.closer = path, f
	return s, nil
}

func openFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
}

// Reopen closes the file and opens its path again, so that after
// logrotate renames it (and `create` makes a new one) decisions go to the
// new file, not to the rotated one. The daemon calls it on SIGHUP and
// SIGUSR1. If the path cannot be opened, writes carry on into the old
// file and the error says why. A sink on a writer has nothing to reopen.
func (s *Sink) Reopen() error {
	if s.path == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closer == nil {
		return errors.New("jsonl: reopen after close")
	}
	f, err := openFile(s.path)
	if err != nil {
		return err
	}
	// Whatever is buffered belongs at the end of the old file.
	ferr := s.w.Flush()
	cerr := s.closer.Close()
	s.use(f)
	s.closer = f
	return errors.Join(ferr, cerr)
}

// Write implements pipeline.Sink. A line is what a json.Encoder with
// SetEscapeHTML(false) writes (so <, > and & in evidence stay readable),
// appended without reflection: replay writes tens of thousands a second.
// A decision that cannot be encoded (a time json refuses) writes nothing
// and stops the batch, as the Encoder did.
//
// A line is at most pipeline.MaxLine bytes, what stockade's own readers
// of the file take (a correlator's file source, `stockade replay`): a
// decision larger than that (its evidence an attacker's long lines,
// escaped) is written with the last of its evidence lines that fit, the
// deciding line last, and a warning says how many were left out; the
// lines themselves are in the log they came from. One that no cut of its
// evidence makes fit is written whole, with a warning.
func (s *Sink) Write(_ context.Context, ds []pipeline.Decision) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range ds {
		b, cut, err := ds[i].FitJSONUnescaped(s.buf[:0], pipeline.MaxLine-1)
		if errors.Is(err, pipeline.ErrTooLarge) {
			// No cut makes it fit: the record of what was decided is
			// kept whole, a line its readers count as too long.
			b, err = ds[i].AppendJSONUnescaped(s.buf[:0])
			if err == nil {
				s.logger().Warn("jsonl: decision larger than a line a reader of the file takes, even without its evidence: written whole", "id", ds[i].ID, "bytes", len(b), "max_line", pipeline.MaxLine)
			}
		}
		if err != nil {
			return fmt.Errorf("jsonl: decision %s: %w", ds[i].ID, err)
		}
		if cut > 0 {
			s.logger().Warn("jsonl: decision's evidence cut to fit a line a reader of the file takes", "id", ds[i].ID, "lines_left_out", cut, "max_line", pipeline.MaxLine)
		}
		s.buf = append(b, '\n')
		if _, err := s.w.Write(s.buf); err != nil {
			return err
		}
	}
	return s.w.Flush()
}

func (s *Sink) logger() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// Close implements pipeline.Sink.
func (s *Sink) Close(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.w.Flush()
	if s.closer != nil {
		if cerr := s.closer.Close(); err == nil {
			err = cerr
		}
		s.closer = nil
	}
	return err
}
