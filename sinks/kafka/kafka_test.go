package kafka

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stockade-ids/stockade/internal/kafkaconn"
	"github.com/stockade-ids/stockade/internal/testkit"
	"github.com/stockade-ids/stockade/internal/testservers"
	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/pipeline/sign"
	"github.com/stockade-ids/stockade/sinks/queue"
)

const partitions = 3

// runCluster starts an in-process Kafka-protocol broker with the topic.
func runCluster(t testing.TB, opts ...kfake.Opt) *kfake.Cluster {
	return testservers.RunKafka(t, DefaultTopic, partitions, opts...)
}

func testConfig(t testing.TB, c *kfake.Cluster) Config {
	return Config{
		Config:   kafkaconn.Config{Brokers: c.ListenAddrs(), Timeout: 2 * time.Second},
		Delivery: queue.SinkConfig{Batch: 16, MinBackoff: 10 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Log: testkit.Log(t)},
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

// record is what a consumer saw.
type record struct {
	partition int
	id        int
	key       string
	d         pipeline.Decision
}

// readAll reads every partition of the topic to its high watermark with a
// kafka-go Reader.
func readAll(t testing.TB, c *kfake.Cluster, brokers []string) []record {
	t.Helper()
	var out []record
	for p := range partitions {
		hw := c.PartitionInfo(DefaultTopic, int32(p)).HighWatermark
		if hw == 0 {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{
			Brokers: brokers, Topic: DefaultTopic, Partition: p,
			MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 50 * time.Millisecond,
		})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				cancel()
				r.Close()
				t.Fatalf("partition %d: read: %v", p, err)
			}
			var d pipeline.Decision
			if err := json.Unmarshal(m.Value, &d); err != nil {
				t.Fatalf("partition %d offset %d: %v", p, m.Offset, err)
			}
			var hdr string
			for _, h := range m.Headers {
				if h.Key == "id" {
					hdr = string(h.Value)
				}
			}
			if hdr != d.ID || string(m.Key) != d.Target.String() {
				t.Fatalf("partition %d offset %d: id header %q key %q, decision %s for %s", p, m.Offset, hdr, m.Key, d.ID, d.Target)
			}
			out = append(out, record{partition: p, id: testkit.IDNum(t, d.ID), key: string(m.Key), d: d})
			if m.Offset+1 >= hw {
				break
			}
		}
		cancel()
		r.Close()
	}
	return out
}

// check asserts that the records hold exactly the decisions want, each
// target on one partition and each partition in decision order. Copies
// (the same id again) are allowed when dups is set: consumers drop them
// by id.
func check(t testing.TB, recs []record, want []int, dups bool) {
	t.Helper()
	seen := map[int]int{}
	partOf := map[string]int{}
	last := map[int]int{}
	for _, r := range recs {
		seen[r.id]++
		if p, ok := partOf[r.key]; ok && p != r.partition {
			t.Fatalf("target %s on partitions %d and %d", r.key, p, r.partition)
		}
		partOf[r.key] = r.partition
		if seen[r.id] > 1 {
			continue
		}
		if l, ok := last[r.partition]; ok && r.id < l {
			t.Fatalf("partition %d: decision %d after %d", r.partition, r.id, l)
		}
		last[r.partition] = r.id
	}
	for _, id := range want {
		if seen[id] == 0 {
			t.Fatalf("decision %d missing (have %d records)", id, len(recs))
		}
		if seen[id] > 1 && !dups {
			t.Fatalf("decision %d stored %d times", id, seen[id])
		}
	}
	if len(seen) != len(want) {
		t.Fatalf("%d distinct decisions, want %d", len(seen), len(want))
	}
}

// fiveTargets gives decisions i..j-1 one of five targets, so that each
// target gets several decisions.
func fiveTargets(from, to int) []pipeline.Decision {
	ds := testkit.Decisions(from, to)
	for i := range ds {
		ds[i].Target = pipeline.MustTarget(fmt.Sprintf("198.51.100.%d", (from+i)%5))
	}
	return ds
}

func TestPublishAndReadBack(t *testing.T) {
	c := runCluster(t)
	cfg := testConfig(t, c)
	dir := t.TempDir()
	s := openSink(t, cfg, dir)
	if err := s.Write(t.Context(), fiveTargets(0, 20)); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "delivery", func() bool { return s.Delivered() == 20 })
	closeSink(t, s)

	// A new sink (a restart) hashes each target to the same partition.
	s = openSink(t, cfg, dir)
	if err := s.Write(t.Context(), fiveTargets(20, 40)); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "delivery", func() bool { return s.Delivered() == 20 })

	recs := readAll(t, c, cfg.Brokers)
	check(t, recs, testkit.Seq(0, 40), false)
	used := map[int]bool{}
	for _, r := range recs {
		used[r.partition] = true
	}
	if len(used) < 2 {
		t.Fatalf("five targets all on one partition: the key is not spreading them")
	}
}

// TestBrokerDownThenBack: the broker goes away; decisions written meanwhile
// are delivered when a broker is back on the same port with the same data.
func TestBrokerDownThenBack(t *testing.T) {
	data := t.TempDir()
	c := runCluster(t, kfake.DataDir(data))
	cfg := testConfig(t, c)
	_, portStr, _ := net.SplitHostPort(cfg.Brokers[0])
	port, _ := strconv.Atoi(portStr)
	s := openSink(t, cfg, t.TempDir())
	if err := s.Write(t.Context(), fiveTargets(0, 5)); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "the first decisions", func() bool { return s.Delivered() == 5 })

	c.Close()
	for i := 5; i < 20; i += 5 {
		if err := s.Write(t.Context(), fiveTargets(i, i+5)); err != nil {
			t.Fatal(err)
		}
	}
	testkit.WaitFor(t, "failed attempts", func() bool { return s.Failures() >= 2 })
	if s.Depth() != 15 || s.Up() {
		t.Fatalf("while down: depth %d up %v", s.Depth(), s.Up())
	}

	c = runCluster(t, kfake.DataDir(data), kfake.Ports(port))
	testkit.WaitFor(t, "the backlog", func() bool { return s.Depth() == 0 })
	check(t, readAll(t, c, cfg.Brokers), testkit.Seq(0, 20), false)
}

// TestPartialFailure: one partition refuses a produce; what the other
// partitions stored is acked only up to the first refusal, the rest is
// sent again, and a consumer that drops copies by id sees every decision
// once, in order per target.
func TestPartialFailure(t *testing.T) {
	c := runCluster(t)
	cfg := testConfig(t, c)
	p, err := NewPublisher(cfg, testkit.Log(t))
	if err != nil {
		t.Fatal(err)
	}
	ds := fiveTargets(0, 10)
	// Warm the metadata, then learn where the first decision's target goes.
	if err := queue.PublishNow(t.Context(), p, ds[:1]); err != nil {
		t.Fatal(err)
	}
	first := readAll(t, c, cfg.Brokers)[0].partition
	c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Partitions: []int32{int32(first)}, Err: kerr.UnknownServerError, Count: 2})

	err = queue.PublishNow(t.Context(), p, ds)
	var pe *queue.PartialError
	if !errors.As(err, &pe) || pe.Delivered != 0 {
		t.Fatalf("publish with the first target's partition failing: %v, want a PartialError with 0 delivered", err)
	}
	p.Close()

	s := openSink(t, cfg, t.TempDir())
	if err := s.Write(t.Context(), ds); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "delivery", func() bool { return s.Depth() == 0 })
	check(t, readAll(t, c, cfg.Brokers), testkit.Seq(0, 10), true)
}

func TestSASLAndTLS(t *testing.T) {
	ca, cert, key := testkit.WriteCerts(t)
	for _, tc := range []struct {
		name   string
		server []kfake.Opt
		client func(*Config)
		works  bool
	}{
		{"scram-sha-256", []kfake.Opt{kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-256", "stockade", "pw")},
			func(c *Config) {
				c.SASL = kafkaconn.SASLConfig{Mechanism: "scram-sha-256", User: "stockade", Password: "pw"}
			}, true},
		{"scram-sha-512", []kfake.Opt{kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", "stockade", "pw")},
			func(c *Config) {
				c.SASL = kafkaconn.SASLConfig{Mechanism: "scram-sha-512", User: "stockade", Password: "pw"}
			}, true},
		{"plain over tls", []kfake.Opt{kfake.EnableSASL(), kfake.Superuser("PLAIN", "stockade", "pw"), kfake.TLS(testkit.ServerTLS(t, ca, cert, key, false))},
			func(c *Config) {
				c.SASL = kafkaconn.SASLConfig{Mechanism: "plain", User: "stockade", Password: "pw"}
				c.TLS = kafkaconn.TLSConfig{CA: ca}
			}, true},
		{"mutual tls", []kfake.Opt{kfake.TLS(testkit.ServerTLS(t, ca, cert, key, true))},
			func(c *Config) { c.TLS = kafkaconn.TLSConfig{CA: ca, Cert: cert, Key: key} }, true},
		{"mutual tls without a client cert", []kfake.Opt{kfake.TLS(testkit.ServerTLS(t, ca, cert, key, true))},
			func(c *Config) { c.TLS = kafkaconn.TLSConfig{CA: ca} }, false},
		{"wrong password", []kfake.Opt{kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-256", "stockade", "pw")},
			func(c *Config) {
				c.SASL = kafkaconn.SASLConfig{Mechanism: "scram-sha-256", User: "stockade", Password: "guess"}
			}, false},
		{"tls client to a plaintext broker", nil, func(c *Config) { c.TLS = kafkaconn.TLSConfig{CA: ca} }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := runCluster(t, tc.server...)
			cfg := testConfig(t, c)
			cfg.Timeout = time.Second
			tc.client(&cfg)
			p, err := NewPublisher(cfg, testkit.Log(t))
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			err = queue.PublishNow(ctx, p, testkit.Decisions(0, 3))
			if tc.works && err != nil {
				t.Fatalf("publish: %v", err)
			}
			if !tc.works && err == nil {
				t.Fatal("publish succeeded")
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want []string
	}{
		{"no brokers", Config{}, []string{"brokers"}},
		{"broker without port", Config{Config: kafkaconn.Config{Brokers: []string{"kafka1"}}}, []string{"brokers[0]"}},
		{"bad topic", Config{Config: kafkaconn.Config{Brokers: []string{"k:9092"}}, Topic: "bans/all"}, []string{"topic"}},
		{"bad compression", Config{Config: kafkaconn.Config{Brokers: []string{"k:9092"}}, Compression: "brotli"}, []string{"compression"}},
		{"bad mechanism", Config{Config: kafkaconn.Config{Brokers: []string{"k:9092"}, SASL: kafkaconn.SASLConfig{Mechanism: "gssapi", User: "u"}}}, []string{"sasl.mechanism"}},
		{"user without mechanism", Config{Config: kafkaconn.Config{Brokers: []string{"k:9092"}, SASL: kafkaconn.SASLConfig{User: "u"}}}, []string{"sasl.mechanism"}},
		{"cert without key", Config{Config: kafkaconn.Config{Brokers: []string{"k:9092"}, TLS: kafkaconn.TLSConfig{Cert: "c.pem"}}}, []string{"tls"}},
		{"every error at once", Config{Compression: "brotli", Topic: ".."}, []string{"brokers", "topic", "compression"}},
		{"missing ca", Config{Config: kafkaconn.Config{Brokers: []string{"k:9092"}, TLS: kafkaconn.TLSConfig{CA: "/nonexistent/ca.pem"}}}, []string{"tls.ca"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewPublisher(tc.cfg, testkit.Log(t))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestSignedMessage: with a signer, a record carries the signer's public key
// and a signature over its exact value; without, neither header.
func TestSignedMessage(t *testing.T) {
	seed, pub, _ := sign.Generate()
	signer, _ := sign.NewSigner(seed)
	d := testkit.Decision(1)
	m, err := Message(&d, signer)
	if err != nil {
		t.Fatal(err)
	}
	h := map[string]string{}
	for _, x := range m.Headers {
		h[x.Key] = string(x.Value)
	}
	if h[sign.HeaderKey] != pub || h["id"] != d.ID {
		t.Fatalf("headers %v", h)
	}
	if err := sign.Verify(pub, m.Value, h[sign.HeaderSig]); err != nil {
		t.Fatal(err)
	}
	m, _ = Message(&d, nil)
	if len(m.Headers) != 1 {
		t.Fatalf("unsigned record has headers %v", m.Headers)
	}
}
