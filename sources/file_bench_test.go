package sources

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

// BenchmarkFileEve reads an eve.json of 32 MB (the sample's records, a
// tenth of them alerts, over and over) as a replay does: lines read from
// the file and decoded, events handed on. One op is the whole file, so the
// read syscalls and the cache they leave are in the figure.
func BenchmarkFileEve(b *testing.B) {
	benchReadFile(b, "suricata/testdata/eve.json", pipeline.FormatEve, true)
}

// BenchmarkFileAccess reads an access log of 32 MB (the nginx sample's
// lines over and over) as a replay does, lines read and decoded: what
// reading and parsing cost a line before any rule sees it.
func BenchmarkFileAccess(b *testing.B) {
	benchReadFile(b, "nginx/testdata/access.log", pipeline.FormatNginx, false)
}

// BenchmarkFileFast reads a fast.log of 32 MB (the sample's alerts over
// and over), every line an event, as a replay does.
func BenchmarkFileFast(b *testing.B) {
	benchReadFile(b, "suricata/testdata/fast.log", pipeline.FormatFastLog, true)
}

// benchReadFile reads the sample repeated to 32 MB, the whole file an op;
// noBad: the sample has no bad line, so any is a failure.
func benchReadFile(b *testing.B, sample string, format pipeline.Format, noBad bool) {
	text, err := os.ReadFile(sample)
	if err != nil {
		b.Fatal(err)
	}
	data := bytes.Repeat(text, (32<<20)/len(text)+1)
	lines := bytes.Count(data, []byte("\n"))
	path := filepath.Join(b.TempDir(), filepath.Base(sample))
	if err := os.WriteFile(path, data, 0o600); err != nil {
		b.Fatal(err)
	}
	var ev pipeline.Event
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		f, err := Open(path, Options{Format: format, Loc: time.UTC})
		if err != nil {
			b.Fatal(err)
		}
		events := 0
		for {
			ev.Reset()
			if err := f.Next(&ev); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
			events++
		}
		f.Close()
		if c := f.Counts(); events == 0 || noBad && len(c.Bad) != 0 {
			b.Fatalf("%d events, counts %+v", events, c)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*lines), "ns/line")
}
