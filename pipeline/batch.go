package pipeline

import "sync/atomic"

// Batch is events a source hands over together: one channel send and one
// wake-up of the engine's goroutine for up to a read's worth of lines
// instead of one of each per line, which cost a live daemon on UDP syslog
// three times what replaying the same lines does. The receiver calls
// Release once it has processed the events (it must copy what it keeps
// of them, as of any Event); the source then fills the batch again.
type Batch struct {
	Events []Event
	// Data is memory the source copied the messages into, which the
	// events' strings point into: the batch owns it and the source reuses
	// it once the batch is released, so a message costs no allocation of
	// its own and no garbage.
	Data []byte
	pool *Batches
}

// Release gives b back to the source that filled it.
func (b *Batch) Release() {
	if b.pool != nil && cap(b.Events) >= b.pool.size {
		// The source fills whole batches: the next new one starts whole.
		b.pool.filled.Store(true)
	}
	clear(b.Events) // the strings point into the source's buffers
	b.Events = b.Events[:0]
	b.Data = b.Data[:0]
	if b.pool == nil {
		return
	}
	select {
	case b.pool.free <- b:
	default:
	}
}

// Batches is a source's supply of batches of a fixed capacity. It keeps
// the released ones for reuse, up to a bound.
type Batches struct {
	free chan *Batch
	size int
	// filled: a batch of this supply grew to size. A source that fills
	// its batches (a syslog listener under a flood, running ahead of the
	// engine by more batches than are kept) then gets new ones with room
	// for size at once: grown from a sixteenth, each new batch copied its
	// events four times over, 180 MB in 10 s of a flood at 200,000
	// messages a second.
	filled atomic.Bool
}

// NewBatches returns a supply of batches of size events, keeping up to
// keep of them for reuse.
func NewBatches(size, keep int) *Batches {
	return &Batches{free: make(chan *Batch, keep), size: size}
}

// Get returns an empty batch. A new one has room for a sixteenth of size
// events and grows as it is filled: a source that hands over a few
// events at a time (a unix socket's writers waiting on its short queue)
// does not allocate room for size with each batch its consumer has not
// released yet. Once one of its batches was filled, new ones have room
// for size.
func (p *Batches) Get() *Batch {
	select {
	case b := <-p.free:
		return b
	default:
		n := max(1, p.size/16)
		if p.filled.Load() {
			n = p.size
		}
		return &Batch{Events: make([]Event, 0, n), pool: p}
	}
}
