package sources

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stockade-ids/stockade/pipeline"
)

const dockerRecord = `{"log":"198.51.100.23 - - [08/Nov/2025:22:00:01 +0000] \"POST /wp-login.php HTTP/1.1\" 200 5423 \"-\" \"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)\" \"-\"\n","stream":"stdout","time":"2025-11-08T22:00:01.204711032Z"}`

// TestDockerDecoder: a Docker log whose format is given (type: nginx)
// is still unwrapped, and the time of the record dates the event.
func TestDockerDecoder(t *testing.T) {
	rd, err := OpenReader(bytes.NewReader([]byte(dockerRecord+"\n")), pipeline.FormatNginx)
	if err != nil {
		t.Fatal(err)
	}
	if !rd.Docker {
		t.Fatal("a json-file log not known as one")
	}
	dec := NewDecoder(rd.Format, ref, time.UTC, nil)
	dec.SetDocker(rd.Docker)
	var ev pipeline.Event
	if o, reason := dec.Decode([]byte(dockerRecord), &ev); o != Event {
		t.Fatalf("%v %s", o, reason)
	}
	if ev.Addr.String() != "198.51.100.23" || ev.Time.Format(time.RFC3339Nano) != "2025-11-08T22:00:01.204711032Z" || ev.Path != "/wp-login.php" {
		t.Errorf("event %v %v %q", ev.Addr, ev.Time, ev.Path)
	}
}

func BenchmarkDockerDecode(b *testing.B) {
	line := []byte(dockerRecord)
	dec := NewDecoder(pipeline.FormatNginx, ref, time.UTC, nil)
	dec.SetDocker(true)
	ev := new(pipeline.Event)
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		*ev = pipeline.Event{}
		if o, _ := dec.Decode(line, ev); o != Event {
			b.Fatal(o)
		}
	}
}

// FuzzUnwrapDocker: what the unwrapper returns for a record is what
// encoding/json reads in its log field (less the newline), and it never
// panics on anything else.
func FuzzUnwrapDocker(f *testing.F) {
	f.Add([]byte(dockerRecord))
	f.Add([]byte(`{"log":"\ud83d\ude00 \u00e9 \\ \/ \b\f\t\r\n","stream":"stderr","time":"2025-11-08T22:00:01Z"}`))
	f.Add([]byte(`{"log":"x\ud800\n","time":"2025-11-08T22:00:01Z"}`))
	f.Add([]byte(`{"log":"partial","stream":"stdout","time":"2025-11-08T22:00:01Z"}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		var buf []byte
		inner, tm, err := unwrapDocker(line, &buf)
		if err != nil {
			return
		}
		if tm.IsZero() {
			t.Fatal("zero time")
		}
		var rec struct{ Log string }
		if !utf8.Valid(line) || json.Unmarshal(line, &rec) != nil {
			return // Docker writes valid JSON; the unwrapper is laxer about what follows log
		}
		want := []byte(rec.Log)
		want = bytes.TrimSuffix(want, []byte("\n"))
		want = bytes.TrimSuffix(want, []byte("\r"))
		if !bytes.Equal(inner, want) {
			t.Fatalf("inner %q, encoding/json %q", inner, want)
		}
	})
}
