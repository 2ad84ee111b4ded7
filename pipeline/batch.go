package pipeline

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
// released yet.
func (p *Batches) Get() *Batch {
	select {
	case b := <-p.free:
		return b
	default:
		return &Batch{Events: make([]Event, 0, max(1, p.size/16)), pool: p}
	}
}
