package sources

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/internal/golden"
	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/sources/nginx"
)

// webRecord is one golden line of a web log: what the decoder made of it.
type webRecord struct {
	Outcome   string `json:"outcome"`
	Reason    string `json:"reason,omitempty"`
	Format    string `json:"format,omitempty"`
	Time      string `json:"time,omitempty"`
	Addr      string `json:"addr,omitempty"`
	Host      string `json:"host,omitempty"`
	Program   string `json:"program,omitempty"`
	PID       int    `json:"pid,omitempty"`
	Method    string `json:"method,omitempty"`
	Path      string `json:"path,omitempty"`
	Status    int    `json:"status,omitempty"`
	Bytes     int64  `json:"bytes,omitempty"`
	User      string `json:"user,omitempty"`
	Referer   string `json:"referer,omitempty"`
	UserAgent string `json:"user_agent,omitempty"`
	Message   string `json:"message,omitempty"`
}

// webCase is a web log in a form real servers write, and how its source is
// configured.
type webCase struct {
	name, in   string
	realIPFrom []string
}

var webCases = []webCase{
	// Access lines of web servers sent through syslog are access events;
	// an error-log line and another program's line stay syslog.
	{name: "syslog-access", in: "syslog-access.log"},
}

// TestWebGolden decodes each web log the way every source does (OpenReader
// detects the format, a Decoder decodes) and compares what each line
// became with testdata/web/golden/NAME.jsonl.
func TestWebGolden(t *testing.T) {
	for _, tc := range webCases {
		t.Run(tc.name, func(t *testing.T) {
			golden.Check(t, filepath.Join("testdata/web/golden", tc.name+".jsonl"), decodeWeb(t, tc))
		})
	}
}

func decodeWeb(t *testing.T, tc webCase) []byte {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata/web", tc.in))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rd, err := OpenReader(f, pipeline.FormatUnknown)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	dec := NewDecoder(rd.Format, ref, time.UTC, nil)
	if tc.realIPFrom != nil {
		r, err := nginx.ParseRealIP(tc.realIPFrom)
		if err != nil {
			t.Fatal(err)
		}
		dec.SetRealIPFrom(r)
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	sc := bufio.NewScanner(rd)
	sc.Buffer(nil, MaxLine+1)
	for sc.Scan() {
		var ev pipeline.Event
		o, reason := dec.Decode(sc.Bytes(), &ev)
		r := webRecord{Outcome: [...]string{"event", "skip", "bad"}[o], Reason: reason}
		if o == Event {
			r.Format, r.Time = ev.Format.String(), ev.Time.Format(time.RFC3339Nano)
			if ev.Addr.IsValid() {
				r.Addr = ev.Addr.String()
			}
			r.Host, r.Program, r.PID = ev.Host, ev.Program, ev.PID
			r.Method, r.Path, r.Status, r.Bytes = ev.Method, ev.Path, ev.Status, ev.Bytes
			r.User, r.Referer, r.UserAgent = ev.User, ev.Referer, ev.UserAgent
			if ev.Format != pipeline.FormatNginx {
				r.Message = ev.Message
			}
		}
		if err := enc.Encode(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}
