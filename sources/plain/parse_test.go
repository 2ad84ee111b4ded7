package plain

import (
	"strings"
	"testing"
	"time"

	"bufio"
	"os"
	"path/filepath"

	"github.com/stockade-ids/stockade/internal/fuzzseed"
	"github.com/stockade-ids/stockade/internal/testcorpus"
	"github.com/stockade-ids/stockade/pipeline"
)

func TestParse(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, line string
		want       time.Time
		msg        string
	}{
		{"nginx error", `2025/11/08 22:00:01 [error] 4242#4242: *7 user "admin": password mismatch, client: 203.0.113.7, server: example.com, request: "GET /admin HTTP/1.1", host: "example.com"`,
			time.Date(2025, 11, 8, 22, 0, 1, 0, paris), `[error] 4242#4242: *7 user "admin": password mismatch, client: 203.0.113.7, server: example.com, request: "GET /admin HTTP/1.1", host: "example.com"`},
		{"apache 2.4 error", `[Sat Nov 08 22:00:01.123456 2025] [auth_basic:error] [pid 4242] [client 203.0.113.7:50000] AH01618: user admin not found: /private`,
			time.Date(2025, 11, 8, 22, 0, 1, 123456000, paris), `[auth_basic:error] [pid 4242] [client 203.0.113.7:50000] AH01618: user admin not found: /private`},
		{"apache 2.2 error", `[Sat Nov 08 22:00:01 2025] [error] [client 203.0.113.7] user admin: authentication failure for "/private": Password Mismatch`,
			time.Date(2025, 11, 8, 22, 0, 1, 0, paris), `[error] [client 203.0.113.7] user admin: authentication failure for "/private": Password Mismatch`},
		{"iso with zone", `2025-11-08T22:00:01.5+01:00 app: login failed from 203.0.113.7`,
			time.Date(2025, 11, 8, 21, 0, 1, 500000000, time.UTC), `app: login failed from 203.0.113.7`},
		{"iso Z", `2025-11-08T22:00:01Z login failed`, time.Date(2025, 11, 8, 22, 0, 1, 0, time.UTC), `login failed`},
		{"iso compact zone", `2025-11-08T22:00:01+0100 x`, time.Date(2025, 11, 8, 21, 0, 1, 0, time.UTC), `x`},
		{"python logging", `2025-11-08 22:00:01,250 WARNING auth: bad token from 203.0.113.9`,
			time.Date(2025, 11, 8, 22, 0, 1, 250000000, paris), `WARNING auth: bad token from 203.0.113.9`},
		{"common log bracket", `[08/Nov/2025:22:00:01 +0100] client 203.0.113.7 denied`,
			time.Date(2025, 11, 8, 21, 0, 1, 0, time.UTC), `client 203.0.113.7 denied`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ev pipeline.Event
			if err := New(paris).Parse([]byte(tc.line), &ev); err != nil {
				t.Fatal(err)
			}
			if !ev.Time.Equal(tc.want) || ev.Message != tc.msg || ev.Line != tc.line || ev.Format != pipeline.FormatPlain {
				t.Fatalf("got time %v message %q, want %v %q", ev.Time, ev.Message, tc.want, tc.msg)
			}
		})
	}
	for _, bad := range []string{
		"", "hello world", "2025/13/08 22:00:01 [error] x", "2025-11-08T22:00:01abc", "1969-12-31T23:59:59Z x",
		"[Sat Nov 08 22:00:01.123456 2025 no bracket", "[Fri Feb 30 22:00:01 2025] x", "2025-11-0822:00:01",
		"\x00\xff\xfe garbage",
	} {
		var ev pipeline.Event
		if err := New(nil).Parse([]byte(bad), &ev); err == nil {
			t.Errorf("%q parsed: %+v", bad, ev)
		}
	}
}

// TestCorpusErrorLogs: the error-log lines of fail2ban's sample logs (those
// that start with their own timestamp; the others are syslog-wrapped or
// journal lines, which other parsers read) all parse.
func TestCorpusErrorLogs(t *testing.T) {
	dir := testcorpus.Path(t, "fail2ban__fail2ban/fail2ban/tests/files/logs")
	n := 0
	for _, name := range []string{"nginx-http-auth", "apache-auth", "nginx-limit-req"} {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := sc.Bytes()
			if len(line) == 0 || !(line[0] == '[' || line[0] >= '0' && line[0] <= '9') {
				continue
			}
			var ev pipeline.Event
			if err := New(time.UTC).Parse(line, &ev); err != nil {
				t.Errorf("%s: %v: %s", name, err, line)
				continue
			}
			n++
		}
		f.Close()
	}
	if n < 20 {
		t.Fatalf("only %d lines parsed", n)
	}
}

func FuzzParse(f *testing.F) {
	for _, line := range fuzzseed.Lines(50) {
		f.Add(line)
	}
	for _, s := range []string{"2025/11/08 22:00:01 [error] x", "[Sat Nov 08 22:00:01.123456 2025] x", "2025-11-08T22:00:01.5+01:00 y",
		"[08/Nov/2025:22:00:01 +0100] z", "2025-11-08 22:00:01,250 w"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		var ev pipeline.Event
		if err := New(time.UTC).Parse(line, &ev); err != nil {
			return
		}
		if ev.Time.Year() < 1970 || !strings.HasSuffix(string(line), ev.Message) {
			t.Fatalf("%q: time %v message %q", line, ev.Time, ev.Message)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	for _, tc := range []struct{ name, line string }{
		{"nginx-error", `2025/11/08 22:00:01 [error] 4242#4242: *7 user "admin": password mismatch, client: 203.0.113.7, server: example.com`},
		{"apache-error", `[Sat Nov 08 22:00:01.123456 2025] [auth_basic:error] [pid 4242] [client 203.0.113.7:50000] AH01618: user admin not found: /private`},
		{"iso", `2025-11-08T22:00:01.5+01:00 app: login failed from 203.0.113.7`},
		{"miss", `no timestamp here at all, just words`},
	} {
		b.Run(tc.name, func(b *testing.B) {
			p := New(time.UTC)
			line := []byte(tc.line)
			b.SetBytes(int64(len(line)))
			b.ReportAllocs()
			var ev pipeline.Event
			for b.Loop() {
				ev = pipeline.Event{}
				p.Parse(line, &ev)
			}
		})
	}
}
