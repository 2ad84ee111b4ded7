package bus

import (
	"bytes"
	"context"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stockade-ids/stockade/internal/natsconn"
	"github.com/stockade-ids/stockade/internal/testservers"
	"github.com/stockade-ids/stockade/pipeline"
)

// logStream starts an embedded server with JetStream and a stream LOGS of
// logs.>, returning its URL and a publisher's JetStream.
func logStream(t *testing.T) (string, jetstream.JetStream) {
	t.Helper()
	srv := testservers.RunNATS(t, testservers.NATSOptions(t))
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: "LOGS", Subjects: []string{"logs.>"}}); err != nil {
		t.Fatal(err)
	}
	return srv.ClientURL(), js
}

// durableAt is a consumer of LOGS through the durable "d" on url.
func durableAt(t *testing.T, url string) *NATS {
	t.Helper()
	n, err := NewNATS(NATSConfig{Config: natsconn.Config{URL: url}, Subject: "logs.>", Stream: "LOGS", Durable: "d"}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	return n
}

// collect runs n, its deliveries' payloads counted (got), until stop
// (or the test's end).
func collect(t *testing.T, n *NATS) (got func() map[string]int, stop func()) {
	var mu sync.Mutex
	seen := map[string]int{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.RunBatch(ctx, func(_ context.Context, ds []*Delivery) error {
			mu.Lock()
			defer mu.Unlock()
			for _, d := range ds {
				seen[string(d.Data)]++
			}
			return nil
		}, 64)
	}()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	got = func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		out := map[string]int{}
		for k, v := range seen {
			out[k] = v
		}
		return out
	}
	return got, stop
}

// waitAll waits, well under the durable's AckWait (30s), for got to hold
// each of want.
func waitAll(t *testing.T, what string, got func() map[string]int, want []string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		g := got()
		var missing []string
		for _, w := range want {
			if g[w] == 0 {
				missing = append(missing, w)
			}
		}
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: after 5s, %d of %d messages missing (e.g. %.60q): the stopped consumer held them (the server "+
				"redelivers only after AckWait) or acknowledged them unjudged", what, len(missing), len(want), missing[0])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestNATSStopGivesBackUnjudged: a source stopped while the engine takes
// nothing (its queue full) has messages it was handed but did not judge:
// the one in its handler and those behind it. None is acknowledged, and
// all go back to the stream at once, so that the consumer started next on
// the durable gets them now, not after the AckWait.
func TestNATSStopGivesBackUnjudged(t *testing.T) {
	url, js := logStream(t)
	var want []string
	for i := range 20 {
		line := sshdLine(time.Now(), "203.0.113."+strconv.Itoa(10+i), i)
		want = append(want, line)
		if _, err := js.Publish(t.Context(), "logs.web1", []byte(line)); err != nil {
			t.Fatal(err)
		}
	}
	a := durableAt(t, url)
	s, err := newLinesSource(a)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, make(chan pipeline.Event)) }() // an engine taking nothing
	deadline := time.Now().Add(10 * time.Second)
	for s.Stats().Received == 0 || a.Stats().Delivered == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the source never received a message")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // the rest arrives in the consumer's buffer
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	a.Close()

	got, _ := collect(t, durableAt(t, url))
	waitAll(t, "the messages the stopped source did not judge", got, want)
}

// TestNATSStopCancelsPull: a consumer that stops withdraws its pull
// request from the server before it returns, so that a message published
// right after goes to the consumer started next, not to the connection
// that stopped (which the server, reading it late, still thinks is
// listening: the message would wait there for the AckWait). The link to
// the server delays what the client sends, as a loaded server reading it
// late does.
func TestNATSStopCancelsPull(t *testing.T) {
	url, js := logStream(t)
	a := durableAt(t, slowLink(t, url[len("nats://"):], 300*time.Millisecond))
	got, stop := collect(t, a)
	if _, err := js.Publish(t.Context(), "logs.web1", []byte("before")); err != nil {
		t.Fatal(err)
	}
	waitAll(t, "the first consumer's message", got, []string{"before"})

	// Stopped and closed, as the daemon does, then a message published at
	// once.
	stop()
	a.Close()
	if _, err := js.Publish(t.Context(), "logs.web1", []byte("after")); err != nil {
		t.Fatal(err)
	}
	got, _ = collect(t, durableAt(t, url))
	waitAll(t, "the message published once the first consumer stopped", got, []string{"after"})
}

// slowLink forwards connections to addr, holding what a client sends, and
// its close, for delay before the server reads it. It returns its URL.
func slowLink(t *testing.T, addr string, delay time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", addr)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, s)
			mu.Unlock()
			go func() {
				// The server's side goes through at once.
				buf := make([]byte, 32<<10)
				for {
					n, err := s.Read(buf)
					if n > 0 {
						c.Write(buf[:n])
					}
					if err != nil {
						c.Close()
						return
					}
				}
			}()
			type chunk struct {
				at time.Time
				b  []byte // nil: the client closed
			}
			q := make(chan chunk, 4096)
			go func() {
				for ch := range q {
					time.Sleep(time.Until(ch.at))
					if ch.b == nil {
						s.Close()
						return
					}
					s.Write(ch.b)
				}
			}()
			go func() {
				buf := make([]byte, 32<<10)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						q <- chunk{time.Now().Add(delay), bytes.Clone(buf[:n])}
					}
					if err != nil {
						q <- chunk{at: time.Now().Add(delay)}
						close(q)
						return
					}
				}
			}()
		}
	}()
	return "nats://" + ln.Addr().String()
}
