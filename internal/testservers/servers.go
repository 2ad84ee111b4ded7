// Package testservers starts real servers in process for tests: nats-server
// on a random loopback port and franz-go's kfake Kafka-protocol broker.
package testservers

import (
	"context"
	"encoding/json"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stockade-ids/stockade/pipeline"
	"github.com/twmb/franz-go/pkg/kfake"
)

// NATSOptions are an embedded nats-server's options: a random loopback
// port, JetStream on in a directory of the test's own.
func NATSOptions(t testing.TB) *server.Options {
	return &server.Options{
		Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true,
		JetStream: true, StoreDir: t.TempDir(),
	}
}

// RunNATS starts a server and waits until it takes connections; it is shut
// down by t.Cleanup.
func RunNATS(t testing.TB, opts *server.Options) *server.Server {
	t.Helper()
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		t.Fatal("nats-server not ready in 10s")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s
}

// NATSPort is the port a server listens on (for restarting it on the same
// one).
func NATSPort(s *server.Server) int { return s.Addr().(*net.TCPAddr).Port }

// RunKafka starts an in-process Kafka-protocol broker (franz-go's kfake)
// holding topic with the given number of partitions.
func RunKafka(t testing.TB, topic string, partitions int, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	opts = append([]kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(int32(partitions), topic)}, opts...)
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// NATSStreamIDs are the decision ids a JetStream stream holds, in stream
// order (nil when the stream does not exist yet). Each message's
// Nats-Msg-Id header must be its decision's id: the test fails otherwise.
func NATSStreamIDs(t testing.TB, url, stream string) []string {
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
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return nil
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("stream seq %d: %v", seq, err)
		}
		var d pipeline.Decision
		if err := json.Unmarshal(m.Data, &d); err != nil || d.ID != m.Header.Get(nats.MsgIdHdr) {
			t.Fatalf("stream seq %d: id header %q, body %s (%v)", seq, m.Header.Get(nats.MsgIdHdr), m.Data, err)
		}
		ids = append(ids, d.ID)
	}
	return ids
}
