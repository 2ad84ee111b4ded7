package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/pipeline/sign"
	"github.com/stockade-ids/stockade/sinks/kafka"
	"github.com/stockade-ids/stockade/sinks/nats"
	"github.com/stockade-ids/stockade/sinks/queue"
	"github.com/stockade-ids/stockade/sources"
	"github.com/stockade-ids/stockade/sources/bus"
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
type busSource struct {
	kind     string // "nats" or "kafka"
	consumer bus.Consumer
	closer   func()
	decision bool            // payload: decisions
	format   pipeline.Format // lines without a format header
	self     string          // our origin: our own decisions are not judged again
	loc      *time.Location

	received, bad, own atomic.Uint64
}

func newBusSource(kind string, c bus.Consumer, closer func(), payload, format, self string, loc *time.Location) (*busSource, error) {
	s := &busSource{kind: kind, consumer: c, closer: closer, self: self, loc: loc}
	switch payload {
	case "", "decisions":
		s.decision = true
	case "lines":
		if format != "" {
			f, ok := pipeline.ParseFormat(format)
			if !ok {
				return nil, fmt.Errorf("format: unknown format %q", format)
			}
			s.format = f
		}
	default:
		return nil, fmt.Errorf("payload: %q: want decisions or lines", payload)
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
		p := parsers[f]
		if p == nil {
			p = sources.NewParser(f, time.Now(), s.loc)
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
