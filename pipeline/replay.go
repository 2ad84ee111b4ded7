package pipeline

import (
	"context"
	"errors"
	"io"
)

// Iterator yields the events of one source in file order. Next fills ev
// (which the caller has reset) and returns io.EOF at the end. Bad and
// skipped lines are the iterator's to count; it returns only events.
//
// Replay pulls rather than receives over a channel: pulling lets one
// goroutine merge many files in event-time order with no copy per event.
type Iterator interface {
	Next(ev *Event) error
}

// batch is how many decisions accumulate before a sink write during replay.
const batch = 256

// Replay merges the iterators in event-time order (ties: the earlier
// iterator first, then file order), so several files replay as they
// happened live, and writes every decision to sink. It stops at the end of
// all sources, on the first source or sink error, or when ctx is done.
func Replay(ctx context.Context, e *Engine, its []Iterator, sink Sink) error {
	m, err := NewMerge(its)
	if err != nil {
		return err
	}
	out := writeBatch{sink: sink}
	for n := 1; ; n++ {
		if n&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		ev, _, err := m.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		out.ds = append(out.ds, e.Process(ev)...)
		if out.full() {
			if err := out.flush(ctx); err != nil {
				return err
			}
		}
	}
	out.ds = append(out.ds, e.Tick(e.Now())...)
	return out.flush(ctx)
}

// writeBatch gathers decisions and writes them to a sink in one call, once
// batch or more are pending and at the end: Replay and a parallel replay's
// collector write the same batches.
type writeBatch struct {
	sink Sink
	ds   []Decision
}

func (w *writeBatch) full() bool { return len(w.ds) >= batch }

func (w *writeBatch) flush(ctx context.Context) error {
	if len(w.ds) == 0 {
		return nil
	}
	err := w.sink.Write(ctx, w.ds)
	w.ds = w.ds[:0]
	return err
}
