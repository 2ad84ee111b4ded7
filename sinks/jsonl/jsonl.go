// Package jsonl writes decisions as JSON lines, one decision per line, in
// the schema documented in README (pipeline.Decision).
package jsonl

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"

	"github.com/stockade-ids/stockade/pipeline"
)

// Sink appends decisions to a writer. Each Write is flushed before it
// returns, so a consumer tailing the file sees whole lines only.
type Sink struct {
	w      *bufio.Writer
	enc    *json.Encoder
	closer io.Closer
}

// New writes to w; Close does not close w.
func New(w io.Writer) *Sink {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	return &Sink{w: bw, enc: enc}
}

// OpenFile appends to path, creating it with mode 0640.
func OpenFile(path string) (*Sink, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return nil, err
	}
	s := New(f)
	s.closer = f
	return s, nil
}

// Write implements pipeline.Sink.
func (s *Sink) Write(_ context.Context, ds []pipeline.Decision) error {
	for i := range ds {
		if err := s.enc.Encode(&ds[i]); err != nil {
			return err
		}
	}
	return s.w.Flush()
}

// Close implements pipeline.Sink.
func (s *Sink) Close(context.Context) error {
	err := s.w.Flush()
	if s.closer != nil {
		if cerr := s.closer.Close(); err == nil {
			err = cerr
		}
	}
	return err
}
