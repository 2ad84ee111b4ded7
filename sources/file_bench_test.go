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
	sample, err := os.ReadFile("suricata/testdata/eve.json")
	if err != nil {
		b.Fatal(err)
	}
	data := bytes.Repeat(sample, (32<<20)/len(sample)+1)
	lines := bytes.Count(data, []byte("\n"))
	path := filepath.Join(b.TempDir(), "eve.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		b.Fatal(err)
	}
	var ev pipeline.Event
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		f, err := Open(path, Options{Format: pipeline.FormatEve, Loc: time.UTC})
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
		if c := f.Counts(); len(c.Bad) != 0 || events == 0 {
			b.Fatalf("%d events, counts %+v", events, c)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*lines), "ns/line")
}

// BenchmarkFileAccess reads an access log of 32 MB (the nginx sample's
// lines over and over) as a replay does, lines read and decoded: what
// reading and parsing cost a line before any rule sees it.
func BenchmarkFileAccess(b *testing.B) {
	sample, err := os.ReadFile("nginx/testdata/access.log")
	if err != nil {
		b.Fatal(err)
	}
	data := bytes.Repeat(sample, (32<<20)/len(sample)+1)
	lines := bytes.Count(data, []byte("\n"))
	path := filepath.Join(b.TempDir(), "access.log")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		b.Fatal(err)
	}
	var ev pipeline.Event
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		f, err := Open(path, Options{Format: pipeline.FormatNginx, Loc: time.UTC})
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
		if events == 0 {
			b.Fatalf("no events, counts %+v", f.Counts())
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*lines), "ns/line")
}
