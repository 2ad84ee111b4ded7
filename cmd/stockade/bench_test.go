package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/internal/gen"
	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/rules"
	"github.com/stockade-ids/stockade/sources"
)

var benchFiles sync.Map

// benchFile generates a corpus once per test binary run.
func benchFile(b *testing.B, name string, write func(*os.File) error) string {
	if p, ok := benchFiles.Load(name); ok {
		return p.(string)
	}
	dir, err := os.MkdirTemp("", "stockade-bench")
	if err != nil {
		b.Fatal(err)
	}
	p := filepath.Join(dir, name)
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	if err := write(f); err != nil {
		b.Fatal(err)
	}
	f.Close()
	os.Chtimes(p, gen.Start.AddDate(0, 1, 0), gen.Start.AddDate(0, 1, 0))
	benchFiles.Store(name, p)
	return p
}

type discard struct{ n int }

func (d *discard) Write(_ context.Context, ds []pipeline.Decision) error { d.n += len(ds); return nil }
func (d *discard) Close(context.Context) error                           { return nil }

// defaultSet is a fresh set of the built-in packs. Fresh: a set keeps its
// engine's state for the predicates' helpers.
func defaultSet(b *testing.B) *rules.Set {
	packs, err := rules.DefaultPacks()
	if err != nil {
		b.Fatal(err)
	}
	set, err := rules.NewSet(packs...)
	if err != nil {
		b.Fatal(err)
	}
	return set
}

func benchReplay(b *testing.B, path string, lines int) {
	set := defaultSet(b)
	b.ReportAllocs()
	var decisions int
	for b.Loop() {
		f, err := sources.Open(path, sources.Options{Loc: time.UTC})
		if err != nil {
			b.Fatal(err)
		}
		eng := pipeline.NewEngine(set, pipeline.Config{Origin: "bench"})
		d := &discard{}
		if err := pipeline.Replay(context.Background(), eng, []pipeline.Iterator{f}, d); err != nil {
			b.Fatal(err)
		}
		f.Close()
		if n := f.Counts().Lines; n != uint64(lines) {
			b.Fatalf("read %d lines, want %d", n, lines)
		}
		decisions = d.n
	}
	b.ReportMetric(float64(lines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
	b.ReportMetric(float64(decisions), "decisions")
}

// BenchmarkReplayAuthLog is the replay core's headline: a 1,000,000-line
// auth.log through the default packs, file to decisions, on one goroutine.
func BenchmarkReplayAuthLog(b *testing.B) {
	const n = 1_000_000
	p := benchFile(b, "auth.log", func(f *os.File) error { return gen.AuthLog(f, gen.Spec{Lines: n, Seed: 1}) })
	benchReplay(b, p, n)
}

// BenchmarkReplayNginx: a 1,000,000-line access log (a fifth of it
// scanners and WordPress guesses) through the default packs.
func BenchmarkReplayNginx(b *testing.B) {
	const n = 1_000_000
	p := benchFile(b, "access.log", func(f *os.File) error { return gen.Nginx(f, gen.Spec{Lines: n, Seed: 3}) })
	benchReplay(b, p, n)
}

// BenchmarkReplayFastLog: 1,000,000 fast.log alerts.
func BenchmarkReplayFastLog(b *testing.B) {
	const n = 1_000_000
	p := benchFile(b, "fast.log", func(f *os.File) error { return gen.FastLog(f, gen.Spec{Lines: n, Seed: 4}) })
	benchReplay(b, p, n)
}

// BenchmarkReplayEve: 1,000,000 eve.json records, 10 % alerts.
func BenchmarkReplayEve(b *testing.B) {
	const n = 1_000_000
	p := benchFile(b, "eve.json", func(f *os.File) error { return gen.Eve(f, gen.Spec{Lines: n, Seed: 2, AlertPercent: 10}) })
	benchReplay(b, p, n)
}

// BenchmarkWindowMemory tracks 100,000 and 1,000,000 distinct attacking
// addresses in the sshd window (four failures each, below the threshold)
// and reports the heap held per tracked address, the evidence ring (about
// 4 MB, whatever the number of addresses) included.
func BenchmarkWindowMemory(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("addrs=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			var perAddr float64
			for b.Loop() {
				// Packs and a set of their own: they keep their engine's
				// state (for the predicates' helpers), so shared ones would
				// keep the previous iteration's engine alive into this
				// one's first reading.
				set := defaultSet(b)
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				eng := pipeline.NewEngine(set, pipeline.Config{Origin: "bench"})
				var ev pipeline.Event
				for k := 0; k < 4; k++ {
					for i := 0; i < n; i++ {
						msg := "Failed password for root from " + netipFrom(i) + " port 22 ssh2"
						ev = pipeline.Event{Format: pipeline.FormatSyslog, Program: "sshd", Message: msg, Line: msg,
							Time: gen.Start.Add(time.Duration(k*n+i) * 100 * time.Microsecond)}
						eng.Process(&ev)
					}
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				if eng.Counter().Len() != n {
					b.Fatalf("%d windows, want %d", eng.Counter().Len(), n)
				}
				perAddr = float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
				runtime.KeepAlive(eng)
			}
			b.ReportMetric(perAddr, "heap-B/addr")
		})
	}
}

func netipFrom(i int) string {
	return "203." + strconv.Itoa(i>>16&0xff) + "." + strconv.Itoa(i>>8&0xff) + "." + strconv.Itoa(i&0xff)
}

// multiFiles generates the four logs of one host over the same hours,
// 250,000 lines each, so that replayed together their lines interleave.
func multiFiles(b *testing.B) []string {
	const n = 250_000
	span := time.Duration(n) * 10 * time.Millisecond
	return []string{
		benchFile(b, "multi-auth.log", func(f *os.File) error { return gen.AuthLog(f, gen.Spec{Lines: n, Seed: 11, Span: span}) }),
		benchFile(b, "multi-access.log", func(f *os.File) error { return gen.Nginx(f, gen.Spec{Lines: n, Seed: 12, Span: span}) }),
		benchFile(b, "multi-eve.json", func(f *os.File) error {
			return gen.Eve(f, gen.Spec{Lines: n, Seed: 13, Span: span, AlertPercent: 10})
		}),
		benchFile(b, "multi-fast.log", func(f *os.File) error { return gen.FastLog(f, gen.Spec{Lines: n, Seed: 14, Span: span}) }),
	}
}

// BenchmarkReplayParallel replays the four logs together with 1, 2 and 4
// workers (run it with -cpu 1,2 to set the cores).
func BenchmarkReplayParallel(b *testing.B) {
	paths := multiFiles(b)
	set := defaultSet(b)
	for _, workers := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			b.ReportAllocs()
			var lines uint64
			for b.Loop() {
				lines = 0
				var (
					files   []*sources.File
					its     []pipeline.Iterator
					formats []pipeline.Format
				)
				for _, p := range paths {
					f, err := sources.Open(p, sources.Options{Loc: time.UTC})
					if err != nil {
						b.Fatal(err)
					}
					files, its, formats = append(files, f), append(its, f), append(formats, f.Format)
				}
				eng := pipeline.NewEngine(set, pipeline.Config{Origin: "bench"})
				if err := pipeline.ReplayWith(context.Background(), eng, its, &discard{}, pipeline.ReplayOptions{Workers: workers, Formats: formats}); err != nil {
					b.Fatal(err)
				}
				for _, f := range files {
					lines += f.Counts().Lines
					f.Close()
				}
			}
			b.ReportMetric(float64(lines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
		})
	}
}

// BenchmarkReplaySplit replays one log alone with one worker (on one
// goroutine) and with two (read in chunks that both decode and match,
// counted on both): run it with -cpu 2, the allocations are the whole
// replay's.
func BenchmarkReplaySplit(b *testing.B) {
	const n = 300_000
	logs := []struct {
		name  string
		write func(*os.File) error
	}{
		{"auth.log", func(f *os.File) error { return gen.AuthLog(f, gen.Spec{Lines: n, Seed: 1}) }},
		{"access.log", func(f *os.File) error { return gen.Nginx(f, gen.Spec{Lines: n, Seed: 3}) }},
		{"eve.json", func(f *os.File) error { return gen.Eve(f, gen.Spec{Lines: n, Seed: 2, AlertPercent: 10}) }},
		{"fast.log", func(f *os.File) error { return gen.FastLog(f, gen.Spec{Lines: n, Seed: 4}) }},
	}
	for _, l := range logs {
		p := benchFile(b, "split-"+l.name, l.write)
		for _, workers := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/workers=%d", l.name, workers), func(b *testing.B) {
				set := defaultSet(b)
				b.ReportAllocs()
				for b.Loop() {
					f, err := sources.Open(p, sources.Options{Loc: time.UTC})
					if err != nil {
						b.Fatal(err)
					}
					eng := pipeline.NewEngine(set, pipeline.Config{Origin: "bench"})
					opt := pipeline.ReplayOptions{Workers: workers, Formats: []pipeline.Format{f.Format}}
					if err := pipeline.ReplayWith(context.Background(), eng, []pipeline.Iterator{f}, &discard{}, opt); err != nil {
						b.Fatal(err)
					}
					f.Close()
					if got := f.Counts().Lines; got != n {
						b.Fatalf("read %d lines, want %d", got, n)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n*b.N), "ns/line")
			})
		}
	}
}
