package nats

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

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

// coreServer starts a server without JetStream and a subscriber to every
// decision subject: the server's URL and the subscriber's messages.
func coreServer(t testing.TB) (string, *nats.Conn, chan *nats.Msg) {
	t.Helper()
	opts := testservers.NATSOptions(t)
	opts.JetStream = false
	srv := testservers.RunNATS(t, opts)
	sub, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sub.Close)
	msgs := make(chan *nats.Msg, 16)
	if _, err := sub.ChanSubscribe("stockade.decisions.>", msgs); err != nil {
		t.Fatal(err)
	}
	sub.Flush()
	return srv.ClientURL(), sub, msgs
}

// stoppedServer starts a server with JetStream to learn its port, then
// stops it: its URL, and the options that start it again on that port.
func stoppedServer(t testing.TB) (string, *server.Options) {
	t.Helper()
	opts := testservers.NATSOptions(t)
	srv := testservers.RunNATS(t, opts)
	url := srv.ClientURL()
	opts.Port = testservers.NATSPort(srv)
	srv.Shutdown()
	srv.WaitForShutdown()
	return url, opts
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
