// Package testservers starts real servers in process for tests: nats-server
// on a random loopback port and franz-go's kfake Kafka-protocol broker.
package testservers

import (
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
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
