package nginx

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

var refusedCases = []struct {
	name, line         string
	ok                 bool
	addr, method, path string
	version, referer   string
}{
	{"AH00126", `[Fri Oct 08 17:08:41.203277 2021] [core:error] [pid 7005:tid 140667133085440] [client 88.168.206.87:14532] AH00126: Invalid URI in request GET /cgi-bin/.%2E/%2E%2E/%2E%2E/etc/passwd HTTP/1.1 `,
		true, "88.168.206.87", "GET", "/cgi-bin/.%2E/%2E%2E/%2E%2E/etc/passwd", "HTTP/1.1", ""},
	{"IPv6 client, no tid, a referer", `[Sat Nov 08 22:00:01.123456 2025] [core:error] [pid 4242] [client 2001:db8::7:50000] AH00126: Invalid URI in request POST /cgi-bin/.%2e/.%2e/bin/sh HTTP/1.1, referer: http://x/`,
		true, "2001:db8::7", "POST", "/cgi-bin/.%2e/.%2e/bin/sh", "HTTP/1.1", "http://x/"},
	{"AH10244", `[Sat Nov 08 22:00:01.123456 2025] [core:error] [pid 4242:tid 1] [client 203.0.113.7:50000] AH10244: invalid URI path (/usr/local/apache2/cgi-bin/.%2e/.%2e/etc/passwd)`,
		true, "203.0.113.7", "", "/usr/local/apache2/cgi-bin/.%2e/.%2e/etc/passwd", "", ""},
	{"a forged client in the request stays the request's", `[Sat Nov 08 22:00:01 2025] [core:error] [pid 1] [client 203.0.113.8:1] AH00126: Invalid URI in request GET /[client 192.0.2.9:1] HTTP/1.1`,
		true, "203.0.113.8", "GET", "/[client 192.0.2.9:1]", "HTTP/1.1", ""},
	{"another code", `[Sat Nov 08 22:00:01.123456 2025] [authz_core:error] [pid 4242] [client 203.0.113.7:50000] AH01630: client denied by server configuration: /srv/www/private`, false, "", "", "", "", ""},
	{"another module", `[Sat Nov 08 22:00:01.123456 2025] [ssl:error] [pid 4242] [client 203.0.113.7:50000] AH00126: Invalid URI in request GET /x HTTP/1.1`, false, "", "", "", "", ""},
	{"no client", `[Sat Nov 08 22:00:01.123456 2025] [core:error] [pid 4242] AH00126: Invalid URI in request GET /x HTTP/1.1`, false, "", "", "", "", ""},
	{"client without a port", `[Sat Nov 08 22:00:01.123456 2025] [core:error] [pid 4242] [client 203.0.113.7] AH00126: Invalid URI in request GET /x HTTP/1.1`, false, "", "", "", "", ""},
	{"not an address", `[Sat Nov 08 22:00:01.123456 2025] [core:error] [pid 4242] [client example.com:80] AH00126: Invalid URI in request GET /x HTTP/1.1`, false, "", "", "", "", ""},
	{"AH10244 unclosed", `[Sat Nov 08 22:00:01.123456 2025] [core:error] [pid 4242] [client 203.0.113.7:50000] AH10244: invalid URI path (/x`, false, "", "", "", "", ""},
	{"nginx's error log", `2021/09/30 09:23:53 [error] 1925800#1925800: *17 user "foo" was not found in "/tmp/a.htpasswd", client: 127.0.0.1, server: _, request: "GET / HTTP/1.1", host: "localhost"`, false, "", "", "", "", ""},
	{"an access line", `203.0.113.9 - - [08/Nov/2025:22:00:01 +0100] "GET / HTTP/1.1" 200 1 "-" "x"`, false, "", "", "", "", ""},
	{"empty", ``, false, "", "", "", "", ""},
}

// TestParseRefused: Apache's refusals of a URI are the access events of
// those requests, with the client Apache wrote; nothing else is one.
func TestParseRefused(t *testing.T) {
	for _, tc := range refusedCases {
		t.Run(tc.name, func(t *testing.T) {
			var ev pipeline.Event
			ok := ParseRefused([]byte(tc.line), time.UTC, &ev)
			if ok != tc.ok {
				t.Fatalf("ParseRefused = %v, want %v", ok, tc.ok)
			}
			if !ok {
				if ev.Line != "" || ev.Addr.IsValid() || ev.Referer != "" {
					t.Errorf("a refused line set the event: %+v", ev)
				}
				return
			}
			if ev.Addr != netip.MustParseAddr(tc.addr) || ev.Method != tc.method || ev.Path != tc.path || ev.HTTPVersion != tc.version || ev.Referer != tc.referer {
				t.Errorf("got %v %q %q %q referer %q, want %s %q %q %q %q", ev.Addr, ev.Method, ev.Path, ev.HTTPVersion, ev.Referer, tc.addr, tc.method, tc.path, tc.version, tc.referer)
			}
			if ev.Format != pipeline.FormatNginx || ev.Status != 400 || ev.Line != tc.line || ev.Message != tc.line || ev.Time.IsZero() {
				t.Errorf("format %v status %d line %q time %v", ev.Format, ev.Status, ev.Line, ev.Time)
			}
		})
	}
}

func FuzzParseRefused(f *testing.F) {
	for _, tc := range refusedCases {
		f.Add([]byte(tc.line))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		orig := bytes.Clone(line)
		var ev pipeline.Event
		ok := ParseRefused(line, time.UTC, &ev)
		if !bytes.Equal(line, orig) {
			t.Fatal("ParseRefused modified its input")
		}
		if !ok {
			return
		}
		// The client is the one in Apache's own field, before the message.
		i := bytes.Index(line, []byte("] [client "))
		if i < 0 {
			t.Fatalf("an event without Apache's client field: %q", line)
		}
		field, _, _ := bytes.Cut(line[i+len("] [client "):], []byte("]"))
		want, ok := clientAddr(field)
		if !ok || want != ev.Addr {
			t.Fatalf("client %v is not the one Apache's field names (%q): %q", ev.Addr, field, line)
		}
		if ev.Status != 400 || ev.Format != pipeline.FormatNginx || ev.Line != string(line) {
			t.Fatalf("event %+v", ev)
		}
	})
}

func BenchmarkParseRefused(b *testing.B) {
	for _, bc := range []struct{ name, line string }{
		{"AH00126", refusedCases[0].line},
		{"other error", refusedCases[4].line},
		{"nginx error", refusedCases[10].line},
	} {
		b.Run(bc.name, func(b *testing.B) {
			line := []byte(bc.line)
			var ev pipeline.Event
			b.ReportAllocs()
			for b.Loop() {
				ev.Reset()
				ParseRefused(line, time.UTC, &ev)
			}
		})
	}
}
