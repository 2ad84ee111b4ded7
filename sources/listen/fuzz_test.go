package listen

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

func seed(f *testing.F, name string) []byte {
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// FuzzFramer checks that any byte stream frames without panicking, in
// bounded steps, into messages no longer than the limit, and the same way
// however it is split into reads.
func FuzzFramer(f *testing.F) {
	stream := seed(f, "tcp-stream.bin")
	f.Add(stream, uint16(0))
	f.Add(stream, uint16(20))
	f.Add([]byte("5 <13>a5 <13>b"), uint16(3))
	f.Add([]byte("999999999 "), uint16(0))
	f.Fuzz(func(t *testing.T, data []byte, limit uint16) {
		max := int(limit)
		if max == 0 {
			max = DefaultMaxMessage
		}
		run := func(r io.Reader) []string {
			fr := newFramer(r, max)
			var got []string
			for range len(data) + 2 {
				msg, bad, err := fr.next()
				switch {
				case bad != nil && msg != nil:
					t.Fatalf("message %q and bad %q together", msg, bad.Reason)
				case bad != nil:
					got = append(got, "b:"+bad.Reason)
				case msg != nil:
					if len(msg) > max {
						t.Fatalf("message of %d bytes over the limit %d", len(msg), max)
					}
					got = append(got, "m:"+string(msg))
				}
				if err == io.EOF {
					return got
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			t.Fatalf("more than %d frames from %d bytes", len(data)+1, len(data))
			return nil
		}
		whole := run(bytes.NewReader(data))
		if split := run(iotest.OneByteReader(bytes.NewReader(data))); fmt.Sprint(split) != fmt.Sprint(whole) {
			t.Fatalf("split reads:\n%q\nwhole:\n%q", split, whole)
		}
	})
}

// FuzzParseRecord checks journal records of any shape for panics and for
// events that are not complete.
func FuzzParseRecord(f *testing.F) {
	for line := range strings.SplitSeq(string(seed(f, "journal.jsonl")), "\n") {
		f.Add([]byte(line))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		var ev pipeline.Event
		_, err := parseRecord(line, time.UTC, &ev, new(Identity))
		if err != nil {
			if _, ok := err.(*pipeline.BadLine); !ok {
				t.Fatalf("error %v is not a BadLine", err)
			}
			return
		}
		if ev.Line != ev.Message || ev.Format != pipeline.FormatSyslog || ev.Time.IsZero() {
			t.Fatalf("incomplete event %+v", ev)
		}
	})
}

// FuzzStdin checks that line splitting does not depend on how the input
// is split into reads.
func FuzzStdin(f *testing.F) {
	f.Add(seed(f, "journal.jsonl"))
	f.Add([]byte(authLine + "\r\n\n" + authLine))
	f.Fuzz(func(t *testing.T, data []byte) {
		run := func(r io.Reader) string {
			out := make(chan pipeline.Event, bytes.Count(data, []byte{'\n'})+1)
			st, err := Stdin(t.Context(), r, pipeline.FormatSyslog, time.UTC, out)
			if err != nil {
				t.Fatal(err)
			}
			close(out)
			var b strings.Builder
			for ev := range out {
				b.WriteString(ev.Line + "\x00")
			}
			return fmt.Sprint(b.String(), st.Received, st.Bad)
		}
		whole := run(bytes.NewReader(data))
		if split := run(iotest.OneByteReader(bytes.NewReader(data))); split != whole {
			t.Fatalf("split reads: %q\nwhole: %q", split, whole)
		}
	})
}
