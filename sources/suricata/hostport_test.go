package suricata

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/stockade-ids/stockade/pipeline"
)

// hostPortScans is hostPort as it was, counting colons and looking for
// "::" in passes of their own, and parsing every address with
// netip.ParseAddr: the one-pass hostPort must read every input as it did.
func hostPortScans(b []byte) (a netip.Addr, port int, ok bool) {
	if len(b) == 0 {
		return a, 0, false
	}
	host, portText := b, []byte(nil)
	if b[0] == '[' {
		end := bytes.IndexByte(b, ']')
		if end < 0 {
			return a, 0, false
		}
		host = b[1:end]
		switch rest := b[end+1:]; {
		case len(rest) == 0:
		case rest[0] == ':':
			portText = rest[1:]
		default:
			return a, 0, false
		}
	} else {
		colons := bytes.Count(b, []byte(":"))
		if colons == 1 || (colons == 8 && !bytes.Contains(b, []byte("::"))) {
			c := bytes.LastIndexByte(b, ':')
			host, portText = b[:c], b[c+1:]
		}
	}
	if portText != nil {
		if port, ok = atoi(portText); !ok || port > 65535 {
			return a, 0, false
		}
	}
	a, ok = pipeline.ParseAddr(pipeline.UnsafeString(host))
	return a, port, ok
}

var hostPortSeeds = []string{
	"192.0.2.1:80", "192.0.2.1", "0.0.0.0:0", "255.255.255.255:65535", "256.1.1.1:1",
	"01.2.3.4:5", "1.02.3.4", "1.2.3.04", "1.2.3.0", "0.1.2.3", "1.2.3", "1.2.3.4.5", "1..2.3",
	".1.2.3", "1.2.3.", "1.2.3.4:", ":80", "1.2.3.4:65536", "1.2.3.4:-1", "1.2.3.4:8a",
	"1.2.3.4:80:90", "[2001:db8::1]:80", "[2001:db8::1]", "[2001:db8::1]x", "[::ffff:1.2.3.4]:1",
	"2001:0db8:0000:0000:0000:0000:0000:0001:80", "2001:db8::1", "2001:db8::1:80", "::1", ":::",
	"::ffff:192.0.2.1", "1.2.3.4%eth0", "fe80::1%eth0", "", "x", "1234.1.1.1", "1.2.3.4 ",
	"9.9.9.9:00080", "10.0.0.1:1:", "::", "a:b:c:d:e:f:0:1:2", ":0:0:0:0:0:0:0:1",
	"9.9.9.9:000080", "9.9.9.9:99999", "9.9.9.9:65535x", "9.9.9.9::1", "9.9.9.9.:1", "9.9.9.9x",
	"2001:0db8:0000:0000:0000:0000:0000:00a1", "2001:0DB8:0000:0000:0000:0000:0000:00A1:443",
	"0000:0000:0000:0000:0000:ffff:c000:0201:80", "0000:0000:0000:0000:0000:0000:0000:0000:0",
	"2001:0db8:0000:0000:0000:0000:0000:00a1:", "2001:0db8:0000:0000:0000:0000:0000:00a1:65536",
	"2001:0db8:0000:0000:0000:0000:0000:00g1:1", "2001:0db8:0000:0000:0000:0000:0000:0a1:1",
	"2001:0db8:0000:0000:0000:0000:0000:00a10:1", "2001:0db8:0000:0000:0000:0000:0000:00a1:000080",
	"2001:0db8:0000:0000:0000:0000:0000:00a1%eth0", "2001:0db8:0000:0000:0000:0000:0000:00a1::1",
}

// TestHostPortOnePass: the one-pass hostPort and its IPv4 reader read
// every seed as the scans and netip.ParseAddr did.
func TestHostPortOnePass(t *testing.T) {
	for _, s := range hostPortSeeds {
		a, p, ok := hostPort([]byte(s))
		wa, wp, wok := hostPortScans([]byte(s))
		if a != wa || p != wp || ok != wok {
			t.Errorf("hostPort(%q) = %v %d %v, want %v %d %v", s, a, p, ok, wa, wp, wok)
		}
	}
}

func FuzzHostPort(f *testing.F) {
	for _, s := range hostPortSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, p, ok := hostPort([]byte(s))
		wa, wp, wok := hostPortScans([]byte(s))
		if a != wa || p != wp || ok != wok {
			t.Errorf("hostPort(%q) = %v %d %v, want %v %d %v", s, a, p, ok, wa, wp, wok)
		}
		if v4, ok := parseIPv4([]byte(s)); ok {
			if w, err := netip.ParseAddr(s); err != nil || w != v4 {
				t.Errorf("parseIPv4(%q) = %v, netip: %v %v", s, v4, w, err)
			}
		}
	})
}
