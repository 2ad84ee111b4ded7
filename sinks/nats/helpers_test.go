package nats

import (
	"context"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/internal/natsconn"
	"github.com/stockade-ids/stockade/internal/testkit"
	"github.com/stockade-ids/stockade/internal/testservers"
	"github.com/stockade-ids/stockade/sinks/queue"
)

// testConfig points at s with quick retries.
func testConfig(t testing.TB, url string) Config {
	return Config{
		Config:   natsconn.Config{URL: url, Timeout: 2 * time.Second, ReconnectWait: 20 * time.Millisecond},
		Delivery: queue.SinkConfig{MinBackoff: 10 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Log: testkit.Log(t)},
	}
}

func openSink(t testing.TB, cfg Config, dir string) *queue.Sink {
	t.Helper()
	s, err := Open(cfg, dir, testkit.Log(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

func closeSink(t testing.TB, s *queue.Sink) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// streamIDs are the decision ids the stream holds, in stream order, as
// numbers.
func streamIDs(t testing.TB, url, stream string) []int {
	t.Helper()
	var ids []int
	for _, id := range testservers.NATSStreamIDs(t, url, stream) {
		ids = append(ids, testkit.IDNum(t, id))
	}
	return ids
}
