package listen

import (
	"errors"
	"maps"
	"sync"
	"sync/atomic"

	"github.com/stockade-ids/stockade/pipeline"
)

// Counts is what one input has seen. Received is Events + Skipped + the sum
// of Bad, except for a message still being parsed.
type Counts struct {
	Received uint64            // messages read: datagrams, frames, lines, journal records
	Events   uint64            // messages that became events
	Skipped  uint64            // well-formed messages that are not events
	Bad      map[string]uint64 // refused messages by reason
	// Dropped is how many messages were lost before we could read them: UDP
	// datagrams the kernel discarded because the socket's receive buffer was
	// full (Linux only; it is learnt from the next datagram that arrives).
	Dropped uint64

	Conns    int64  // TCP connections open now
	Accepted uint64 // TCP connections accepted since Run
	Refused  uint64 // TCP connections closed at once because MaxConns were open
	Evicted  uint64 // TCP connections closed to let another in (see MaxConnsPerPeer)
	Idle     uint64 // TCP connections closed after IdleTimeout without a frame
	Denied   uint64 // TCP connections from an address not in Senders
}

// Stats are a Syslog listener's counts per transport.
type Stats struct {
	UDP, TCP, Unix Counts
}

// Total sums the transports.
func (s Stats) Total() Counts {
	t := s.UDP
	t.Bad = maps.Clone(s.UDP.Bad)
	if t.Bad == nil {
		t.Bad = map[string]uint64{}
	}
	for _, o := range []*Counts{&s.TCP, &s.Unix} {
		t.Received += o.Received
		t.Events += o.Events
		t.Skipped += o.Skipped
		t.Dropped += o.Dropped
		t.Conns += o.Conns
		t.Accepted += o.Accepted
		t.Refused += o.Refused
		t.Evicted += o.Evicted
		t.Idle += o.Idle
		t.Denied += o.Denied
		for r, n := range o.Bad {
			t.Bad[r] += n
		}
	}
	return t
}

// counters are one input's Counts, updated by its goroutines and read by
// Stats from any other.
type counters struct {
	received, events, skipped, dropped atomic.Uint64
	accepted, refused                  atomic.Uint64
	evicted, idle, denied              atomic.Uint64
	conns                              atomic.Int64

	// Bad lines are the rare path, and their reasons are not known in
	// advance (they come from the parsers), so a locked map is enough.
	mu  sync.Mutex
	bad map[string]uint64
}

func (c *counters) addBad(reason string) {
	c.mu.Lock()
	if c.bad == nil {
		c.bad = map[string]uint64{}
	}
	c.bad[reason]++
	c.mu.Unlock()
}

// parsed counts the outcome of one Parse: it reports whether there is an
// event to send.
func (c *counters) parsed(err error) bool {
	switch {
	case err == nil:
		c.events.Add(1)
		return true
	case err == pipeline.ErrSkip:
		c.skipped.Add(1)
	default:
		var bl *pipeline.BadLine
		if errors.As(err, &bl) {
			c.addBad(bl.Reason)
		} else {
			c.addBad("parse error")
		}
	}
	return false
}

func (c *counters) snapshot() Counts {
	c.mu.Lock()
	bad := maps.Clone(c.bad)
	c.mu.Unlock()
	if bad == nil {
		bad = map[string]uint64{}
	}
	return Counts{
		Received: c.received.Load(),
		Events:   c.events.Load(),
		Skipped:  c.skipped.Load(),
		Bad:      bad,
		Dropped:  c.dropped.Load(),
		Conns:    c.conns.Load(),
		Accepted: c.accepted.Load(),
		Refused:  c.refused.Load(),
		Evicted:  c.evicted.Load(),
		Idle:     c.idle.Load(),
		Denied:   c.denied.Load(),
	}
}
