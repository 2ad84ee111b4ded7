package nats

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/internal/testkit"
	"github.com/stockade-ids/stockade/internal/testservers"
	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/sinks/queue"
)

const benchBatch = 100

// renumber gives ds fresh ids (round n), so JetStream stores rather than
// de-duplicates them.
func renumber(ds []pipeline.Decision, n int) {
	for i := range ds {
		ds[i].ID = fmt.Sprintf("%032x", n*len(ds)+i)
	}
}

// BenchmarkPublish is the publisher alone: batches of 100 decisions, each
// confirmed (a flush on core NATS, every PubAck on JetStream).
func BenchmarkPublish(b *testing.B) {
	for _, stream := range []string{"", "STOCKADE"} {
		name := "core"
		if stream != "" {
			name = "jetstream"
		}
		b.Run(name, func(b *testing.B) {
			srv := testservers.RunNATS(b, testservers.NATSOptions(b))
			cfg := testConfig(b, srv.ClientURL())
			cfg.Stream = stream
			p, err := NewPublisher(cfg, slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			testkit.WaitFor(b, "the connection", p.Conn().IsConnected)
			ds := testkit.Decisions(0, benchBatch)
			n := 0
			b.ReportAllocs()
			for b.Loop() {
				renumber(ds, n)
				n++
				if err := queue.PublishNow(b.Context(), p, ds); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*benchBatch)/b.Elapsed().Seconds(), "decisions/s")
		})
	}
}

// BenchmarkSink is the whole sink: Write (an fsynced queue commit), then
// delivery and the ack commit, batch after batch.
func BenchmarkSink(b *testing.B) {
	for _, stream := range []string{"", "STOCKADE"} {
		name := "core"
		if stream != "" {
			name = "jetstream"
		}
		b.Run(name, func(b *testing.B) {
			srv := testservers.RunNATS(b, testservers.NATSOptions(b))
			cfg := testConfig(b, srv.ClientURL())
			cfg.Stream = stream
			cfg.Delivery.Log = slog.New(slog.DiscardHandler)
			s, err := Open(cfg, b.TempDir(), slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			defer closeSink(b, s)
			ds := testkit.Decisions(0, benchBatch)
			n := 0
			start := time.Now()
			b.ReportAllocs()
			for b.Loop() {
				renumber(ds, n)
				n++
				if err := s.Write(b.Context(), ds); err != nil {
					b.Fatal(err)
				}
			}
			// Throughput counts until the last decision is confirmed.
			testkit.WaitFor(b, "delivery", func() bool { return s.Depth() == 0 })
			b.ReportMetric(float64(n*benchBatch)/time.Since(start).Seconds(), "decisions/s")
		})
	}
}
