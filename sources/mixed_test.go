package sources

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

const (
	mixedAccess  = `172.17.0.1 - - [11/Oct/2021:06:40:52 +0000] "POST /cgi-bin/.%2e/%2e%2e/bin/sh HTTP/1.1" 200 7 "-" "curl/7.79.1"`
	mixedRefused = `[Fri Oct 08 17:08:41.203277 2021] [core:error] [pid 7005:tid 140667133085440] [client 88.168.206.87:14532] AH00126: Invalid URI in request GET /cgi-bin/.%2E/%2E%2E/etc/passwd HTTP/1.1 `
	mixedNginx   = `2021/09/30 09:23:53 [error] 1925800#1925800: *17 user "foo" was not found in "/tmp/a.htpasswd", client: 198.51.100.9, server: _, request: "GET / HTTP/1.1", host: "localhost"`
	mixedGarbage = `\x16\x03\x01 not a line of either form`
)

// TestDecodeMixed: an access log's decoder reads each error-log line in
// the form that fits it; an error log's decoder never reads an access
// line, which a client may have written into it.
func TestDecodeMixed(t *testing.T) {
	access := NewDecoder(pipeline.FormatNginx, ref, time.UTC, nil)
	errorLog := NewDecoder(pipeline.FormatPlain, ref, time.UTC, nil)
	for _, tc := range []struct {
		name   string
		dec    *Decoder
		line   string
		want   Outcome
		format pipeline.Format
		addr   string
		status int
	}{
		{"access line", access, mixedAccess, Event, pipeline.FormatNginx, "172.17.0.1", 200},
		{"Apache's refusal is the request's access event", access, mixedRefused, Event, pipeline.FormatNginx, "88.168.206.87", 400},
		{"nginx's error line is a plain event", access, mixedNginx, Event, pipeline.FormatPlain, "", 0},
		{"neither form: a bad line", access, mixedGarbage, Bad, 0, "", 0},
		{"an error log keeps its access-looking lines out", errorLog, mixedAccess, Bad, 0, "", 0},
		{"an error log reads Apache's refusal as plain", errorLog, mixedRefused, Event, pipeline.FormatPlain, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ev pipeline.Event
			o, reason := tc.dec.Decode([]byte(tc.line), &ev)
			if o != tc.want {
				t.Fatalf("Decode = %v %q, want %v", o, reason, tc.want)
			}
			if o != Event {
				return
			}
			var addr netip.Addr
			if tc.addr != "" {
				addr = netip.MustParseAddr(tc.addr)
			}
			if ev.Format != tc.format || ev.Addr != addr || ev.Status != tc.status || ev.Line != tc.line || ev.Time.IsZero() {
				t.Errorf("event: format %v addr %v status %d line %q time %v; want %v %v %d", ev.Format, ev.Addr, ev.Status, ev.Line, ev.Time, tc.format, addr, tc.status)
			}
		})
	}
	if c := access.Counter().Counts(); c.Events != 3 || c.Bad["bad timestamp"] != 1 {
		t.Errorf("access decoder counts %+v, want 3 events and 1 bad line (its access reason)", c)
	}
}

// TestSnifferMixed: a web server's access and error lines in one file,
// neither a majority, make an access log when the access lines are at
// least as many; a file mostly of error lines stays an error log.
func TestSnifferMixed(t *testing.T) {
	for _, tc := range []struct {
		name                    string
		access, errors, garbage int
		want                    pipeline.Format
	}{
		{"half and half, one bad line", 2, 2, 1, pipeline.FormatNginx},
		{"more access lines", 9, 8, 3, pipeline.FormatNginx},
		{"mostly access lines", 15, 5, 0, pipeline.FormatNginx},
		{"mostly error lines", 4, 16, 0, pipeline.FormatPlain},
		{"fewer access lines than error lines", 8, 9, 3, pipeline.FormatUnknown},
		{"too little of either", 2, 2, 6, pipeline.FormatUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s Sniffer
			for range tc.access {
				s.Line([]byte(mixedAccess))
			}
			for i := range tc.errors {
				if i%2 == 0 {
					s.Line([]byte(mixedNginx))
				} else {
					s.Line([]byte(mixedRefused))
				}
			}
			for range tc.garbage {
				s.Line([]byte(mixedGarbage))
			}
			if got := s.Format(); got != tc.want {
				t.Errorf("format %v, want %v", got, tc.want)
			}
		})
	}
	if got := sniffers[nginxSniffer].format; got != pipeline.FormatNginx {
		t.Errorf("sniffers[nginxSniffer] is %v, want the access-log sniffer", got)
	}
}
