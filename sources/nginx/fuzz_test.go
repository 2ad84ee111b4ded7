package nginx

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"unsafe"

	"github.com/stockade-ids/stockade/internal/testcorpus"
	"github.com/stockade-ids/stockade/pipeline"
)

var reasons = []*pipeline.BadLine{errEmpty, errTime, errAddr, errRequest, errStatus, errBytes, errQuote, errAmbiguous, errLayout}

// corpusFiles are the shared-corpus samples that seed the fuzzer when the
// corpus is present.
var corpusFiles = []string{
	"elastic__beats/filebeat/module/nginx/access/test/access.log",
	"elastic__beats/filebeat/module/nginx/access/test/test.log",
	"elastic__beats/filebeat/module/nginx/access/test/test-with-host.log",
	"fail2ban__fail2ban/fail2ban/tests/files/logs/nginx-bad-request",
	"fail2ban__fail2ban/fail2ban/tests/files/logs/nginx-botsearch",
	"fail2ban__fail2ban/fail2ban/tests/files/logs/apache-badbots",
	"fail2ban__fail2ban/fail2ban/tests/files/logs/apache-fakegooglebot",
}

func FuzzParse(f *testing.F) {
	for _, tc := range parseCases {
		f.Add([]byte(tc.line))
	}
	for _, line := range readLines(f, "testdata/access.log") {
		f.Add(line)
	}
	if root := testcorpus.Root(); root != "" {
		for _, rel := range corpusFiles {
			if b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel))); err == nil {
				for line := range bytes.Lines(b) {
					f.Add(bytes.TrimSuffix(line, []byte("\n")))
				}
			}
		}
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		if len(line) > 0 && line[0] == '{' {
			return // Caddy's and Traefik's JSON: FuzzParseJSON
		}
		orig := bytes.Clone(line)
		sameHead(t, line)
		var ev pipeline.Event
		err := New().Parse(line, &ev)
		if !bytes.Equal(line, orig) {
			t.Fatal("Parse modified its input")
		}
		sniffed := Sniff(line)
		if err != nil {
			known := false
			for _, r := range reasons {
				known = known || err == error(r)
			}
			if !known {
				t.Fatalf("error %v is not one of the package's reasons", err)
			}
			if sniffed {
				t.Fatal("Sniff accepts a line Parse refuses")
			}
			return
		}
		if ev.Format != pipeline.FormatNginx || ev.Program != "nginx" {
			t.Fatalf("format %v program %q", ev.Format, ev.Program)
		}
		if !ev.Addr.IsValid() || ev.Addr != pipeline.Canonical(ev.Addr) {
			t.Fatalf("addr %v is not a canonical address", ev.Addr)
		}
		if ev.Time.IsZero() || ev.Status < 0 || ev.Status > 999 || ev.Bytes < 0 {
			t.Fatalf("time %v status %d bytes %d", ev.Time, ev.Status, ev.Bytes)
		}
		if want := string(bytes.TrimSuffix(line, []byte("\r"))); ev.Line != want {
			t.Fatalf("Line %q, want %q", ev.Line, want)
		}
		if ev.HTTPVersion != "" && (ev.Method == "" || len(ev.HTTPVersion) < 6 || ev.HTTPVersion[:5] != "HTTP/") {
			t.Fatalf("method %q version %q", ev.Method, ev.HTTPVersion)
		}
		for _, s := range []string{ev.Line, ev.Message, ev.User, ev.Method, ev.Path, ev.HTTPVersion, ev.Referer, ev.UserAgent} {
			if !aliases(line, s) {
				t.Fatalf("field %q does not alias the line", s)
			}
		}
		// The zone cache must not leak one line's offset into the next.
		p := New()
		var other pipeline.Event
		_ = p.Parse([]byte(`192.0.2.1 - - [01/Jan/2020:00:00:00 +0545] "GET / HTTP/1.1" 200 1`), &other)
		var again pipeline.Event
		if err := p.Parse(line, &again); err != nil || !again.Time.Equal(ev.Time) || again.Time.Format("-0700") != ev.Time.Format("-0700") {
			t.Fatalf("reparse: %v, time %v vs %v", err, again.Time, ev.Time)
		}
	})
}

// aliases reports whether s is empty or lies inside b: the zero-copy
// contract.
func aliases(b []byte, s string) bool {
	if s == "" {
		return true
	}
	if len(b) == 0 {
		return false
	}
	lo := uintptr(unsafe.Pointer(&b[0]))
	p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
	return p >= lo && p+uintptr(len(s)) <= lo+uintptr(len(b))
}

// FuzzParseJSON: a JSON line is a Caddy or Traefik access event with a
// canonical address, a time and a status, a skip, or a bad line of the
// package's reasons; Sniff agrees with Parse.
func FuzzParseJSON(f *testing.F) {
	for _, name := range []string{"caddy-access.log", "traefik-access.log"} {
		for _, line := range readLines(f, "../testdata/web/"+name) {
			f.Add(line)
		}
	}
	f.Add([]byte(`{"ts":"1e3","request":{"method":"GET","client_ip":"::ffff:192.0.2.1"},"status":200}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		if len(line) == 0 || line[0] != '{' {
			return
		}
		var ev pipeline.Event
		err := New().Parse(line, &ev)
		if Sniff(line) != (err == nil) {
			t.Fatalf("Sniff and Parse disagree: %v", err)
		}
		if err != nil {
			if err == pipeline.ErrSkip && !reflect.DeepEqual(ev, pipeline.Event{}) {
				t.Fatalf("a skipped line wrote the event: %+v", ev)
			}
			if err == pipeline.ErrSkip || err == error(errJSON) {
				return
			}
			for _, r := range reasons {
				if err == error(r) {
					return
				}
			}
			t.Fatalf("error %v is not one of the package's reasons", err)
		}
		if ev.Format != pipeline.FormatNginx || (ev.Program != "caddy" && ev.Program != "traefik") {
			t.Fatalf("format %v program %q", ev.Format, ev.Program)
		}
		if !ev.Addr.IsValid() || ev.Addr != pipeline.Canonical(ev.Addr) || ev.Time.IsZero() || ev.Status < 100 || ev.Status > 999 || ev.Bytes < 0 {
			t.Fatalf("addr %v time %v status %d bytes %d", ev.Addr, ev.Time, ev.Status, ev.Bytes)
		}
	})
}

// sameHead fails t when the head of line read by position differs from
// the general reading of it.
func sameHead(t *testing.T, line []byte) {
	t.Helper()
	if br, tm, addr, ok := New().plainHead(line); ok {
		wbr, wt, waddr, wuser, werr := New().anyHead(line)
		if werr != nil || br != wbr || !tm.Equal(wt) || addr != waddr || string(line[br-2:br-1]) != string(wuser) {
			t.Fatalf("head by position %d %v %v, general %d %v %v %q %v", br, tm, addr, wbr, wt, waddr, wuser, werr)
		}
	}
}
