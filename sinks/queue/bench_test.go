package queue

import (
	"fmt"
	"log/slog"
	"testing"

	"github.com/stockade-ids/stockade/internal/testkit"
)

// BenchmarkPushAck pushes a batch, peeks it and acks it: the queue's cost
// per delivery round with the remote up (two fsynced commits).
func BenchmarkPushAck(b *testing.B) {
	for _, batch := range []int{1, 100} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			q := open(b, b.TempDir(), Config{Log: slog.New(slog.DiscardHandler)})
			ds := testkit.Decisions(0, batch)
			b.ReportAllocs()
			for b.Loop() {
				push(b, q, ds)
				got, err := q.Peek(batch)
				if err != nil {
					b.Fatal(err)
				}
				if err := q.Ack(len(got)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "decisions/s")
		})
	}
}

// BenchmarkPush fills a queue with no one draining it (a remote outage).
func BenchmarkPush(b *testing.B) {
	for _, batch := range []int{1, 100} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			q := open(b, b.TempDir(), Config{Max: 1 << 30, Log: slog.New(slog.DiscardHandler)})
			ds := testkit.Decisions(0, batch)
			b.ReportAllocs()
			for b.Loop() {
				push(b, q, ds)
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "decisions/s")
		})
	}
}

// BenchmarkPeek reads a batch of 100 waiting decisions: what the delivery
// goroutine does before each publish (and again at every retry).
func BenchmarkPeek(b *testing.B) {
	q := open(b, b.TempDir(), Config{Log: slog.New(slog.DiscardHandler)})
	push(b, q, testkit.Decisions(0, 100))
	b.ReportAllocs()
	for b.Loop() {
		if got, err := q.Peek(100); err != nil || len(got) != 100 {
			b.Fatal(len(got), err)
		}
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "decisions/s")
}
