package suricata

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

// want is the part of an Event a table case checks; zero fields are
// checked too, so every case states the whole alert.
type want struct {
	time           string // RFC 3339 with nanoseconds
	action         string
	gid, sid, rev  int
	signature      string
	classification string
	priority       int
	proto          string
	src            string // addr port
	dst            string
	addr           string
}

func (w want) check(t *testing.T, ev *pipeline.Event) {
	t.Helper()
	got := want{
		time:           ev.Time.Format(time.RFC3339Nano),
		action:         ev.Action,
		gid:            ev.GID,
		sid:            ev.SID,
		rev:            ev.Rev,
		signature:      ev.Signature,
		classification: ev.Classification,
		priority:       ev.Priority,
		proto:          ev.Proto,
		src:            netip.AddrPortFrom(ev.SrcAddr, uint16(ev.SrcPort)).String(),
		dst:            netip.AddrPortFrom(ev.DstAddr, uint16(ev.DstPort)).String(),
		addr:           ev.Addr.String(),
	}
	if got != w {
		t.Errorf("\n got %+v\nwant %+v", got, w)
	}
}

// wantErr checks err against a bad-line reason, "skip", or "" for success.
func wantErr(t *testing.T, err error, reason string) bool {
	t.Helper()
	var bad *pipeline.BadLine
	switch {
	case reason == "":
		if err != nil {
			t.Fatalf("unexpected error %v", err)
		}
		return true
	case reason == "skip":
		if !errors.Is(err, pipeline.ErrSkip) {
			t.Fatalf("got %v, want ErrSkip", err)
		}
	case !errors.As(err, &bad):
		t.Fatalf("got %v, want bad line %q", err, reason)
	case bad.Reason != reason:
		t.Fatalf("got bad line %q, want %q", bad.Reason, reason)
	}
	return false
}

const fastSSH = "11/08/2025-22:00:01.123456  [**] [1:2001219:20] ET SCAN Potential SSH Scan [**] [Classification: Attempted Information Leak] [Priority: 2] {TCP} 198.51.100.9:4711 -> 192.0.2.10:22"

func TestFast(t *testing.T) {
	ssh := want{
		time: "2025-11-08T22:00:01.123456Z", gid: 1, sid: 2001219, rev: 20,
		signature: "ET SCAN Potential SSH Scan", classification: "Attempted Information Leak",
		priority: 2, proto: "TCP", src: "198.51.100.9:4711", dst: "192.0.2.10:22", addr: "198.51.100.9",
	}
	with := func(f func(*want)) want {
		w := ssh
		f(&w)
		return w
	}
	cases := []struct {
		name, line string
		err        string
		want       want
	}{
		{name: "every field", line: fastSSH, want: ssh},
		{name: "CRLF", line: fastSSH + "\r", want: ssh},
		{
			name: "drop",
			line: "11/08/2025-22:00:01.123456  [Drop] [**] [1:2001219:20] ET SCAN Potential SSH Scan [**] [Classification: Attempted Information Leak] [Priority: 2] {TCP} 198.51.100.9:4711 -> 192.0.2.10:22",
			want: with(func(w *want) { w.action = "blocked" }),
		},
		{
			name: "would drop",
			line: "11/08/2025-22:00:01.123456  [wDrop] [**] [1:2001219:20] ET SCAN Potential SSH Scan [**] [Classification: Attempted Information Leak] [Priority: 2] {TCP} 198.51.100.9:4711 -> 192.0.2.10:22",
			want: with(func(w *want) { w.action = "allowed" }),
		},
		{
			name: "message with brackets, braces, arrow and [**]",
			line: "11/08/2025-22:00:01.123456  [**] [1:2001219:20] ET [SCAN] {x} a -> b [**] [Priority: 9] [**] [Classification: Attempted Information Leak] [Priority: 2] {TCP} 198.51.100.9:4711 -> 192.0.2.10:22",
			want: with(func(w *want) { w.signature = "ET [SCAN] {x} a -> b [**] [Priority: 9]" }),
		},
		{
			name: "message with a fake classification",
			line: "11/08/2025-22:00:01.123456  [**] [1:2001219:20] x [Classification: y] [**] [Priority: 2] {TCP} 198.51.100.9:4711 -> 192.0.2.10:22",
			want: with(func(w *want) { w.signature, w.classification = "x [Classification: y]", "" }),
		},
		{
			name: "no classification",
			line: "11/08/2025-22:00:01.123456  [**] [1:2001219:20] ET SCAN Potential SSH Scan [**] [Priority: 2] {TCP} 198.51.100.9:4711 -> 192.0.2.10:22",
			want: with(func(w *want) { w.classification = "" }),
		},
		{
			name: "null classification and message",
			line: "11/08/2025-22:00:01.123456  [**] [1:2001219:20] (null) [**] [Classification: (null)] [Priority: 2] {TCP} 198.51.100.9:4711 -> 192.0.2.10:22",
			want: with(func(w *want) { w.classification, w.signature = "", "" }),
		},
		{
			name: "empty message",
			line: "11/08/2025-22:00:01.123456  [**] [1:2001219:20]  [**] [Classification: Attempted Information Leak] [Priority: 2] {TCP} 198.51.100.9:4711 -> 192.0.2.10:22",
			want: with(func(w *want) { w.signature = "" }),
		},
		{
			name: "IPv6 eight groups with port",
			line: "11/08/2025-22:00:01.123456  [**] [1:2001219:20] ET SCAN Potential SSH Scan [**] [Classification: Attempted Information Leak] [Priority: 2] {TCP} 2001:0db8:0000:0000:0000:0000:0000:0009:4711 -> 0000:0000:0000:0000:0000:0000:0000:0001:22",
			want: with(func(w *want) { w.src, w.dst, w.addr = "[2001:db8::9]:4711", "[::1]:22", "2001:db8::9" }),
		},
		{
			name: "IPv6 bracketed with port",
			line: "11/08/2025-22:00:01.123456  [**] [1:2001219:20] ET SCAN Potential SSH Scan [**] [Classification: Attempted Information Leak] [Priority: 2] {TCP} [2001:db8::9]:4711 -> [::1]:22",
			want: with(func(w *want) { w.src, w.dst, w.addr = "[2001:db8::9]:4711", "[::1]:22", "2001:db8::9" }),
		},
		{
			name: "IPv6 compressed without port",
			line: "11/08/2025-22:00:01.123456  [**] [1:2200000:1] ICMPv6 probe [**] [Classification: Misc activity] [Priority: 3] {IPv6-ICMP} 2001:db8::9 -> 2001:db8::1:80",
			want: want{
				time: "2025-11-08T22:00:01.123456Z", gid: 1, sid: 2200000, rev: 1, signature: "ICMPv6 probe",
				classification: "Misc activity", priority: 3, proto: "IPV6-ICMP",
				src: "[2001:db8::9]:0", dst: "[2001:db8::1:80]:0", addr: "2001:db8::9",
			},
		},
		{
			name: "IPv4-mapped IPv6 is unmapped",
			line: "11/08/2025-22:00:01.123456  [**] [1:2001219:20] ET SCAN Potential SSH Scan [**] [Classification: Attempted Information Leak] [Priority: 2] {TCP} [::ffff:198.51.100.9]:4711 -> 192.0.2.10:22",
			want: ssh,
		},
		{
			name: "ICMP without ports",
			line: "11/08/2025-22:00:01.123456  [**] [1:2100384:6] GPL ICMP_INFO PING [**] [Classification: Misc activity] [Priority: 3] {ICMP} 198.51.100.77 -> 192.0.2.10",
			want: want{
				time: "2025-11-08T22:00:01.123456Z", gid: 1, sid: 2100384, rev: 6, signature: "GPL ICMP_INFO PING",
				classification: "Misc activity", priority: 3, proto: "ICMP",
				src: "198.51.100.77:0", dst: "192.0.2.10:0", addr: "198.51.100.77",
			},
		},
		{
			name: "numeric protocol",
			line: "11/08/2025-22:00:01.123456  [**] [1:2001219:20] ET SCAN Potential SSH Scan [**] [Classification: Attempted Information Leak] [Priority: 2] {6} 198.51.100.9:4711 -> 192.0.2.10:22",
			want: with(func(w *want) { w.proto = "6" }),
		},
		{
			name: "unnamed protocol",
			line: "11/08/2025-22:00:01.123456  [**] [1:2001219:20] ET SCAN Potential SSH Scan [**] [Classification: Attempted Information Leak] [Priority: 2] {PROTO:003} 198.51.100.9:4711 -> 192.0.2.10:22",
			want: with(func(w *want) { w.proto = "3" }),
		},
		{
			name: "lowercase protocol",
			line: "11/08/2025-22:00:01.123456  [**] [1:2001219:20] ET SCAN Potential SSH Scan [**] [Classification: Attempted Information Leak] [Priority: 2] {tcp} 198.51.100.9:4711 -> 192.0.2.10:22",
			want: ssh,
		},
		{
			name: "two-digit year",
			line: "11/08/25-22:00:01.123456  [**] [1:2001219:20] ET SCAN Potential SSH Scan [**] [Classification: Attempted Information Leak] [Priority: 2] {TCP} 198.51.100.9:4711 -> 192.0.2.10:22",
			want: ssh,
		},
		{
			name: "decoder event without addresses",
			line: "11/08/2025-22:00:01.123456  [**] [1:2200003:2] SURICATA IPv4 truncated packet [**] [Classification: Generic Protocol Command Decode] [Priority: 3] [**] [Raw pkt: 00 1B 21 3A 4F 6C 00 0C 29 7A 1D 5E 08 00 45 00 ] [pcap file packet: 17]",
			err:  "skip",
		},
		{name: "empty", line: "", err: "bad timestamp"},
		{name: "syslog", line: "Nov  8 22:00:01 host sshd[123]: Failed password for root from 198.51.100.9 port 4711 ssh2", err: "bad timestamp"},
		{name: "impossible date", line: "02/30/2025-22:00:01.123456  [**] [1:1:1] x [**] [Priority: 2] {TCP} 1.2.3.4:1 -> 5.6.7.8:2", err: "bad timestamp"},
		{name: "bad hour", line: "11/08/2025-24:00:01.123456  [**] [1:1:1] x [**] [Priority: 2] {TCP} 1.2.3.4:1 -> 5.6.7.8:2", err: "bad timestamp"},
		{name: "timestamp only", line: "11/08/2025-22:00:01.123456", err: "no signature"},
		{name: "no gid block", line: "11/08/2025-22:00:01.123456  [**] x [**] [Priority: 2] {TCP} 1.2.3.4:1 -> 5.6.7.8:2", err: "no signature"},
		{name: "bad sid", line: "11/08/2025-22:00:01.123456  [**] [1:x:1] x [**] [Priority: 2] {TCP} 1.2.3.4:1 -> 5.6.7.8:2", err: "no signature"},
		{name: "no closing stars", line: "11/08/2025-22:00:01.123456  [**] [1:1:1] x [Priority: 2] {TCP} 1.2.3.4:1 -> 5.6.7.8:2", err: "no signature"},
		{name: "no priority", line: "11/08/2025-22:00:01.123456  [**] [1:1:1] x [**] [Classification: y] {TCP} 1.2.3.4:1 -> 5.6.7.8:2", err: "no priority"},
		{name: "bad priority", line: "11/08/2025-22:00:01.123456  [**] [1:1:1] x [**] [Priority: high] {TCP} 1.2.3.4:1 -> 5.6.7.8:2", err: "no priority"},
		{name: "no protocol", line: "11/08/2025-22:00:01.123456  [**] [1:1:1] x [**] [Priority: 2] 1.2.3.4:1 -> 5.6.7.8:2", err: "no protocol"},
		{name: "empty protocol", line: "11/08/2025-22:00:01.123456  [**] [1:1:1] x [**] [Priority: 2] {} 1.2.3.4:1 -> 5.6.7.8:2", err: "no protocol"},
		{name: "no arrow", line: "11/08/2025-22:00:01.123456  [**] [1:1:1] x [**] [Priority: 2] {TCP} 1.2.3.4:1", err: "bad address"},
		{name: "port too big", line: "11/08/2025-22:00:01.123456  [**] [1:1:1] x [**] [Priority: 2] {TCP} 1.2.3.4:70000 -> 5.6.7.8:2", err: "bad address"},
		{name: "host name", line: "11/08/2025-22:00:01.123456  [**] [1:1:1] x [**] [Priority: 2] {TCP} example.org:1 -> 5.6.7.8:2", err: "bad address"},
		{name: "unclosed bracket", line: "11/08/2025-22:00:01.123456  [**] [1:1:1] x [**] [Priority: 2] {TCP} [2001:db8::1:1 -> 5.6.7.8:2", err: "bad address"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var ev pipeline.Event
			err := NewFast(time.UTC).Parse([]byte(c.line), &ev)
			if wantErr(t, err, c.err) {
				checkEvent(t, pipeline.FormatFastLog, []byte(c.line), &ev)
				c.want.check(t, &ev)
			}
		})
	}
}

func TestFastZone(t *testing.T) {
	var ev pipeline.Event
	if err := NewFast(paris(t)).Parse([]byte(fastSSH), &ev); err != nil {
		t.Fatal(err)
	}
	if got := ev.Time.Format(time.RFC3339Nano); got != "2025-11-08T22:00:01.123456+01:00" {
		t.Errorf("time %s", got)
	}
}

// The parser must not allocate: it runs once per alert line, and a busy
// sensor writes many.
func TestFastAllocs(t *testing.T) {
	p := NewFast(paris(t))
	line := []byte(fastSSH)
	var ev pipeline.Event
	if n := testing.AllocsPerRun(100, func() {
		ev = pipeline.Event{}
		if err := p.Parse(line, &ev); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("%v allocations per line", n)
	}
}

func TestFastAttackerSide(t *testing.T) {
	cases := []struct{ name, flow, want string }{
		{"request", "{TCP} 203.0.113.5:51000 -> 192.0.2.10:80", "203.0.113.5"},
		{"response to ephemeral port", "{TCP} 192.0.2.10:80 -> 203.0.113.5:51000", "203.0.113.5"},
		{"response from a high service port", "{TCP} 192.0.2.10:8080 -> 203.0.113.5:51000", "203.0.113.5"},
		{"forged source port to a service", "{TCP} 203.0.113.5:53 -> 192.0.2.10:22", "203.0.113.5"},
		{"both service ports", "{TCP} 203.0.113.5:443 -> 192.0.2.10:3306", "203.0.113.5"},
		{"icmp type and code are not ports", "{ICMP} 192.0.2.10:0 -> 203.0.113.5:3", "192.0.2.10"},
	}
	p := NewFast(time.UTC)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			line := "11/08/2025-22:00:01.123456  [**] [1:1:1] test [**] [Classification: x] [Priority: 1] " + c.flow
			var ev pipeline.Event
			if err := p.Parse([]byte(line), &ev); err != nil {
				t.Fatal(err)
			}
			if ev.Addr.String() != c.want {
				t.Fatalf("attacker %s, want %s", ev.Addr, c.want)
			}
		})
	}
}

// TestFastTextCache: what a rule's text says is remembered by sid, but
// only for the same text: a sid whose signature or class changed (a new
// ruleset), or two rules sharing a slot, are read again, and one parser
// chooses the sides as a fresh parser does line by line.
func TestFastTextCache(t *testing.T) {
	line := func(sid int, sig, class string) string {
		return fmt.Sprintf("11/08/2025-22:00:01.123456  [**] [1:%d:1] %s [**] [Classification: %s] [Priority: 2] {TCP} 198.51.100.9:4711 -> 192.0.2.10:22", sid, sig, class)
	}
	lines := []string{
		line(2001219, "ET SCAN Potential SSH Scan", "Attempted Information Leak"),
		line(2001219, "ET MALWARE Potential SSH Scan", "Attempted Information Leak"),
		line(2001219, "ET SCAN Potential SSH Scan", "A Network Trojan was detected"),
		line(2001219+256, "ET SCAN Potential SSH Scan Response", "Attempted Information Leak"),
		line(2001219, "ET ATTACK_RESPONSE id check returned root", "Potentially Bad Traffic"),
		line(2001219, "ET SCAN Potential SSH Scan", "Attempted Information Leak"),
	}
	p := NewFast(time.UTC)
	sides := map[string]bool{}
	for _, l := range lines {
		var got, want pipeline.Event
		if err := p.Parse([]byte(l), &got); err != nil {
			t.Fatal(err)
		}
		if err := NewFast(time.UTC).Parse([]byte(l), &want); err != nil {
			t.Fatal(err)
		}
		if got.Addr != want.Addr || got.SideReason != want.SideReason {
			t.Errorf("%s: %v (%s), want %v (%s)", l, got.Addr, got.SideReason, want.Addr, want.SideReason)
		}
		sides[want.SideReason] = true
	}
	if len(sides) < 3 {
		t.Errorf("the lines chose the sides for %d reasons (%v): the test tests too little", len(sides), sides)
	}
}

// TestFastTimeLastSecond: a parser that remembers the last second reads
// every timestamp as time.Date does, bit for bit: seconds repeated and
// not, with and without a fraction, the two-digit year after the four,
// and every second around Paris's changes of offset (the hour that does
// not exist, the hour that happens twice).
func TestFastTimeLastSecond(t *testing.T) {
	loc := paris(t)
	var stamps []string
	for _, start := range []time.Time{
		time.Date(2025, 3, 30, 0, 59, 50, 0, time.UTC),  // 01:59:50 +01 to 03:00 +02
		time.Date(2025, 10, 26, 0, 59, 50, 0, time.UTC), // 02:59:50 +02 to 02:00 +01
	} {
		for s := range 30 {
			wall := start.Add(time.Duration(s) * time.Second).In(loc)
			for _, frac := range []string{"", ".5", ".000001", ".123456"} {
				stamps = append(stamps, wall.Format("01/02/2006-15:04:05")+frac)
			}
		}
	}
	// The wall clock of the gap, which no instant shows, read from a log
	// written in another zone.
	for _, s := range []string{"03/30/2025-02:30:00", "03/30/2025-02:30:00.25", "03/30/2025-02:30:01", "10/26/2025-02:30:00", "10/26/2025-02:30:00.7"} {
		stamps = append(stamps, s, s)
	}
	stamps = append(stamps, "11/08/2025-22:00:01.1", "11/08/25-22:00:01.2", "11/08/25-22:00:01.3", "11/08/2025-22:00:01",
		"11/08/2025-22:00:01.", "11/08/2025-22:00:01x", "02/31/2025-22:00:01", "11/08/2025-22:00:0")
	var c lastSecond
	for _, s := range stamps {
		b := []byte(s + "  [**] rest")
		got, gn, gok := c.time(b, loc)
		want, wn, wok := referenceFastTime(b, loc)
		if got != want || gn != wn || gok != wok {
			t.Errorf("%s: %v %d %v, time.Date: %v %d %v", s, got, gn, gok, want, wn, wok)
		}
	}
}

// referenceFastTime reads a fast.log timestamp with one time.Date of
// every field, nanoseconds included.
func referenceFastTime(b []byte, loc *time.Location) (time.Time, int, bool) {
	_, i, ok := fastSecond(b, loc) // whether it is one, and where its seconds end
	if !ok {
		return time.Time{}, 0, false
	}
	num := func(from, to int) int {
		n, err := strconv.Atoi(string(b[from:to]))
		if err != nil {
			panic(err)
		}
		return n
	}
	year := num(6, i-9)
	if i == 17 {
		year += 2000
	}
	nsec, end := 0, i
	if i < len(b) && b[i] == '.' {
		var n int
		if nsec, n = fraction(b[i+1:]); n == 0 {
			return time.Time{}, 0, false
		}
		end += 1 + n
	}
	return time.Date(year, time.Month(num(0, 2)), num(3, 5), num(i-8, i-6), num(i-5, i-3), num(i-2, i), nsec, loc), end, true
}

// TestFastHeadCache: one parser reads a sid's lines as fresh parsers do,
// event for event, whether its head (message, class, priority) is the
// same bytes as the line before or changed in any part: the priority, the
// class left out, "(null)", markers inside the message, a head that does
// not parse between two that do, a head too long to keep. The texts of an
// event alias its own line, never the cache the next line overwrites.
func TestFastHeadCache(t *testing.T) {
	line := func(head, flow string) string {
		return "11/08/2025-22:00:01.123456  [**] [1:2001219:20] " + head + " {TCP} " + flow
	}
	const ssh = "ET SCAN Potential SSH Scan [**] [Classification: Attempted Information Leak] [Priority: 2]"
	long := "ET " + strings.Repeat("x", maxCachedHead) + " [**] [Priority: 3]"
	lines := []string{
		line(ssh, "198.51.100.9:4711 -> 192.0.2.10:22"),
		line(ssh, "198.51.100.10:4712 -> 192.0.2.10:22"),
		line("ET SCAN Potential SSH Scan [**] [Classification: Attempted Information Leak] [Priority: 1]", "198.51.100.9:4711 -> 192.0.2.10:22"),
		line("ET SCAN Potential SSH Scan [**] [Priority: 1]", "198.51.100.9:4711 -> 192.0.2.10:22"),
		line("(null) [**] [Classification: (null)] [Priority: 3]", "198.51.100.9:4711 -> 192.0.2.10:22"),
		line("ET x [Priority: 1] [**] [Classification: y] [**] [Classification: A Network Trojan was detected] [Priority: 2]", "192.0.2.10:80 -> 198.51.100.9:51000"),
		line("ET x [Classification: y] [Priority: 2]", "198.51.100.9:4711 -> 192.0.2.10:22"),
		line(ssh, "198.51.100.9:4711 -> 192.0.2.10:22"),
		line(long, "198.51.100.9:4711 -> 192.0.2.10:22"),
		line(long, "198.51.100.9:4711 -> 192.0.2.10:22"),
		line(ssh, "198.51.100.11:4713 -> 192.0.2.10:22"),
	}
	p := NewFast(time.UTC)
	events := make([]pipeline.Event, len(lines))
	wants := make([]pipeline.Event, len(lines))
	for i, l := range lines {
		err := p.Parse([]byte(l), &events[i])
		wantErr := NewFast(time.UTC).Parse([]byte(l), &wants[i])
		if err != wantErr {
			t.Fatalf("line %d: error %v, a fresh parser's %v", i, err, wantErr)
		}
		if !reflect.DeepEqual(events[i], wants[i]) {
			t.Fatalf("line %d:\n got %+v\nwant %+v", i, events[i], wants[i])
		}
	}
	for i := range events {
		if events[i].Signature != wants[i].Signature || events[i].Classification != wants[i].Classification {
			t.Errorf("line %d: texts %q, %q changed to %q, %q by the lines after it", i,
				wants[i].Signature, wants[i].Classification, events[i].Signature, events[i].Classification)
		}
	}
}
