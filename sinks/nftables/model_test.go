package nftables

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	nft "github.com/google/nftables"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func at(h int) time.Time { return t0.Add(time.Duration(h) * time.Hour) }

func pfx(s string) netip.Prefix {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p
	}
	a := netip.MustParseAddr(s)
	return netip.PrefixFrom(a, a.BitLen())
}

// render lists elements as "prefix@hours", the way the tests spell them.
func render(els []element) string {
	var parts []string
	for _, e := range els {
		ps := rangePrefixes(e)
		name := e.from.String() + "-" + e.to.String()
		if len(ps) == 1 {
			name = ps[0].String()
		}
		parts = append(parts, fmt.Sprintf("%s@%d", name, int(e.expires.Sub(t0)/time.Hour)))
	}
	return strings.Join(parts, " ")
}

func TestPartition(t *testing.T) {
	for _, tc := range []struct {
		name string
		bans []ban
		now  time.Time
		want string
	}{
		{"one address", []ban{{pfx("203.0.113.7"), at(1)}}, t0,
			"203.0.113.7/32@1"},
		{"longer address inside a range is cut out", []ban{{pfx("203.0.113.0/24"), at(1)}, {pfx("203.0.113.7"), at(24)}}, t0,
			"203.0.113.0/30@1 203.0.113.4/31@1 203.0.113.6/32@1 203.0.113.7/32@24 203.0.113.8/29@1 203.0.113.16/28@1 203.0.113.32/27@1 203.0.113.64/26@1 203.0.113.128/25@1"},
		{"shorter address inside a range disappears", []ban{{pfx("203.0.113.0/24"), at(24)}, {pfx("203.0.113.7"), at(1)}}, t0,
			"203.0.113.0/24@24"},
		{"same expiry is one element", []ban{{pfx("203.0.113.7"), at(2)}, {pfx("203.0.113.0/24"), at(2)}}, t0,
			"203.0.113.0/24@2"},
		{"range over: the address stays", []ban{{pfx("203.0.113.0/24"), at(1)}, {pfx("203.0.113.7"), at(24)}}, at(2),
			"203.0.113.7/32@24"},
		{"all over", []ban{{pfx("203.0.113.0/24"), at(1)}, {pfx("203.0.113.7"), at(2)}}, at(3),
			""},
		{"three levels", []ban{{pfx("10.0.0.0/22"), at(1)}, {pfx("10.0.1.0/24"), at(3)}, {pfx("10.0.1.9"), at(2)}}, t0,
			"10.0.0.0/24@1 10.0.1.0/24@3 10.0.2.0/23@1"},
		{"a hole in a hole", []ban{{pfx("10.0.0.0/30"), at(1)}, {pfx("10.0.0.0/31"), at(3)}, {pfx("10.0.0.1"), at(5)}}, t0,
			"10.0.0.0/32@3 10.0.0.1/32@5 10.0.0.2/31@1"},
		{"two halves under a shorter range", []ban{{pfx("10.0.0.0/24"), at(1)}, {pfx("10.0.0.0/25"), at(2)}, {pfx("10.0.0.128/25"), at(2)}}, t0,
			"10.0.0.0/25@2 10.0.0.128/25@2"},
		{"IPv6 host in a range", []ban{{pfx("2001:db8::/120"), at(1)}, {pfx("2001:db8::80"), at(2)}}, t0,
			"2001:db8::/121@1 2001:db8::80/128@2 2001:db8::81/128@1 2001:db8::82/127@1 2001:db8::84/126@1 " +
				"2001:db8::88/125@1 2001:db8::90/124@1 2001:db8::a0/123@1 2001:db8::c0/122@1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := partition(slices.Clone(tc.bans), tc.now, nil)
			sortElements(got)
			if r := render(got); r != tc.want {
				t.Errorf("partition:\n got %s\nwant %s", r, tc.want)
			}
		})
	}
}

func TestFamilyEdits(t *testing.T) {
	f := newFamily(false, 32)
	step := func(name string, edit func(c *change) bool, wantDels, wantAdds string) {
		t.Helper()
		c := newChange(t0)
		edit(c)
		dels, adds := f.diff(c)
		if got := render(dels); got != wantDels {
			t.Errorf("%s: deletes\n got %s\nwant %s", name, got, wantDels)
		}
		if got := render(adds); got != wantAdds {
			t.Errorf("%s: adds\n got %s\nwant %s", name, got, wantAdds)
		}
	}
	step("ban", func(c *change) bool { return f.ban(c, pfx("203.0.113.7"), at(2)) },
		"", "203.0.113.7/32@2")
	step("shorter ban changes nothing", func(c *change) bool { return f.ban(c, pfx("203.0.113.7"), at(1)) },
		"", "")
	step("longer ban replaces", func(c *change) bool { return f.ban(c, pfx("203.0.113.7"), at(3)) },
		"203.0.113.7/32@2", "203.0.113.7/32@3")
	step("range absorbs the address, which lasts longer", func(c *change) bool { return f.ban(c, pfx("203.0.113.0/29"), at(1)) },
		"", "203.0.113.0/30@1 203.0.113.4/31@1 203.0.113.6/32@1")
	step("a range over both", func(c *change) bool { return f.ban(c, pfx("203.0.113.0/28"), at(5)) },
		"203.0.113.0/30@1 203.0.113.4/31@1 203.0.113.6/32@1 203.0.113.7/32@3", "203.0.113.0/28@5")
	if len(f.groups) != 1 || f.nbans != 3 {
		t.Fatalf("groups %d bans %d, want one group of three", len(f.groups), f.nbans)
	}
	step("unban names the range only", func(c *change) bool { return f.unban(c, pfx("203.0.113.0/28")) },
		"203.0.113.0/28@5", "203.0.113.0/30@1 203.0.113.4/31@1 203.0.113.6/32@1 203.0.113.7/32@3")
	step("unban of an address inside a range is a no-op", func(c *change) bool { return f.unban(c, pfx("203.0.113.1")) },
		"", "")
	step("unban and ban in one batch; the range closes over the hole", func(c *change) bool {
		return f.unban(c, pfx("203.0.113.7")) && f.ban(c, pfx("198.51.100.1"), at(1))
	}, "203.0.113.0/30@1 203.0.113.4/31@1 203.0.113.6/32@1 203.0.113.7/32@3", "198.51.100.1/32@1 203.0.113.0/29@1")
	if f.unban(nil, pfx("192.0.2.1")) {
		t.Error("unban of a target never banned reported a change")
	}
}

// A ban that comes back just after the same ban ran out may find the
// element still in the kernel: it is deleted and added, not just added.
func TestRebanJustAfterExpiry(t *testing.T) {
	f := newFamily(false, 32)
	f.ban(nil, pfx("203.0.113.7"), at(1))
	c := newChange(at(1).Add(100 * time.Millisecond))
	f.ban(c, pfx("203.0.113.7"), at(5))
	if dels, adds := f.diff(c); render(dels) != "203.0.113.7/32@1" || render(adds) != "203.0.113.7/32@5" {
		t.Errorf("100ms after expiry: -%s +%s", render(dels), render(adds))
	}
	c = newChange(at(5).Add(time.Second))
	f.ban(c, pfx("203.0.113.7"), at(9))
	if dels, adds := f.diff(c); render(dels) != "" || render(adds) != "203.0.113.7/32@9" {
		t.Errorf("a second after expiry: -%s +%s", render(dels), render(adds))
	}
}

func TestWiden(t *testing.T) {
	f := newFamily(true, 64)
	for in, want := range map[string]string{
		"2001:db8::1":         "2001:db8::/64",
		"2001:db8:0:0:8::/80": "2001:db8::/64",
		"2001:db8::/48":       "2001:db8::/48",
	} {
		if got := f.widen(pfx(in)).String(); got != want {
			t.Errorf("widen(%s) = %s, want %s", in, got, want)
		}
	}
	c := newChange(t0)
	f.ban(c, f.widen(pfx("2001:db8::1")), at(1))
	f.ban(c, f.widen(pfx("2001:db8::2")), at(2))
	if _, adds := f.diff(c); render(adds) != "2001:db8::/64@2" {
		t.Errorf("two hosts of one /64: %s", render(adds))
	}
}

func TestInside(t *testing.T) {
	f := newFamily(false, 32)
	for _, s := range []string{"10.0.0.1", "10.0.0.200", "10.0.1.0/24", "10.1.0.0/16", "10.0.0.128/25"} {
		f.ban(nil, pfx(s), at(1))
	}
	// 10.0.0.200 went into the /25's group.
	if got := len(f.groups); got != 4 {
		t.Fatalf("%d groups, want 4", got)
	}
	f.ban(nil, pfx("10.0.0.0/16"), at(1))
	if got := len(f.groups); got != 2 {
		t.Fatalf("after the /16: %d groups, want 2 (10.0.0.0/16, 10.1.0.0/16)", got)
	}
	if f.groups[pfx("10.0.0.0/16")] == nil || len(f.groups[pfx("10.0.0.0/16")].bans) != 5 {
		t.Errorf("10.0.0.0/16 should hold 5 bans: %+v", f.groups)
	}
	// With many groups, a narrow range looks its few sub-prefixes up
	// instead of scanning them all.
	for i := range 1000 {
		f.ban(nil, pfx(fmt.Sprintf("192.168.%d.%d", i/250, i%250)), at(1))
	}
	if got := f.inside(pfx("192.168.0.0/30")); len(got) != 4 {
		t.Errorf("inside 192.168.0.0/30: %v", got)
	}
	f.ban(nil, pfx("192.168.0.0/30"), at(1))
	if got := len(f.groups); got != 2+1000-4+1 {
		t.Errorf("%d groups after the /30 absorbed four", got)
	}
}

func TestDiff(t *testing.T) {
	e := func(s string, h int) element { return prefixElement(pfx(s), at(h)) }
	have := []element{e("10.0.0.1", 1), e("10.0.0.2", 2), e("10.0.0.3", 5), e("10.0.0.4", 3), e("10.0.0.6", 1), e("10.0.0.7", 0)}
	want := []element{e("10.0.0.2", 3), e("10.0.0.3", 5), e("10.0.0.5", 1), e("10.0.0.6", 4), e("10.0.0.7", 4)}
	dels, adds := diff(have, want, at(1), 0)
	// 10.0.0.1 is over: gone from the kernel or about to be. 10.0.0.6 ran
	// out just now and comes back: it may still be there. 10.0.0.7 ran out
	// an hour ago.
	if got := render(dels); got != "10.0.0.2/32@2 10.0.0.4/32@3 10.0.0.6/32@1" {
		t.Errorf("deletes: %s", got)
	}
	if got := render(adds); got != "10.0.0.2/32@3 10.0.0.5/32@1 10.0.0.6/32@4 10.0.0.7/32@4" {
		t.Errorf("adds: %s", got)
	}
	near := []element{{from: want[0].from, to: want[0].to, expires: want[0].expires.Add(300 * time.Millisecond)}}
	if dels, adds := diff(near, want[:1], t0, time.Second); len(dels)+len(adds) != 0 {
		t.Errorf("an expiry 300ms off was rewritten: -%s +%s", render(dels), render(adds))
	}
}

func TestPlan(t *testing.T) {
	e := func(s string) element { return prefixElement(pfx(s), at(1)) }
	dels := []element{e("10.0.0.0/24"), e("10.0.2.1")}
	adds := []element{e("10.0.0.0/25"), e("10.0.0.128/25"), e("10.0.1.1"), e("10.0.2.1"), e("10.0.3.1")}
	for _, tc := range []struct {
		chunk int
		want  string
	}{
		{64, "[-10.0.0.0/24 +10.0.0.0/25 +10.0.0.128/25 +10.0.1.1/32 -10.0.2.1/32 +10.0.2.1/32 +10.0.3.1/32]"},
		{6, "[-10.0.0.0/24 +10.0.0.0/25 +10.0.0.128/25] [+10.0.1.1/32 -10.0.2.1/32 +10.0.2.1/32] [+10.0.3.1/32]"},
		{4, "[-10.0.0.0/24 +10.0.0.0/25] [+10.0.0.128/25 +10.0.1.1/32] [-10.0.2.1/32 +10.0.2.1/32] [+10.0.3.1/32]"},
	} {
		var parts []string
		for _, b := range plan(dels, adds, tc.chunk) {
			var ops []string
			n := 0
			for _, o := range b {
				sign := "+"
				if o.del {
					sign = "-"
				}
				ops = append(ops, sign+rangePrefixes(o.e)[0].String())
				n += o.e.entries()
			}
			if n > tc.chunk {
				t.Errorf("chunk %d: a batch of %d entries", tc.chunk, n)
			}
			parts = append(parts, "["+strings.Join(ops, " ")+"]")
		}
		if got := strings.Join(parts, " "); got != tc.want {
			t.Errorf("chunk %d:\n got %s\nwant %s", tc.chunk, got, tc.want)
		}
	}
}

func TestParseElements(t *testing.T) {
	k := func(s string) []byte { return netip.MustParseAddr(s).AsSlice() }
	// As the kernel lists them: highest first, a start carrying the timeout
	// and its end none; 10.9.0.1 is the end of an interval that expired.
	els := []nft.SetElement{
		{Key: k("255.255.255.255"), Timeout: time.Hour, Expires: time.Hour},
		{Key: k("10.9.0.1"), IntervalEnd: true},
		{Key: k("10.0.1.0"), IntervalEnd: true},
		{Key: k("10.0.0.8"), Timeout: time.Hour, Expires: time.Hour},
		{Key: k("10.0.0.8"), IntervalEnd: true},
		{Key: k("10.0.0.7"), Timeout: 3 * time.Hour, Expires: 3 * time.Hour},
		{Key: k("10.0.0.7"), IntervalEnd: true},
		{Key: k("10.0.0.0")},
	}
	got := parseElements(els, t0)
	var parts []string
	for _, e := range got {
		exp := "never"
		if e.expires != never {
			exp = fmt.Sprint(int(e.expires.Sub(t0) / time.Hour))
		}
		parts = append(parts, fmt.Sprintf("%s-%s/%v@%s", e.from, e.to, e.open, exp))
	}
	want := "10.0.0.0-10.0.0.6/false@never 10.0.0.7-10.0.0.7/false@3 10.0.0.8-10.0.0.255/false@1 255.255.255.255-255.255.255.255/true@1"
	if g := strings.Join(parts, " "); g != want {
		t.Errorf("parse:\n got %s\nwant %s", g, want)
	}
}

func TestConfig(t *testing.T) {
	s, err := New(Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := s.cfg
	if c.Table != "stockade" || c.Family != "inet" || !slices.Equal(c.Chains, []string{"input"}) || c.Priority != -10 ||
		c.SetV4 != "banned4" || c.SetV6 != "banned6" || c.IPv6Prefix != 128 || c.ChunkSize != 512 {
		t.Errorf("defaults: %+v", c)
	}
	_, err = New(Config{Family: "arp", Chains: []string{"input", "output", "input"}, SetV4: "x", SetV6: "x", IPv6Prefix: 8, ChunkSize: 5000}, nil)
	if err == nil {
		t.Fatal("bad config accepted")
	}
	for _, want := range []string{"family: \"arp\"", "chains: \"output\"", "chains: \"input\" listed twice", "set_v6: \"x\" is also",
		"ipv6_prefix: 8", "chunk_size: 5000"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// FuzzModel drives the model with bans, unbans and the passage of time
// inside 10.0.0.0/26 and plays the operations it asks for on a simulated
// kernel that behaves like an interval set: deleting an absent element or
// adding an overlapping one fails, elements run out on their own. After
// every step the kernel must hold exactly what the bans ask for: each
// address blocked until the latest expiry among the live bans covering it.
func FuzzModel(f *testing.F) {
	f.Add([]byte{0, 7, 32, 2, 0, 0, 26, 1, 2, 0, 0, 0, 1, 0, 26, 0})
	f.Add([]byte{0, 0, 24, 1, 0, 7, 32, 5, 2, 0, 0, 2, 1, 7, 32, 0, 0, 8, 29, 9})
	f.Fuzz(func(t *testing.T, data []byte) {
		fam := newFamily(false, 32)
		kernel := map[netip.Addr]element{}
		bans := map[netip.Prefix]time.Time{}
		now := t0
		base := netip.MustParseAddr("10.0.0.0")
		for len(data) >= 4 {
			kind, off, bits, dur := data[0]%3, data[1]%64, 26+int(data[2])%7, int(data[3]%8)
			data = data[4:]
			p, _ := netip.AddrFrom4([4]byte{10, 0, 0, off}).Prefix(bits)
			c := newChange(now)
			switch kind {
			case 0:
				// Never a whole number of hours from a tick: an element
				// that runs out exactly now may or may not still be in a
				// real kernel, which the simulation cannot decide.
				exp := now.Add(time.Duration(dur+1)*time.Hour + time.Minute)
				fam.ban(c, p, exp)
				if exp.After(bans[p]) {
					bans[p] = exp
				}
			case 1:
				fam.unban(c, p)
				delete(bans, p)
			case 2:
				now = now.Add(time.Duration(dur) * time.Hour)
				for k, e := range kernel {
					if !e.expires.After(now) {
						delete(kernel, k)
					}
				}
				fam.sweep(now)
				continue
			}
			dels, adds := fam.diff(c)
			for _, b := range plan(dels, adds, 8) {
				for _, o := range b {
					if o.del {
						if _, ok := kernel[o.e.from]; !ok {
							t.Fatalf("delete of %v, absent from the kernel", o.e)
						}
						delete(kernel, o.e.from)
						continue
					}
					for _, k := range kernel {
						if !(k.to.Less(o.e.from) || o.e.to.Less(k.from)) {
							t.Fatalf("add of %v overlaps %v", o.e, k)
						}
					}
					kernel[o.e.from] = o.e
				}
			}
			for i := range 64 {
				a := base
				for range i {
					a = a.Next()
				}
				var want time.Time
				for p, exp := range bans {
					if p.Contains(a) && exp.After(now) && exp.After(want) {
						want = exp
					}
				}
				var got time.Time
				for _, k := range kernel {
					if !a.Less(k.from) && !k.to.Less(a) {
						got = k.expires
					}
				}
				if !got.Equal(want) {
					t.Fatalf("%v blocked until %v, want %v", a, got, want)
				}
			}
		}
	})
}

// TestDriftWithinTheListing: the kernel gives each element's time left as
// of the moment its part of a set's listing is made, and a large set takes
// seconds to list (200,000 elements: 5.8 s here, the kernel walking the
// tree anew for each part). Read as of the listing's middle, an element is
// off by up to half the listing either way: with a tolerance of one second
// only, a check of 200,000 bans found three-quarters of them "changed" at
// every pass, and rewrote them, 55 s under the sink's lock (stockade
// enforce checks every 10 s, and its watchdog is 30 s). Elements whose
// expiry is right, listed over 6 s, are not drift; one 10 s off is.
func TestDriftWithinTheListing(t *testing.T) {
	const n, span = 3000, 6 * time.Second
	listed := t0 // when the listing began
	expires := t0.Add(time.Hour)
	f := newFamily(false, 64)
	var bans []ban
	var els []nft.SetElement
	for i := range n {
		a := netip.AddrFrom4([4]byte{203, 0, byte(i >> 8), byte(i)})
		want := expires
		if i == n/2 {
			want = expires.Add(10 * time.Second) // tampered with, or a renewal lost
		}
		bans = append(bans, ban{netip.PrefixFrom(a, 32), want})
		at := listed.Add(span * time.Duration(i) / n) // when this part was listed
		els = append(els,
			nft.SetElement{Key: a.AsSlice(), Timeout: time.Hour, Expires: expires.Sub(at)},
			nft.SetElement{Key: a.Next().AsSlice(), IntervalEnd: true})
	}
	f.reset(bans)
	have := parseElements(els, listed.Add(span/2))
	now := listed.Add(span)
	dels, adds := diff(have, f.elements(now), now, readTolerance(span))
	off := n / 2
	if len(dels) != 1 || len(adds) != 1 || adds[0].from != netip.AddrFrom4([4]byte{203, 0, byte(off >> 8), byte(off)}) {
		t.Errorf("listed over %v: %d deletes and %d adds, want the one element 10 s off rewritten", span, len(dels), len(adds))
	}
	// What one second alone made of it.
	if dels, _ := diff(have, f.elements(now), now, syncTolerance); len(dels) < n/2 {
		t.Errorf("with one second's tolerance, %d of %d elements differ: the listing's span is not what this test is about", len(dels), n)
	}
}

// TestApart: a check leaves alone every element that overlaps a group
// edited while it listed, nested keys (a range ban that absorbed groups)
// included, and keeps the rest in order.
func TestApart(t *testing.T) {
	el := func(from, to string) element {
		return element{from: netip.MustParseAddr(from), to: netip.MustParseAddr(to)}
	}
	els := []element{
		el("9.255.255.255", "9.255.255.255"),
		el("10.0.0.7", "10.0.0.7"),
		el("10.0.1.0", "10.0.1.255"),
		el("10.0.1.255", "10.0.2.0"),
		el("10.0.3.0", "10.0.3.0"),
		el("10.0.4.0", "10.0.7.255"),
	}
	moved := []netip.Prefix{netip.MustParsePrefix("10.0.2.0/31"), netip.MustParsePrefix("10.0.0.5/32"),
		netip.MustParsePrefix("10.0.0.0/24"), netip.MustParsePrefix("10.0.6.0/24")}
	var got []string
	for _, e := range apart(els, moved) {
		got = append(got, e.from.String())
	}
	if want := "9.255.255.255 10.0.1.0 10.0.3.0"; strings.Join(got, " ") != want {
		t.Errorf("kept %v, want %s", got, want)
	}
	if len(apart(els, nil)) != len(els) {
		t.Errorf("nothing moved: elements dropped")
	}
}
