package nginx

import (
	"testing"

	"github.com/stockade-ids/stockade/pipeline"
)

// TestRealIP: the forwarded-for client is believed only from a trusted
// peer, and then the right-most address that is not a trusted proxy, as
// nginx's set_real_ip_from with real_ip_recursive on.
func TestRealIP(t *testing.T) {
	const tail = ` - - [08/Nov/2025:22:00:01 +0100] "POST /wp-login.php HTTP/1.1" 200 10 "-" "x"`
	trusted := []string{"10.0.0.0/8", "192.0.2.1"}
	for _, tc := range []struct {
		name, prefix string
		from         []string
		want         string
	}{
		{"no real_ip_from: the peer", `"198.51.100.7" 10.0.0.2`, nil, "10.0.0.2"},
		{"untrusted peer: its forwarded-for is its own writing", `"203.0.113.9" 198.51.100.50`, trusted, "198.51.100.50"},
		{"trusted peer: the client it names", `"198.51.100.7" 10.0.0.2`, trusted, "198.51.100.7"},
		{"recursive: past the trusted hops", `"198.51.100.7, 192.0.2.1, 10.1.1.1" 10.0.0.2`, trusted, "198.51.100.7"},
		{"a client's forged entry left of the first untrusted is ignored", `"203.0.113.9, 198.51.100.7, 10.1.1.1" 10.0.0.2`, trusted, "198.51.100.7"},
		{"unquoted list", `203.0.113.9, 198.51.100.7 10.0.0.2`, trusted, "198.51.100.7"},
		{"vhost and list", `example.org "198.51.100.7" 10.0.0.2`, trusted, "198.51.100.7"},
		{"no forwarded-for: the peer", `- 10.0.0.2`, trusted, "10.0.0.2"},
		{"only proxies: the left-most", `"10.3.3.3, 10.1.1.1" 10.0.0.2`, trusted, "10.3.3.3"},
		{"garbage stops at the last proxy", `"junk, 10.1.1.1" 10.0.0.2`, trusted, "10.1.1.1"},
		{"IPv6 client", `"2001:db8::7" 10.0.0.2`, trusted, "2001:db8::7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseRealIP(tc.from)
			if err != nil {
				t.Fatal(err)
			}
			p := New()
			p.SetRealIPFrom(r)
			var ev pipeline.Event
			if err := p.Parse([]byte(tc.prefix+tail), &ev); err != nil {
				t.Fatalf("%s: %v", tc.prefix+tail, err)
			}
			if got := ev.Addr.String(); got != tc.want {
				t.Errorf("addr = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestParseRealIP(t *testing.T) {
	if _, err := ParseRealIP([]string{"10.0.0.0/8", "::1", "::ffff:192.0.2.0/120"}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "10.0.0.0/33", "proxy.example"} {
		if _, err := ParseRealIP([]string{bad}); err == nil {
			t.Errorf("ParseRealIP(%q) accepted", bad)
		}
	}
}
