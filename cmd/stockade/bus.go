package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stockade-ids/stockade/enforce"
	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/pipeline/guard"
	"github.com/stockade-ids/stockade/pipeline/sign"
	"github.com/stockade-ids/stockade/sinks/kafka"
	"github.com/stockade-ids/stockade/sinks/nats"
	"github.com/stockade-ids/stockade/sinks/queue"
	"github.com/stockade-ids/stockade/sources"
	"github.com/stockade-ids/stockade/sources/bus"
	"github.com/stockade-ids/stockade/sources/decision"
	"github.com/stockade-ids/stockade/sources/suricata"
)

// openNATSSink starts a NATS sink whose backlog lives in the state
// directory; url is the embedded server's when the section names none.
func openNATSSink(c *NATSSinkConfig, stateDir, embeddedURL string, signer *sign.Signer, log *slog.Logger) (*queue.Sink, error) {
	cfg := nats.Config{Config: c.conn(), Name: c.Name, Subject: c.Subject, Stream: c.Stream,
		Duplicates: time.Duration(c.Duplicates), MaxAge: time.Duration(c.MaxAge), Signer: signer, Queue: c.Queue.queue()}
	if cfg.URL == "" {
		cfg.URL = embeddedURL
	}
	return nats.Open(cfg, stateDir, log)
}

func openKafkaSink(c *KafkaSinkConfig, stateDir string, signer *sign.Signer, log *slog.Logger) (*queue.Sink, error) {
	cfg := kafka.Config{Config: c.conn(), Name: c.Name, Topic: c.Topic, Compression: c.Compression, Signer: signer, Queue: c.Queue.queue()}
	return kafka.Open(cfg, stateDir, log)
}

// busSource turns what a bus consumer delivers into events: decisions
// from other sensors (for the fleet pack) or raw log lines.
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
type busSource struct {
	kind     string // "nats" or "kafka"
	consumer bus.Consumer
	closer   func()
	decision bool            // payload: decisions
	format   pipeline.Format // lines without a format header
	self     string          // our origin: our own decisions are not judged again
	loc      *time.Location
	home     suricata.HomeNet // for Suricata lines (eve.json shipped over a bus)
	log      *slog.Logger

	trust    *enforce.Verifier // set for decisions
	believed *believed         // who signed what was believed
	// refused counts refusals by reason (the map is filled at start);
	// refusalLog, touched by Run's goroutine only, rate-limits their log.
	refused    map[enforce.Reason]*atomic.Uint64
	refusalLog enforce.RefusalLog

	received, bad, own atomic.Uint64
}

func newBusSource(kind string, c bus.Consumer, closer func(), payload, format string, policy *PolicyConfig, g *guard.Guard, self string,
	loc *time.Location, log *slog.Logger) (*busSource, error) {
	s := &busSource{kind: kind, consumer: c, closer: closer, self: self, loc: loc, log: log,
		refused: map[enforce.Reason]*atomic.Uint64{}}
	if s.log == nil {
		s.log = slog.Default()
	}
	for _, r := range enforce.VerifyRefusals {
		s.refused[r] = new(atomic.Uint64)
	}
	switch payload {
	case "", "decisions":
		s.decision = true
	case "lines":
		if format != "" {
			f, ok := pipeline.ParseFormat(format)
			if !ok {
				return nil, fmt.Errorf("format: unknown format %q", format)
			}
			if f == pipeline.FormatDecision {
				return nil, errors.New("format: decision: a source of lines is not verified; set payload: decisions and its policy")
			}
			s.format = f
		}
	default:
		return nil, fmt.Errorf("payload: %q: want decisions or lines", payload)
	}
	trust, err := busTrust(payload, policy, g)
	if err != nil {
		return nil, err
	}
	if trust != nil {
		s.trust, s.believed = trust, newBelieved()
	}
	return s, nil
}

// Run implements liveSource.
func (s *busSource) Run(ctx context.Context, out chan<- pipeline.Event) error {
	parsers := map[pipeline.Format]pipeline.Parser{}
	return s.consumer.Run(ctx, func(ctx context.Context, d *bus.Delivery) error {
		s.received.Add(1)
		if len(d.Data) > sources.MaxLine {
			// As in files: a line this long is not parsed (a bus may carry
			// messages of megabytes).
			s.bad.Add(1)
			return nil
		}
		f := s.format
		if s.decision {
			f = pipeline.FormatDecision
		} else if d.Format != "" {
			pf, ok := pipeline.ParseFormat(d.Format)
			if !ok {
				s.bad.Add(1)
				return nil
			}
			f = pf
		}
		if f == pipeline.FormatUnknown {
			if f = sources.Detect(d.Data); f == pipeline.FormatUnknown {
				s.bad.Add(1)
				return nil
			}
		}
		if f == pipeline.FormatDecision && !s.decision {
			// A decision among lines is checked by no one.
			s.refuse(enforce.RefusedUnsigned, d)
			return nil
		}
		p := parsers[f]
		if p == nil {
			p = sources.WithHomeNet(sources.NewParser(f, time.Now(), s.loc), s.home)
			parsers[f] = p
		}
		line := append([]byte(nil), d.Data...) // the event's own memory
		var ev pipeline.Event
		if err := p.Parse(line, &ev); err != nil {
			if err != pipeline.ErrSkip {
				s.bad.Add(1)
			}
			return nil
		}
		if f == pipeline.FormatDecision && ev.Host == s.self {
			s.own.Add(1)
			return nil
		}
		if s.decision && !s.believe(d) {
			return nil
		}
		ev.Source = s.kind + ":" + d.Subject
		if d.Source != "" {
			ev.Source = s.kind + ":" + filepath.Clean(d.Source)
		}
		select {
		case out <- ev:
		case <-ctx.Done():
		}
		return nil
	})
}

// believe verifies a decision under the source's policy, remembering who
// signed what it believes.
func (s *busSource) believe(d *bus.Delivery) bool {
	var x pipeline.Decision
	if r := s.trust.Verify(&enforce.Message{Data: d.Data, Signer: d.Signer, Sig: d.Sig}, &x); r != enforce.Accepted {
		s.refuse(r, d)
		return false
	}
	s.believed.add(&x, d.Signer)
	return true
}

// refuse counts a refused message and logs it, once per reason every
// enforce.RefusalLogEvery: a flood of forgeries must not flood the journal.
func (s *busSource) refuse(r enforce.Reason, d *bus.Delivery) {
	s.refused[r].Add(1)
	suppressed, due := s.refusalLog.Due(r, time.Now())
	if !due {
		return
	}
	s.log.Warn("decision from the bus refused", "bus", s.kind, "reason", string(r), "subject", d.Subject,
		"signer", d.Signer, "similar_not_logged", suppressed)
}

// A source remembers, of the decisions it believed, the newest of each
// origin about each target (up to maxOriginsPerTarget of them, for the last
// maxBelievedTargets targets): about 150 bytes each, 20 MB at most.
const (
	maxBelievedTargets  = 1 << 14
	maxOriginsPerTarget = 8
)

// believed remembers who signed the decisions a source believed, for the
// provenance of the decisions built from them. The rule that decides is not
// told which decisions made it (a fleet rule's distinct() keeps origins,
// not lines; its evidence is the deciding decision), so the provenance of
// a ban of a target is what the correlator believed about that target by
// then. The target first seen longest ago is forgotten first.
type believed struct {
	mu       sync.Mutex
	byTarget map[string][]believedDecision
	ring     []string
	next     int
}

type believedDecision struct {
	pipeline.Provenance
	at time.Time
}

func newBelieved() *believed {
	return &believed{byTarget: map[string][]believedDecision{}, ring: make([]string, maxBelievedTargets)}
}

// add remembers x, verified as signed by signer.
func (b *believed) add(x *pipeline.Decision, signer string) {
	p, err := x.Prefix()
	if err != nil {
		return
	}
	t, _ := pipeline.TargetString(p)
	e := believedDecision{Provenance: pipeline.Provenance{ID: x.ID, Origin: x.Origin, Signer: signer}, at: x.At}
	b.mu.Lock()
	defer b.mu.Unlock()
	list, ok := b.byTarget[t]
	if !ok {
		if old := b.ring[b.next]; old != "" {
			delete(b.byTarget, old)
		}
		b.ring[b.next] = t
		b.next = (b.next + 1) % len(b.ring)
	}
	for i := range list {
		if list[i].Origin == x.Origin {
			if !x.At.Before(list[i].at) {
				list[i] = e
			}
			b.byTarget[t] = list
			return
		}
	}
	if len(list) >= maxOriginsPerTarget {
		oldest := 0
		for i := range list {
			if list[i].at.Before(list[oldest].at) {
				oldest = i
			}
		}
		list = slices.Delete(list, oldest, oldest+1)
	}
	b.byTarget[t] = append(list, e)
}

// about appends to out what was believed about target at or before at.
func (b *believed) about(out []believedDecision, target string, at time.Time) []believedDecision {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range b.byTarget[target] {
		if !e.at.After(at) {
			out = append(out, e)
		}
	}
	return out
}

// provenance names, in each decision built from other decisions (a fleet
// ban: its evidence is decisions), the decisions it was built from: those
// the bus sources verified about its target by its time, with the key
// that signed each, and those its evidence quotes (without a signer when
// they came from a file, or before a restart). The decision is then
// signed with it, so a firewall or an auditor sees who asked for it.
// The order is by time, then origin and id: the same decision always
// names them alike.
func (d *daemon) provenance(ds []pipeline.Decision) {
	for i := range ds {
		x := &ds[i]
		var quoted []pipeline.Provenance
		for _, line := range x.Evidence {
			if id, origin, ok := decision.Ref(line); ok {
				quoted = append(quoted, pipeline.Provenance{ID: id, Origin: origin})
			}
		}
		if len(quoted) == 0 {
			continue
		}
		var es []believedDecision
		for _, b := range d.bus {
			if b.believed != nil {
				es = b.believed.about(es, x.Target, x.At)
			}
		}
		for _, q := range quoted {
			es = append(es, believedDecision{Provenance: q, at: x.At})
		}
		// The first of each: a quoted decision that a source verified
		// keeps its signer.
		seen := map[[2]string]bool{}
		es = slices.DeleteFunc(es, func(e believedDecision) bool {
			k := [2]string{e.Origin, e.ID}
			dup := seen[k]
			seen[k] = true
			return dup
		})
		slices.SortStableFunc(es, func(a, b believedDecision) int {
			return cmp.Or(a.at.Compare(b.at), cmp.Compare(a.Origin, b.Origin), cmp.Compare(a.ID, b.ID))
		})
		for _, e := range es {
			x.Provenance = append(x.Provenance, e.Provenance)
		}
	}
}

// busRefusedMetrics counts the decisions bus sources refused, by reason.
func (d *daemon) busRefusedMetrics(b *strings.Builder) {
	const name = "stockade_bus_refused_total"
	fmt.Fprintf(b, "# HELP %s Decisions from the bus refused by the source's policy, by reason.\n# TYPE %s counter\n", name, name)
	per := map[string]map[enforce.Reason]uint64{}
	for _, s := range d.bus {
		if per[s.kind] == nil {
			per[s.kind] = map[enforce.Reason]uint64{}
		}
		for r, c := range s.refused {
			per[s.kind][r] += c.Load()
		}
	}
	for _, k := range slices.Sorted(maps.Keys(per)) {
		for _, r := range enforce.VerifyRefusals {
			fmt.Fprintf(b, "%s{bus=%q,reason=%q} %d\n", name, k, string(r), per[k][r])
		}
	}
}
