package listen

import (
	"maps"
	"sync/atomic"

	"github.com/stockade-ids/stockade/sources"
)

// Counts is what one input has seen. Received is Events + Skipped + the sum
// of Bad.
type Counts struct {
	Received uint64            // messages read: datagrams, frames, lines, journal records
	Events   uint64            // messages that became events
	Skipped  uint64            // well-formed messages that are not events
	Bad      map[string]uint64 // refused messages by reason
	// Dropped is how many messages were lost before we could read them: UDP
	// datagrams the kernel discarded because the socket's receive buffer was
	// full (Linux only; asked of the kernel at most every 100 ms while
	// datagrams come).
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
	// msgs counts the messages read, which its Decoders classify, and
	// those refused before parsing.
	msgs              sources.Counter
	dropped           atomic.Uint64
	accepted, refused atomic.Uint64
	evicted, idle     atomic.Uint64
	denied            atomic.Uint64
	conns             atomic.Int64
}

func (c *counters) snapshot() Counts {
	n := c.msgs.Counts()
	return Counts{
		Received: n.Lines,
		Events:   n.Events,
		Skipped:  n.Skipped,
		Bad:      n.Bad,
		Dropped:  c.dropped.Load(),
		Conns:    c.conns.Load(),
		Accepted: c.accepted.Load(),
		Refused:  c.refused.Load(),
		Evicted:  c.evicted.Load(),
		Idle:     c.idle.Load(),
		Denied:   c.denied.Load(),
	}
}
