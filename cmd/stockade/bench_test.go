package main

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
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

func benchReplay(b *testing.B, path string, lines int) {
	packs, err := rules.DefaultPacks()
	if err != nil {
		b.Fatal(err)
	}
	set, err := rules.NewSet(packs...)
	if err != nil {
		b.Fatal(err)
	}
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
		if f.Lines != uint64(lines) {
			b.Fatalf("read %d lines, want %d", f.Lines, lines)
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
	p := benchFile(b, "auth.log", func(f *os.File) error { return gen.AuthLog(f, n, 20000, 1) })
	benchReplay(b, p, n)
}

// BenchmarkReplayEve: 1,000,000 eve.json records, 10 % alerts.
func BenchmarkReplayEve(b *testing.B) {
	const n = 1_000_000
	p := benchFile(b, "eve.json", func(f *os.File) error { return gen.Eve(f, n, 10, 20000, 2) })
	benchReplay(b, p, n)
}

// BenchmarkWindowMemory tracks 100,000 distinct attacking addresses in the
// sshd window (four failures each, below the threshold) and reports the
// heap held per tracked address.
func BenchmarkWindowMemory(b *testing.B) {
	const n = 100_000
	evs := make([]pipeline.Event, 0, 4*n)
	for i := 0; i < n; i++ {
		a := netipFrom(i)
		for k := 0; k < 4; k++ {
			msg := "Failed password for root from " + a + " port 22 ssh2"
			evs = append(evs, pipeline.Event{Format: pipeline.FormatSyslog, Program: "sshd", Message: msg, Line: msg,
				Time: gen.Start.Add(time.Duration(i*4+k) * time.Millisecond)})
		}
	}
	b.ReportAllocs()
	var perAddr float64
	for b.Loop() {
		// Packs and a set of their own: they keep their engine's state
		// (for the predicates' helpers), so shared ones would keep the
		// previous iteration's engine alive into this one's first reading.
		packs, _ := rules.DefaultPacks()
		set, _ := rules.NewSet(packs...)
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		eng := pipeline.NewEngine(set, pipeline.Config{Origin: "bench"})
		for i := range evs {
			ev := evs[i]
			eng.Process(&ev)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if eng.Counter().Len() != n {
			b.Fatalf("%d windows, want %d", eng.Counter().Len(), n)
		}
		perAddr = float64(after.HeapAlloc-before.HeapAlloc) / n
		runtime.KeepAlive(eng)
		// evs must outlive the second reading: freed in between, it would
		// be subtracted from the windows' share.
		runtime.KeepAlive(evs)
	}
	b.ReportMetric(perAddr, "heap-B/addr")
}

func netipFrom(i int) string {
	return "203." + itoa(i>>16&0xff) + "." + itoa(i>>8&0xff) + "." + itoa(i&0xff)
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}
