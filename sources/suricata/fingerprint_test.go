package suricata

import (
	"strings"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

func fastFP(t *testing.T, loc *time.Location, line string) uint64 {
	t.Helper()
	var ev pipeline.Event
	if err := NewFast(loc).Parse([]byte(line), &ev); err != nil {
		t.Fatalf("%v: %s", err, line)
	}
	return ev.Fingerprint
}

func eveFP(t *testing.T, line string) uint64 {
	t.Helper()
	var ev pipeline.Event
	if err := NewEve(nil).Parse([]byte(line), &ev); err != nil {
		t.Fatalf("%v: %s", err, line)
	}
	return ev.Fingerprint
}

func TestFingerprintSameAlert(t *testing.T) {
	fixed := func(h int) *time.Location { return time.FixedZone("", h*3600) }
	cases := []struct {
		name string
		fast string
		loc  *time.Location
		eve  string
	}{
		{"fast.log in Europe/Paris, eve +0100", fastSSH, paris(t), eveSSH},
		{"eve +01:00", fastSSH, paris(t), eveWith(`+0100"`, `+01:00"`)},
		{"eve in UTC", fastSSH, paris(t), eveWith(`22:00:01.123456+0100"`, `21:00:01.123456Z"`)},
		// The sensor's zone is misconfigured: the instants differ by whole
		// hours (or quarter hours), the fingerprint does not.
		{"fast.log read in UTC", fastSSH, time.UTC, eveSSH},
		{"fast.log read in UTC+5:45", fastSSH, time.FixedZone("", 5*3600+45*60), eveSSH},
		{"fast.log read in UTC-9", fastSSH, fixed(-9), eveSSH},
		{
			"numeric protocol, drop",
			strings.Replace(strings.Replace(fastSSH, "{TCP}", "{6}", 1), "  [**]", "  [Drop] [**]", 1), paris(t),
			eveWith(`"allowed"`, `"blocked"`),
		},
		{
			"IPv6 spelt differently",
			strings.Replace(fastSSH, "198.51.100.9:4711", "2001:0db8:0000:0000:0000:0000:0000:0009:4711", 1), paris(t),
			eveWith(`"198.51.100.9"`, `"2001:db8::9"`),
		},
		{
			"ICMP type and code in fast.log, no ports in eve",
			strings.Replace(strings.Replace(strings.Replace(fastSSH, "{TCP}", "{ICMP}", 1), ":4711", ":8", 1), ":22", ":0", 1), paris(t),
			eveWith(`"src_port":4711,`, ``, `"dest_port":22,`, `"icmp_type":8,"icmp_code":0,`, `"TCP"`, `"ICMP"`),
		},
		{
			"IPv6-ICMP, as Suricata 7 and 6 spell it",
			strings.Replace(fastSSH, "{TCP}", "{IPV6-ICMP}", 1), paris(t),
			eveWith(`"TCP"`, `"IPv6-ICMP"`),
		},
		{
			"attacker named by the target keyword",
			fastSSH, paris(t),
			eveWith(`"severity":2,`, `"severity":2,"source":{"ip":"192.0.2.10","port":22},"target":{"ip":"198.51.100.9","port":4711},`),
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, e := fastFP(t, c.loc, c.fast), eveFP(t, c.eve)
			if f != e {
				t.Errorf("fast.log %016x, eve.json %016x", f, e)
			}
		})
	}
}

func TestFingerprintDifferentAlert(t *testing.T) {
	base := eveFP(t, eveSSH)
	cases := []struct{ name, eve string }{
		{"sid", eveWith(`2001219`, `2001218`)},
		{"gid", eveWith(`"gid":1`, `"gid":3`)},
		{"rev", eveWith(`"rev":20`, `"rev":21`)},
		{"source port", eveWith(`4711`, `4712`)},
		{"destination port", eveWith(`"dest_port":22`, `"dest_port":23`)},
		{"ports swapped", eveWith(`4711`, `22`, `"dest_port":22`, `"dest_port":4711`)},
		{"source address", eveWith(`"198.51.100.9"`, `"198.51.100.8"`)},
		{"destination address", eveWith(`"192.0.2.10"`, `"192.0.2.11"`)},
		{"protocol", eveWith(`"TCP"`, `"UDP"`)},
		{"microsecond", eveWith(`.123456+`, `.123457+`)},
		{"second", eveWith(`:01.123456+`, `:02.123456+`)},
		{"minute within the quarter hour", eveWith(`22:00:01`, `22:01:01`)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if fp := eveFP(t, c.eve); fp == base {
				t.Errorf("same fingerprint %016x", fp)
			}
		})
	}
	// Signature text, category, severity and action are the rule's, not
	// the alert's: fast.log and eve.json spell them differently (escapes,
	// "(null)"), so they stay out.
	if fp := eveFP(t, eveWith(`"ET SCAN Potential SSH Scan"`, `"other"`, `"allowed"`, `"blocked"`)); fp != base {
		t.Errorf("signature text changed the fingerprint")
	}
}

// Fingerprints are compared across processes and restarts: they must not
// depend on anything but the alert.
func TestFingerprintStable(t *testing.T) {
	if got, want := eveFP(t, eveSSH), uint64(0x004eb7c8ef9b5424); got != want {
		t.Errorf("fingerprint %016x, want %016x: changing it breaks dedup across a restart mid-file", got, want)
	}
}

// TestFingerprintGroup: a fingerprint's top bits, which pick its table in
// the engine, are the alert's offset in its quarter hour in steps of
// 2^18 µs: alerts a few milliseconds apart share them (their lookups stay
// in one small table), and so do alerts whole quarter hours apart (a
// copy read in a wrong zone); a second later they differ.
func TestFingerprintGroup(t *testing.T) {
	group := func(stamp, addr string) uint64 {
		line := strings.Replace(strings.Replace(fastSSH, "22:00:01.123456", stamp, 1), "198.51.100.9", addr, 1)
		return fastFP(t, time.UTC, line) >> fpHashBits
	}
	base := group("22:00:01.123456", "198.51.100.9")
	// 22:00:01.123456 is 1,123,456 µs into its quarter hour: group 4.
	if want := uint64(1_123_456 >> 18); base != want {
		t.Fatalf("group %d, want %d", base, want)
	}
	for _, c := range []struct {
		stamp, addr string
		same        bool
	}{
		{"22:00:01.123456", "203.0.113.7", true}, // another alert, the same instant
		{"22:00:01.100000", "203.0.113.8", true}, // 23 ms before
		{"22:15:01.123456", "198.51.100.9", true},
		{"19:45:01.123456", "198.51.100.9", true},
		{"22:00:02.123456", "198.51.100.9", false},
		{"22:00:00.123456", "198.51.100.9", false},
	} {
		if g := group(c.stamp, c.addr); (g == base) != c.same {
			t.Errorf("%s %s: group %d, %s's %d", c.stamp, c.addr, g, "22:00:01.123456", base)
		}
	}
}
