package nats

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stockade-ids/stockade/internal/natsconn"
	"github.com/stockade-ids/stockade/internal/testkit"
	"github.com/stockade-ids/stockade/pipeline"
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

// streamIDs connects to url and returns the decision ids stored in the
// stream, in stream order, as numbers.
func streamIDs(t testing.TB, url, stream string) []int {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int
	for s := info.State.FirstSeq; s <= info.State.LastSeq && info.State.Msgs > 0; s++ {
		m, err := st.GetMsg(ctx, s)
		if err != nil {
			t.Fatalf("seq %d: %v", s, err)
		}
		id := m.Header.Get(nats.MsgIdHdr)
		var d pipeline.Decision
		if err := json.Unmarshal(m.Data, &d); err != nil || d.ID != id {
			t.Fatalf("seq %d: header id %q, body %q (%v)", s, id, m.Data, err)
		}
		ids = append(ids, testkit.IDNum(t, id))
	}
	return ids
}
