package nginx

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the fail2ban samples are stamped in Europe/Zurich

	"github.com/stockade-ids/stockade/internal/golden"
	"github.com/stockade-ids/stockade/internal/testcorpus"
	"github.com/stockade-ids/stockade/pipeline"
)

// record is one golden line: the fields Parse set, or why it refused.
type record struct {
	Bad         string `json:"bad,omitempty"`
	Time        string `json:"time,omitempty"`
	Addr        string `json:"addr,omitempty"`
	User        string `json:"user,omitempty"`
	Method      string `json:"method,omitempty"`
	Path        string `json:"path,omitempty"`
	HTTPVersion string `json:"http_version,omitempty"`
	Status      int    `json:"status,omitempty"`
	Bytes       int64  `json:"bytes,omitempty"`
	Referer     string `json:"referer,omitempty"`
	UserAgent   string `json:"user_agent,omitempty"`
	Program     string `json:"program,omitempty"`
	Format      string `json:"format,omitempty"`
}

func TestGolden(t *testing.T) {
	for _, tc := range []struct{ name, in string }{
		{"access", "testdata/access.log"},
		{"beats-access", "elastic__beats/filebeat/module/nginx/access/test/access.log"},
		{"beats-test", "elastic__beats/filebeat/module/nginx/access/test/test.log"},
		{"beats-test-with-host", "elastic__beats/filebeat/module/nginx/access/test/test-with-host.log"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			if !strings.HasPrefix(in, "testdata/") {
				in = testcorpus.Path(t, in)
			}
			lines := readLines(t, in)
			var out bytes.Buffer
			enc := json.NewEncoder(&out)
			enc.SetEscapeHTML(false)
			p := New()
			for _, line := range lines {
				var ev pipeline.Event
				var r record
				if err := p.Parse(line, &ev); err != nil {
					var bl *pipeline.BadLine
					if !errors.As(err, &bl) {
						t.Fatalf("%q: %v", line, err)
					}
					r.Bad = bl.Reason
				} else {
					r = record{
						Time:        ev.Time.Format(time.RFC3339Nano),
						Addr:        ev.Addr.String(),
						User:        ev.User,
						Method:      ev.Method,
						Path:        ev.Path,
						HTTPVersion: ev.HTTPVersion,
						Status:      ev.Status,
						Bytes:       ev.Bytes,
						Referer:     ev.Referer,
						UserAgent:   ev.UserAgent,
						Program:     ev.Program,
						Format:      ev.Format.String(),
					}
				}
				if Sniff(line) && r.Bad != "" {
					t.Errorf("Sniff accepts a line Parse refuses: %q", line)
				}
				if err := enc.Encode(r); err != nil {
					t.Fatal(err)
				}
			}
			golden.Check(t, filepath.Join("testdata", "golden", tc.name+".jsonl"), out.Bytes())
		})
	}
}

// failJSON is the annotation fail2ban's own test suite puts above each
// sample line: whether its filter matches, the address and the wall-clock
// time in Europe/Zurich.
type failJSON struct {
	Match bool   `json:"match"`
	Host  string `json:"host"`
	Time  string `json:"time"`
}

var failJSONRe = regexp.MustCompile(`^#\s*failJSON:\s*(\{.*\})\s*$`)

// TestFail2banSamples parses the access-log samples fail2ban tests its
// nginx and apache filters with, and checks that the address and time agree
// with fail2ban's annotations. Lines fail2ban matches that are not access
// logs (error logs) or that carry no zone are counted as refused.
func TestFail2banSamples(t *testing.T) {
	zurich, err := time.LoadLocation("Europe/Zurich")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		file            string
		parsed, refused int
	}{
		{file: "nginx-bad-request", parsed: 8},
		{file: "nginx-botsearch", parsed: 8, refused: 6}, // nginx error-log lines
		{file: "apache-badbots", parsed: 4},
		{file: "apache-fakegooglebot", parsed: 1, refused: 2}, // `[31/Jan/2015:14:29:44 ]`: no zone
		{file: "apache-pass", refused: 1},                     // `[27/Jun/2013:11:55:44]`: no zone
	} {
		t.Run(tc.file, func(t *testing.T) {
			lines := readLines(t, testcorpus.Path(t, "fail2ban__fail2ban/fail2ban/tests/files/logs/"+tc.file))
			var parsed, refused int
			for i := 0; i+1 < len(lines); i++ {
				m := failJSONRe.FindSubmatch(lines[i])
				if m == nil {
					continue
				}
				var fj failJSON
				if err := json.Unmarshal(m[1], &fj); err != nil {
					t.Fatalf("line %d: %v", i+1, err)
				}
				line := lines[i+1]
				var ev pipeline.Event
				if err := New().Parse(line, &ev); err != nil {
					refused++
					continue
				}
				parsed++
				if fj.Host != "" && ev.Addr.String() != fj.Host {
					t.Errorf("line %d: addr %s, fail2ban says %s", i+2, ev.Addr, fj.Host)
				}
				if fj.Time != "" {
					if got := ev.Time.In(zurich).Format("2006-01-02T15:04:05"); got != fj.Time {
						t.Errorf("line %d: time %s, fail2ban says %s", i+2, got, fj.Time)
					}
				}
			}
			if parsed != tc.parsed || refused != tc.refused {
				t.Errorf("parsed %d refused %d, want %d and %d", parsed, refused, tc.parsed, tc.refused)
			}
		})
	}
}

func readLines(tb testing.TB, path string) [][]byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	b = bytes.TrimSuffix(b, []byte("\n"))
	if len(b) == 0 {
		return nil
	}
	return bytes.Split(b, []byte("\n"))
}
