// Package fleet reads what the firewalls say about the decisions they
// judged (enforce.Ack, on stockade.acks.<firewall>, kept by the JetStream
// stream AckStream) and sums it up per firewall: when each was last heard
// of, what it applied, refused, deferred or overrode, and how long a
// decision took from its log line to the kernel. `stockade fleet status`
// prints it.
package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stockade-ids/stockade/enforce"
	"github.com/stockade-ids/stockade/pipeline/sign"
)

// AckStream is the stream that keeps the firewalls' acks: the daemon
// hosting nats_server creates it; on another cluster its administrator
// does (StreamConfig).
const AckStream = "STOCKADE_ACKS"

// StreamConfig is the acks' stream: a week of them, at most 1 GiB, the
// oldest dropped first.
func StreamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name: AckStream, Description: "stockade firewalls' acknowledgements",
		Subjects: []string{enforce.AckSubjectPrefix + ">"}, Storage: jetstream.FileStorage,
		MaxAge: 7 * 24 * time.Hour, MaxBytes: 1 << 30, Discard: jetstream.DiscardOld,
	}
}

// Ack is an acknowledgement as read, with whether its signature holds.
type Ack struct {
	enforce.Ack
	Signer string // the key that signed it; "" unsigned or forged
}

// maxRead bounds the acks one reading takes.
const maxRead = 1_000_000

// Read returns the acks kept since since, oldest first: at most maxRead,
// within ctx. A message that does not decode is skipped; one whose
// signature does not verify keeps an empty Signer.
func Read(ctx context.Context, nc *nats.Conn, since time.Time) ([]Ack, error) {
	var out []Ack
	err := each(ctx, nc, AckStream, since, func(m jetstream.Msg) {
		if a, ok := decode(m); ok {
			out = append(out, a)
		}
	})
	return out, err
}

// Decisions returns the ids of the decisions stream kept since since
// (their Nats-Msg-Id): what every firewall reading it should acknowledge.
func Decisions(ctx context.Context, nc *nats.Conn, stream string, since time.Time) ([]string, error) {
	var out []string
	err := each(ctx, nc, stream, since, func(m jetstream.Msg) {
		if id := m.Headers().Get(nats.MsgIdHdr); id != "" {
			out = append(out, id)
		}
	})
	return out, err
}

// each calls fn with every message stream kept since since, up to
// maxRead, oldest first, read through an ordered consumer of its own
// (nothing is acknowledged or changed).
func each(ctx context.Context, nc *nats.Conn, stream string, since time.Time, fn func(jetstream.Msg)) error {
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return fmt.Errorf("stream %s: %w", stream, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return err
	}
	if info.State.Msgs == 0 {
		return nil
	}
	c, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverByStartTimePolicy, OptStartTime: &since})
	if err != nil {
		return err
	}
	// Deleted when done: a daemon reading the fleet's status every few
	// seconds would otherwise leave a consumer on the server each time,
	// until the server refuses more.
	defer func() {
		if ci := c.CachedInfo(); ci != nil {
			_ = st.DeleteConsumer(context.WithoutCancel(ctx), ci.Name)
		}
	}()
	// The consumer knows how many messages are after the start time: ask
	// for exactly those, so no fetch waits for more that will not come.
	pending := maxRead
	if ci, err := c.Info(ctx); err == nil {
		pending = min(int(ci.NumPending), maxRead)
	}
	for pending > 0 {
		batch, err := c.Fetch(min(pending, 1000), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return err
		}
		n := 0
		var last uint64
		for m := range batch.Messages() {
			n++
			if md, err := m.Metadata(); err == nil {
				last = md.Sequence.Stream
			}
			fn(m)
		}
		pending -= n
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, jetstream.ErrNoMessages) {
			return err
		}
		if n == 0 || last >= info.State.LastSeq {
			return nil
		}
	}
	return nil
}

func decode(m jetstream.Msg) (Ack, bool) {
	var a Ack
	if err := json.Unmarshal(m.Data(), &a.Ack); err != nil || a.Firewall == "" {
		return a, false
	}
	key, sig := m.Headers().Get(sign.HeaderKey), m.Headers().Get(sign.HeaderSig)
	if key != "" && sign.Verify(key, m.Data(), sig) == nil {
		a.Signer = key
	}
	return a, true
}

// Firewall is one firewall's summary.
type Firewall struct {
	Name     string    `json:"name"`
	LastSeen time.Time `json:"last_seen"`
	// Behind is how long ago it was last heard of.
	Behind     time.Duration  `json:"behind_ns"`
	Judged     int            `json:"judged"`
	Applied    int            `json:"applied"`
	Refused    int            `json:"refused"`
	Deferred   int            `json:"deferred"`
	Overridden int            `json:"overridden"`
	Reasons    map[string]int `json:"refusals"` // refused, by reason
	Overrides  []enforce.Ack  `json:"overrides,omitempty"`
	Signers    []string       `json:"signers"` // keys its acks were signed with ("" unsigned)
	Latency    LatencySummary `json:"line_to_kernel"`
	Missing    int            `json:"missing,omitempty"`  // decisions known to the fleet it never acknowledged
	Repaired   int            `json:"repaired,omitempty"` // kernel elements it found drifted and repaired
	// Lag is the age of the oldest decision known to the fleet it has
	// not acknowledged (0: it is up to date).
	Lag time.Duration `json:"lag_ns,omitempty"`
}

// LatencySummary is the time from a decision's log line to the kernel.
type LatencySummary struct {
	N   int           `json:"n"`
	P50 time.Duration `json:"p50_ns"`
	P95 time.Duration `json:"p95_ns"`
	Max time.Duration `json:"max_ns"`
}

// Summarize sums acks up per firewall, by name. Expected, when given, are
// the ids of decisions every firewall should have judged: those a firewall
// never acknowledged count as Missing.
func Summarize(acks []Ack, expected []string, now time.Time) []Firewall {
	by := map[string]*Firewall{}
	judged := map[string]map[string]bool{}
	lat := map[string][]time.Duration{}
	for i := range acks {
		a := &acks[i]
		f := by[a.Firewall]
		if f == nil {
			f = &Firewall{Name: a.Firewall, Reasons: map[string]int{}}
			by[a.Firewall], judged[a.Firewall] = f, map[string]bool{}
		}
		if a.At.After(f.LastSeen) {
			f.LastSeen = a.At
		}
		if !slices.Contains(f.Signers, a.Signer) {
			f.Signers = append(f.Signers, a.Signer)
		}
		if a.Verdict == enforce.VerdictRepaired {
			f.Repaired += a.Repaired
			continue
		}
		if a.Action == "override" || a.Verdict == enforce.VerdictLifted {
			f.Overrides = append(f.Overrides, a.Ack)
			continue
		}
		f.Judged++
		judged[a.Firewall][a.ID] = true
		switch a.Verdict {
		case enforce.VerdictApplied:
			f.Applied++
			if !a.Applied.IsZero() && !a.DecidedAt.IsZero() {
				lat[a.Firewall] = append(lat[a.Firewall], a.Applied.Sub(a.DecidedAt))
			}
		case enforce.VerdictDeferred:
			f.Deferred++
		case enforce.VerdictOverridden:
			f.Overridden++
		default:
			f.Refused++
			f.Reasons[a.Reason]++
		}
	}
	out := make([]Firewall, 0, len(by))
	for name, f := range by {
		f.Behind = now.Sub(f.LastSeen)
		f.Latency = summarize(lat[name])
		for _, id := range expected {
			if !judged[name][id] {
				f.Missing++
			}
		}
		out = append(out, *f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func summarize(ds []time.Duration) LatencySummary {
	if len(ds) == 0 {
		return LatencySummary{}
	}
	slices.Sort(ds)
	at := func(q float64) time.Duration { return ds[min(len(ds)-1, int(q*float64(len(ds))))] }
	return LatencySummary{N: len(ds), P50: at(0.5), P95: at(0.95), Max: ds[len(ds)-1]}
}

// Published is a decision of the stream as the fleet should see it: its
// id and when the bus took it.
type Published struct {
	ID string
	At time.Time
}

// Decided returns the decisions of stream kept since since, oldest first,
// with the time the bus took each.
func Decided(ctx context.Context, nc *nats.Conn, stream string, since time.Time) ([]Published, error) {
	var out []Published
	err := each(ctx, nc, stream, since, func(m jetstream.Msg) {
		id := m.Headers().Get(nats.MsgIdHdr)
		if id == "" {
			return
		}
		p := Published{ID: id}
		if md, err := m.Metadata(); err == nil {
			p.At = md.Timestamp
		}
		out = append(out, p)
	})
	return out, err
}

// Status reads the acks and the decisions kept since since and sums them
// up per firewall, with each one's Lag: what `stockade fleet status`
// prints and the daemon's fleet metrics export. It returns the decisions
// read too.
func Status(ctx context.Context, nc *nats.Conn, stream string, since, now time.Time) ([]Firewall, []Published, error) {
	acks, err := Read(ctx, nc, since)
	if err != nil {
		return nil, nil, err
	}
	pub, err := Decided(ctx, nc, stream, since)
	if err != nil {
		return nil, nil, err
	}
	return SummarizePublished(acks, pub, now), pub, nil
}

// SummarizePublished is Summarize with each firewall's Lag: the age of the
// oldest decision of pub it has not acknowledged (0 when it has them all).
func SummarizePublished(acks []Ack, pub []Published, now time.Time) []Firewall {
	ids := make([]string, len(pub))
	for i, p := range pub {
		ids[i] = p.ID
	}
	st := Summarize(acks, ids, now)
	judged := map[string]map[string]bool{}
	for _, a := range acks {
		if judged[a.Firewall] == nil {
			judged[a.Firewall] = map[string]bool{}
		}
		judged[a.Firewall][a.ID] = true
	}
	for i := range st {
		for _, p := range pub { // oldest first: the first missing is the oldest
			if !judged[st[i].Name][p.ID] {
				st[i].Lag = now.Sub(p.At)
				break
			}
		}
	}
	return st
}

// Behind counts the firewalls of st whose oldest unacknowledged decision
// is older than grace: a firewall down, cut off from the bus or stuck,
// not one still applying what just came.
func Behind(st []Firewall, grace time.Duration) int {
	n := 0
	for _, f := range st {
		if f.Lag > grace {
			n++
		}
	}
	return n
}

func sortPublished(pub []Published) {
	sort.SliceStable(pub, func(i, j int) bool { return pub[i].At.Before(pub[j].At) })
}
