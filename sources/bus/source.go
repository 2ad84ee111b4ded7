package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/sources"
	"github.com/stockade-ids/stockade/sources/suricata"
)

// RefusedUnsigned is the refusal of a decision that arrived on a source of
// lines, which verifies nothing (enforce.RefusedUnsigned is this reason).
const RefusedUnsigned = "unsigned"

// A Verifier decides whether a decision from the bus is believed, as a
// firewall would believe it: enforce.Verifier is the one stockade uses.
// The interface lives here, where it is used, because the firewall's
// runtime (enforce) consumes the bus through this package.
type Verifier interface {
	// VerifyDelivery fills x from d's payload and returns "" when it is
	// believed, else why not (a bounded metric label).
	VerifyDelivery(d *Delivery, x *pipeline.Decision) string
}

// SourceConfig is a Source's configuration.
type SourceConfig struct {
	Kind     string   // "nats" or "kafka": a metric label and the events' source prefix
	Consumer Consumer // what delivers
	Close    func()   // closes the consumer
	// Decisions: the payload is decisions from other sensors (for the fleet
	// pack), each believed only if Verifier believes it; otherwise lines,
	// of Format when a message names none (see ParsePayload).
	Decisions bool
	Format    pipeline.Format
	Verifier  Verifier
	Self      string // our origin: our own decisions are not judged again
	Loc       *time.Location
	HomeNet   suricata.HomeNet // for Suricata lines (eve.json shipped over a bus)
	Log       *slog.Logger
	// Topic is stamped on the events of Kafka records, with their
	// partition and offset (pipeline.Event.Topic); 0: none.
	Topic uint16
}

// ParsePayload checks a source's payload (decisions, the default, or
// lines) and the format of its lines.
func ParsePayload(payload, format string) (decisions bool, f pipeline.Format, err error) {
	switch payload {
	case "", "decisions":
		return true, pipeline.FormatUnknown, nil
	case "lines":
		if format != "" {
			f, ok := pipeline.ParseFormat(format)
			if !ok {
				return false, f, fmt.Errorf("format: unknown format %q", format)
			}
			if f == pipeline.FormatDecision {
				return false, f, errors.New("format: decision: a source of lines is not verified; set payload: decisions and its policy")
			}
			return false, f, nil
		}
		return false, pipeline.FormatUnknown, nil
	}
	return false, pipeline.FormatUnknown, fmt.Errorf("payload: %q: want decisions or lines", payload)
}

// Source turns what a bus consumer delivers into events: decisions from
// other sensors (for the fleet pack) or raw log lines.
//
// A message is acknowledged once its event is queued to the engine: a crash
// before the engine's next save may lose it (at most one save interval's
// worth), which a correlator counting repeat offenders can afford; the
// firewalls themselves (`stockade enforce`) acknowledge only what the
// kernel holds.
//
// Decisions are believed only as a firewall would believe them (trust):
// the correlator signs the fleet bans it makes of them, which every
// firewall enforces, so an unverified decision would let anyone who can
// publish on the bus choose whom the fleet bans.
type Source struct {
	cfg      SourceConfig
	log      *slog.Logger
	believed *believed // who signed what was believed; nil for lines

	refusedMu sync.Mutex
	refused   map[string]uint64 // by reason
	// refusalLog, touched by Run's goroutine only, rate-limits their log.
	refusalLog RefusalLog

	received, bad, own atomic.Uint64
}

// NewSource makes a source; a source of decisions needs a Verifier.
func NewSource(cfg SourceConfig) (*Source, error) {
	if cfg.Decisions && cfg.Verifier == nil {
		return nil, errors.New("a source of decisions needs a verifier")
	}
	s := &Source{cfg: cfg, log: cfg.Log, refused: map[string]uint64{}}
	if s.log == nil {
		s.log = slog.Default()
	}
	if cfg.Close == nil {
		s.cfg.Close = func() {}
	}
	if cfg.Decisions {
		s.believed = newBelieved()
	}
	return s, nil
}

// Kind is "nats" or "kafka".
func (s *Source) Kind() string { return s.cfg.Kind }

// Consumer is what delivers to the source.
func (s *Source) Consumer() Consumer { return s.cfg.Consumer }

// Close closes the consumer.
func (s *Source) Close() { s.cfg.Close() }

// SourceStats counts what a source received.
type SourceStats struct {
	Received, Bad, Own uint64            // own: our own decisions, ignored
	Refused            map[string]uint64 // decisions refused, by reason
}

// Stats are the source's counts so far.
func (s *Source) Stats() SourceStats {
	st := SourceStats{Received: s.received.Load(), Bad: s.bad.Load(), Own: s.own.Load(), Refused: map[string]uint64{}}
	s.refusedMu.Lock()
	defer s.refusedMu.Unlock()
	for r, n := range s.refused {
		st.Refused[r] = n
	}
	return st
}

// Run delivers events to out until ctx is done.
func (s *Source) Run(ctx context.Context, out chan<- pipeline.Event) error {
	decoders := map[pipeline.Format]*sources.Decoder{}
	return s.cfg.Consumer.Run(ctx, func(ctx context.Context, d *Delivery) error {
		s.received.Add(1)
		limit := sources.MaxLine
		if s.cfg.Decisions {
			// A decision is not a line: the sinks send them up to this.
			limit = pipeline.MaxDecisionBytes
		}
		if len(d.Data) > limit {
			// As in files: a line this long is not parsed (a bus may carry
			// messages of megabytes).
			s.bad.Add(1)
			return nil
		}
		f, ok := s.formatOf(d)
		if !ok {
			s.bad.Add(1)
			return nil
		}
		if f == pipeline.FormatDecision && !s.cfg.Decisions {
			// A decision among lines is checked by no one.
			s.refuse(RefusedUnsigned, d)
			return nil
		}
		dec := decoders[f]
		if dec == nil {
			dec = sources.NewDecoder(f, time.Now(), s.cfg.Loc, nil)
			dec.SetMaxLine(limit)
			dec.SetHomeNet(s.cfg.HomeNet)
			decoders[f] = dec
		}
		line := append([]byte(nil), d.Data...) // the event's own memory
		var ev pipeline.Event
		switch o, _ := dec.Decode(line, &ev); o {
		case sources.Bad:
			s.bad.Add(1)
			return nil
		case sources.Skip:
			return nil
		}
		if !s.admit(d, f, &ev) {
			return nil
		}
		ev.WarmUp = d.WarmUp
		if s.cfg.Topic != 0 && d.Offset > 0 {
			ev.Topic, ev.Partition, ev.Offset = s.cfg.Topic, int32(d.Partition), d.Offset
		}
		// Queued if the queue has room, even once ctx is done (the daemon
		// judges what is queued before it saves); else an error, so that
		// the consumer does not acknowledge what was never judged and
		// gives it back.
		select {
		case out <- ev:
			return nil
		default:
		}
		select {
		case out <- ev:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
}

// formatOf is the format of a delivery's payload: decisions, the format
// its header names, the source's, or else detected from the payload.
func (s *Source) formatOf(d *Delivery) (pipeline.Format, bool) {
	f := s.cfg.Format
	if s.cfg.Decisions {
		f = pipeline.FormatDecision
	} else if d.Format != "" {
		pf, ok := pipeline.ParseFormat(d.Format)
		if !ok {
			return f, false
		}
		f = pf
	}
	if f == pipeline.FormatUnknown {
		f = sources.Detect(d.Data)
	}
	return f, f != pipeline.FormatUnknown
}

// admit drops our own decisions and those not believed, and names the
// event's source after the subject or the message's source header.
func (s *Source) admit(d *Delivery, f pipeline.Format, ev *pipeline.Event) bool {
	if f == pipeline.FormatDecision && ev.Host == s.cfg.Self {
		s.own.Add(1)
		return false
	}
	if s.cfg.Decisions && !s.believe(d) {
		return false
	}
	ev.Source = s.cfg.Kind + ":" + d.Subject
	if d.Source != "" {
		ev.Source = s.cfg.Kind + ":" + filepath.Clean(d.Source)
	}
	return true
}

// believe verifies a decision under the source's policy, remembering who
// signed what it believes.
func (s *Source) believe(d *Delivery) bool {
	var x pipeline.Decision
	if r := s.cfg.Verifier.VerifyDelivery(d, &x); r != "" {
		s.refuse(r, d)
		return false
	}
	s.believed.add(&x, d.Signer)
	return true
}

// refuse counts a refused message and logs it, once per reason every
// RefusalLogEvery: a flood of forgeries must not flood the journal.
func (s *Source) refuse(r string, d *Delivery) {
	s.refusedMu.Lock()
	s.refused[r]++
	s.refusedMu.Unlock()
	suppressed, due := s.refusalLog.Due(r, time.Now())
	if !due {
		return
	}
	s.log.Warn("decision from the bus refused", "bus", s.cfg.Kind, "reason", r, "subject", d.Subject,
		"signer", d.Signer, "similar_not_logged", suppressed)
}
