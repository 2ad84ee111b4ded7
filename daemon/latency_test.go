package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/sources/tail"

	"github.com/stockade-ids/stockade/control"
	"github.com/stockade-ids/stockade/pipeline"
)

// probeSink records when each decision arrives.
type probeSink struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

func (p *probeSink) Write(_ context.Context, ds []pipeline.Decision) error {
	now := time.Now()
	p.mu.Lock()
	for _, d := range ds {
		p.seen[d.Target.String()] = now
	}
	p.mu.Unlock()
	return nil
}
func (p *probeSink) Close(context.Context) error { return nil }

// BenchmarkLiveLatency appends lines to a watched file at 10,000 lines/s
// for two seconds, 1 % of them deciding a ban, and reports the time from
// the append to the decision reaching a sink (p50, p99). Run it with
// -benchtime 1x: one iteration is one two-second load.
func BenchmarkLiveLatency(b *testing.B) {
	const rate, seconds, every = 10_000, 2, 100
	for b.Loop() {
		dir := b.TempDir()
		log := filepath.Join(dir, "auth.log")
		os.WriteFile(log, nil, 0o644)
		packs := filepath.Join(dir, "packs")
		os.MkdirAll(packs, 0o755)
		os.WriteFile(filepath.Join(packs, "probe.yaml"), []byte(`pack: probe
rules:
  - name: probe
    formats: [syslog]
    programs: [sshd]
    failregex: ['^Failed password for root from <HOST> port \d+ ssh2$']
    ban: 1h
    escalate: false
`), 0o644)
		cfg := &Config{StateDir: filepath.Join(dir, "state"), Socket: filepath.Join(dir, "s.sock"), Rules: []string{packs},
			Sources: []SourceConfig{{Files: &tail.FilesConfig{Files: []string{log}}}}}
		d, err := New(*cfg, Deps{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			b.Fatal(err)
		}
		probe := &probeSink{seen: map[string]time.Time{}}
		d.sinks = append(d.sinks, &namedSink{name: "probe", sink: probe})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- runDaemon(ctx, d) }()
		for {
			if _, err := control.NewClient(cfg.Socket).Do(control.Request{Op: "ping"}); err == nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(300 * time.Millisecond) // the tailer has opened the file

		f, _ := os.OpenFile(log, os.O_APPEND|os.O_WRONLY, 0)
		written := map[string]time.Time{}
		start := time.Now()
		total := rate * seconds
		for i := range total {
			// Pace by the clock: line i is due at start + i/rate.
			if due := start.Add(time.Duration(i) * time.Second / rate); time.Until(due) > 0 {
				time.Sleep(time.Until(due))
			}
			stamp := time.Now().UTC().Format("2006-01-02T15:04:05.000000-07:00")
			if i%every == 0 {
				addr := fmt.Sprintf("203.0.%d.%d", i/every/250, i/every%250)
				fmt.Fprintf(f, "%s web1 sshd[%d]: Failed password for root from %s port 22 ssh2\n", stamp, i, addr)
				written[addr] = time.Now()
			} else {
				fmt.Fprintf(f, "%s web1 sshd[%d]: Accepted publickey for deploy from 192.0.2.%d port 50000 ssh2: ED25519 SHA256:q1w2e3r4\n", stamp, i, i%250)
			}
		}
		f.Close()
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			probe.mu.Lock()
			n := len(probe.seen)
			probe.mu.Unlock()
			if n == len(written) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		<-done
		var lat []time.Duration
		for addr, w := range written {
			if r, ok := probe.seen[addr]; ok {
				lat = append(lat, r.Sub(w))
			}
		}
		if len(lat) != len(written) {
			b.Fatalf("%d of %d decisions arrived", len(lat), len(written))
		}
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		b.ReportMetric(float64(total)/time.Since(start).Seconds(), "lines/s")
	}
}
