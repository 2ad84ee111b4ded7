package tail

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

// BenchmarkRun reads a 200,000-line file through Run, detection, parsing
// and the channel included; one op is the whole file.
func BenchmarkRun(b *testing.B) {
	for _, bc := range []struct{ name, corpus string }{
		{"syslog", "../../testdata/replay/auth.log"},
		{"nginx", "../../testdata/replay/access.log"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			const lines = 200_000
			path := filepath.Join(b.TempDir(), "log")
			size := writeCorpus(b, path, bc.corpus, lines)
			b.SetBytes(size)
			b.ReportAllocs()
			var ms0, ms1 runtime.MemStats
			runtime.ReadMemStats(&ms0)
			runs := 0
			for b.Loop() {
				readAll(b, path, lines)
				runs++
			}
			runtime.ReadMemStats(&ms1)
			total := float64(runs) * lines
			b.ReportMetric(total/b.Elapsed().Seconds(), "lines/s")
			b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/total, "allocs/line")
		})
	}
}

// writeCorpus writes n lines to path by cycling through the lines of a
// real log, and returns the file's size.
func writeCorpus(b *testing.B, path, corpus string, n int) int64 {
	src, err := os.ReadFile(corpus)
	if err != nil {
		b.Fatal(err)
	}
	lines := bytes.SplitAfter(bytes.TrimSuffix(src, []byte("\n")), []byte("\n"))
	var buf bytes.Buffer
	for i := range n {
		buf.Write(bytes.TrimSuffix(lines[i%len(lines)], []byte("\n")))
		buf.WriteByte('\n')
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	return int64(buf.Len())
}

func readAll(b *testing.B, path string, lines int) {
	tl, err := New(Config{Globs: []string{path}, Poll: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	tl.noWatch = true
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan pipeline.Event, 1024)
	done := make(chan error, 1)
	go func() { done <- tl.Run(ctx, out) }()
	for range lines {
		ev := <-out
		if ev.Time.IsZero() {
			b.Fatalf("unparsed event %q", ev.Line)
		}
	}
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	if st := tl.Stats(); st[0].Events != uint64(lines) {
		b.Fatalf("stats %+v", st[0])
	}
}
