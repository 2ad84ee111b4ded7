package sources

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/internal/fuzzseed"
	"github.com/stockade-ids/stockade/pipeline"
)

// FuzzDetect: whatever a file starts with, detection picks a format or
// none, and that format's parser then reads every line of it without a
// panic, answering an event, a skip or a bounded bad-line reason. An event
// carries a canonical address (never IPv4-mapped, never zoned) or none.
func FuzzDetect(f *testing.F) {
	for _, head := range fuzzseed.Heads(4 << 10) {
		f.Add(head)
	}
	f.Add([]byte("\x00\x00\x00\n\xff\xfe\n"))
	f.Add([]byte("\xef\xbb\xbfNov  8 22:00:01 h sshd[1]: Failed password for root from ::ffff:203.0.113.7 port 1 ssh2\n"))
	ref := time.Date(2025, 11, 9, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, head []byte) {
		format := Detect(head)
		if format == pipeline.FormatUnknown {
			return
		}
		p := NewParser(format, ref, time.UTC)
		if p == nil {
			t.Fatalf("no parser for detected format %v", format)
		}
		for line := range bytes.Lines(head) {
			line = bytes.TrimRight(line, "\r\n")
			orig := bytes.Clone(line)
			var ev pipeline.Event
			err := p.Parse(line, &ev)
			if !bytes.Equal(line, orig) {
				t.Fatal("Parse modified its input")
			}
			var bad *pipeline.BadLine
			switch {
			case err == nil:
				if ev.Addr.IsValid() && (ev.Addr.Is4In6() || ev.Addr.Zone() != "") {
					t.Fatalf("%q: address %v is not canonical", line, ev.Addr)
				}
				if ev.Time.IsZero() {
					t.Fatalf("%q: event without a time", line)
				}
			case errors.Is(err, pipeline.ErrSkip), errors.As(err, &bad):
			default:
				t.Fatalf("%q: error %T %v is neither a skip nor a bad line", line, err, err)
			}
		}
	})
}
