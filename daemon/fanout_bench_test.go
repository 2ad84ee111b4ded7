package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/enforce"
	"github.com/stockade-ids/stockade/internal/natsconn"
	"github.com/stockade-ids/stockade/internal/testkit"
	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/pipeline/sign"
	kafkasink "github.com/stockade-ids/stockade/sinks/kafka"
	natssink "github.com/stockade-ids/stockade/sinks/nats"
	"github.com/stockade-ids/stockade/sinks/queue"
)

// sensorSink is what a sensor publishes through: the NATS or Kafka sink
// with its on-disk queue, signing with the fleet's key.
func (f *fleet) sensorSink(tb testing.TB) *queue.Sink {
	signer, err := sign.LoadSigner(f.seed)
	if err != nil {
		tb.Fatal(err)
	}
	fast := queue.SinkConfig{MinBackoff: 5 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, Log: quiet()}
	var s *queue.Sink
	switch f.kind {
	case "nats":
		s, err = natssink.Open(natssink.Config{Config: natsconn.Config{URL: f.natsSrv.ClientURL()}, Stream: "STOCKADE",
			Signer: signer, Delivery: fast}, tb.TempDir(), quiet())
	case "kafka":
		s, err = kafkasink.Open(kafkasink.Config{Config: KafkaConn{Brokers: f.kafka.ListenAddrs()}, Topic: fanoutTopic,
			Signer: signer, Delivery: fast}, tb.TempDir(), quiet())
	}
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close(tb.Context()) })
	return s
}

func benchBan(target string) pipeline.Decision {
	now := time.Now()
	return pipeline.Decision{ID: "bench-" + target, Action: pipeline.ActionBan, Target: pipeline.MustTarget(target), Scope: pipeline.ScopeIP,
		Rule: "sshd", Reason: "bench", At: now, Duration: 3600, Expires: now.Add(time.Hour), Origin: "web1"}
}

// applied waits for onApply callbacks: one per firewall and target.
type applied struct {
	mu   sync.Mutex
	seen map[string]int
	cond *sync.Cond
}

func newApplied(f *fleet) *applied {
	a := &applied{seen: map[string]int{}}
	a.cond = sync.NewCond(&a.mu)
	for _, fw := range f.fw {
		fw.e.Enforcer().OnApply(func(target string) {
			a.mu.Lock()
			a.seen[target]++
			a.mu.Unlock()
			a.cond.Broadcast()
		})
	}
	return a
}

// wait blocks until target was applied n times, or limit passes.
func (a *applied) wait(target string, n int, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	timer := time.AfterFunc(limit, a.cond.Broadcast)
	defer timer.Stop()
	a.mu.Lock()
	defer a.mu.Unlock()
	for a.seen[target] < n {
		if time.Now().After(deadline) {
			return false
		}
		a.cond.Wait()
	}
	return true
}

func (a *applied) total() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, c := range a.seen {
		n += c
	}
	return n
}

func percentile(ds []time.Duration, p float64) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// BenchmarkFanOutLatency: from a sensor's Write of one decision to its
// element in the kernels of three firewalls (each in its own namespace,
// over loopback), one decision at a time; p50 and p99 over the run.
func BenchmarkFanOutLatency(b *testing.B) {
	for _, kind := range []string{"nats", "kafka"} {
		b.Run(kind, func(b *testing.B) {
			f := newFleet(b, kind, 3)
			f.unlimited = true
			for i := range 3 {
				f.startFirewall(i)
			}
			a := newApplied(f)
			s := f.sensorSink(b)
			// Warm up: connections, consumer groups, the nftables tables.
			if err := s.Write(b.Context(), []pipeline.Decision{benchBan("198.51.100.254")}); err != nil {
				b.Fatal(err)
			}
			if !a.wait("198.51.100.254", 3, 30*time.Second) {
				b.Fatal("warm-up decision not applied by the three firewalls")
			}
			var lat []time.Duration
			i := 0
			for b.Loop() {
				target := fmt.Sprintf("198.51.%d.%d", i/250, i%250)
				i++
				start := time.Now()
				if err := s.Write(b.Context(), []pipeline.Decision{benchBan(target)}); err != nil {
					b.Fatal(err)
				}
				if !a.wait(target, 3, 10*time.Second) {
					b.Fatalf("%s not in three kernels after 10s", target)
				}
				lat = append(lat, time.Since(start))
			}
			b.ReportMetric(float64(percentile(lat, 0.5).Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(percentile(lat, 0.99).Microseconds())/1000, "p99-ms")
		})
	}
}

// BenchmarkFanOutThroughput: a burst of decisions written by a sensor,
// until all are in the kernels of the firewalls: sustained decisions per
// second through the bus, each firewall verifying every signature and
// updating its kernel set in batches. With one firewall it is what one
// firewall host takes; with three, all of them share this machine's cores
// with the sensor and the broker (each verifies every signature).
func BenchmarkFanOutThroughput(b *testing.B) {
	const burst = 5000
	for _, kind := range []string{"nats", "kafka"} {
		for _, fws := range []int{1, 3} {
			b.Run(fmt.Sprintf("%s/firewalls=%d", kind, fws), func(b *testing.B) {
				f := newFleet(b, kind, fws)
				f.unlimited = true
				for i := range fws {
					f.startFirewall(i)
				}
				a := newApplied(f)
				s := f.sensorSink(b)
				round := 0
				for b.Loop() {
					ds := make([]pipeline.Decision, burst)
					for k := range ds {
						ds[k] = benchBan(fmt.Sprintf("45.%d.%d.%d", round%200, k/250, k%250))
						ds[k].ID = fmt.Sprintf("r%d-%d", round, k)
					}
					want := a.total() + fws*burst
					for k := 0; k < burst; k += 256 {
						if err := s.Write(b.Context(), ds[k:min(burst, k+256)]); err != nil {
							b.Fatal(err)
						}
					}
					testkit.WaitForWithin(b, 2*time.Minute, "every decision in the kernels", func() bool { return a.total() >= want })
					round++
				}
				b.ReportMetric(float64(burst)*float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
			})
		}
	}
}

// burstOf is n signed-to-be bans on distinct addresses, tagged by round.
func burstOf(n, round int) []pipeline.Decision {
	ds := make([]pipeline.Decision, n)
	for k := range ds {
		ds[k] = benchBan(fmt.Sprintf("45.%d.%d.%d", round%200, k/250%250, k%250))
		ds[k].ID = fmt.Sprintf("r%d-%d", round, k)
	}
	return ds
}

// BenchmarkBusPublish: a sensor signing and publishing a burst until the
// bus acknowledged all of it (JetStream stored it; Kafka's in-sync
// replicas have it). No firewall runs: this is the sensor's side alone.
func BenchmarkBusPublish(b *testing.B) {
	const burst = 10000
	for _, kind := range []string{"nats", "kafka"} {
		b.Run(kind, func(b *testing.B) {
			f := newFleet(b, kind, 0)
			s := f.sensorSink(b)
			round := 0
			for b.Loop() {
				want := s.Delivered() + burst
				ds := burstOf(burst, round)
				for k := 0; k < burst; k += 256 {
					if err := s.Write(b.Context(), ds[k:min(burst, k+256)]); err != nil {
						b.Fatal(err)
					}
				}
				testkit.WaitForWithin(b, 2*time.Minute, "the bus acknowledging the burst", func() bool { return s.Delivered() >= want })
				round++
			}
			b.ReportMetric(float64(burst)*float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
		})
	}
}

// BenchmarkBusConsume: a firewall catching up with a burst already on the
// bus (verifying every signature, judging, writing its kernel set in
// batches): what one firewall host takes, its cores its own.
func BenchmarkBusConsume(b *testing.B) {
	const burst = 10000
	for _, kind := range []string{"nats", "kafka"} {
		b.Run(kind, func(b *testing.B) {
			f := newFleet(b, kind, 1)
			f.unlimited = true
			s := f.sensorSink(b)
			round := 0
			for b.Loop() {
				b.StopTimer()
				want := s.Delivered() + burst
				ds := burstOf(burst, round)
				for k := 0; k < burst; k += 256 {
					if err := s.Write(b.Context(), ds[k:min(burst, k+256)]); err != nil {
						b.Fatal(err)
					}
				}
				testkit.WaitForWithin(b, 2*time.Minute, "the burst on the bus", func() bool { return s.Delivered() >= want })
				if f.fw[0] != nil {
					f.fw[0].stop()
				}
				b.StartTimer()
				// A fresh firewall state: it reads the whole stream again,
				// this burst included (earlier ones are already expired
				// for it or already enforced in its kernel).
				os.RemoveAll(filepath.Join(f.h.dir, "fw0"))
				fw := f.startFirewall(0)
				testkit.WaitForWithin(b, 2*time.Minute, "the firewall catching up", func() bool {
					return fw.e.Enforcer().Counts()[enforce.Accepted] >= burst
				})
				round++
			}
			b.ReportMetric(float64(burst)*float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
		})
	}
}
