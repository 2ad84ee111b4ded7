package suricata

import (
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

// sideWant is what one alert of testdata/sides.* must come to: the address
// banned ("" for nobody), why, and whether it could be forged.
type sideWant struct {
	addr, why string
	spoofable bool
}

// The alerts of testdata/sides.eve.json, line by line, without and with
// the home net 192.168.0.0/16 and 192.0.2.0/24.
var eveSides = []struct {
	name       string
	none, home sideWant
}{
	{"exploit kit landing, Suricata 7", sideWant{"203.0.113.50", SideClientSide, false}, sideWant{"203.0.113.50", SideClientSide, false}},
	{"exploit kit landing, Suricata 6", sideWant{"203.0.113.51", SideClientSide, false}, sideWant{"203.0.113.51", SideClientSide, false}},
	{"Meterpreter from its listener", sideWant{"203.0.113.66", SideClientSide, false}, sideWant{"203.0.113.66", SideClientSide, false}},
	{"executable download", sideWant{"203.0.113.70", SideClientSide, false}, sideWant{"203.0.113.70", SideClientSide, false}},
	{"HTA payload", sideWant{"203.0.113.71", SideClientSide, false}, sideWant{"203.0.113.71", SideClientSide, false}},
	{"trojan check-in to its C2", sideWant{"203.0.113.80", SideClientSide, false}, sideWant{"203.0.113.80", SideClientSide, false}},
	{"ATTACK_RESPONSE", sideWant{"198.51.100.23", SideResponse, false}, sideWant{"198.51.100.23", SideResponse, false}},
	{"target keyword", sideWant{"198.51.100.24", SideAlertSource, false}, sideWant{"198.51.100.24", SideAlertSource, false}},
	{"CURRENT_EVENTS against a web server", sideWant{"198.51.100.25", SideServerSide, false}, sideWant{"198.51.100.25", SideServerSide, false}},
	{"one UDP packet", sideWant{"198.51.100.26", SideToServer, true}, sideWant{"198.51.100.26", SideToServer, true}},
	{"TCP never answered", sideWant{"198.51.100.27", SideToServer, true}, sideWant{"198.51.100.27", SideToServer, true}},
	{"between two home hosts", sideWant{"192.168.0.53", SideToServer, false}, sideWant{"", SideHomeNetBoth, false}},
	{"a home host scanning out", sideWant{"192.168.0.58", SideToServer, false}, sideWant{"198.51.100.28", SideHomeNet, false}},
	{"no offset, no direction", sideWant{"198.51.100.29", SideSource, false}, sideWant{"198.51.100.29", SideSource, false}},
	{"C2 response", sideWant{"203.0.113.81", SideClientSide, false}, sideWant{"203.0.113.81", SideClientSide, false}},
	{"flow state new", sideWant{"198.51.100.30", SideToServer, true}, sideWant{"198.51.100.30", SideToServer, true}},
	{"a home host attacking a web server outside", sideWant{"192.168.0.59", SideServerSide, false}, sideWant{"", SideHomeAttacker, false}},
	{"TCP flags: no ACK after the SYN-ACK", sideWant{"198.51.100.34", SideToServer, true}, sideWant{"198.51.100.34", SideToServer, true}},
}

// The alerts of testdata/sides.fast.log.
var fastSides = []struct {
	name       string
	none, home sideWant
}{
	{"exploit kit landing", sideWant{"203.0.113.51", SideClientSide, false}, sideWant{"203.0.113.51", SideClientSide, false}},
	{"Meterpreter from its listener", sideWant{"203.0.113.66", SideClientSide, false}, sideWant{"203.0.113.66", SideClientSide, false}},
	{"executable download", sideWant{"203.0.113.70", SideClientSide, false}, sideWant{"203.0.113.70", SideClientSide, false}},
	{"trojan check-in to its C2", sideWant{"203.0.113.80", SideClientSide, false}, sideWant{"203.0.113.80", SideClientSide, false}},
	{"ATTACK_RESPONSE", sideWant{"198.51.100.23", SideResponse, false}, sideWant{"198.51.100.23", SideResponse, false}},
	{"one UDP packet", sideWant{"198.51.100.26", SideSource, true}, sideWant{"198.51.100.26", SideSource, true}},
	{"TCP: fast.log cannot tell", sideWant{"198.51.100.27", SideSource, false}, sideWant{"198.51.100.27", SideSource, false}},
	{"between two home hosts", sideWant{"192.168.0.53", SideSource, false}, sideWant{"", SideHomeNetBoth, false}},
	{"a home host scanning out", sideWant{"192.168.0.58", SideSource, false}, sideWant{"198.51.100.28", SideHomeNet, false}},
	{"a server port answering, unknown rule", sideWant{"198.51.100.31", SidePortResponse, false}, sideWant{"198.51.100.31", SidePortResponse, false}},
	{"C2 response", sideWant{"203.0.113.81", SideClientSide, false}, sideWant{"203.0.113.81", SideClientSide, false}},
	{"ICMP", sideWant{"198.51.100.32", SideSource, true}, sideWant{"198.51.100.32", SideSource, true}},
}

func testHome(t testing.TB) HomeNet {
	h, err := ParseHomeNet("192.168.0.0/16,192.0.2.0/24")
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestSides checks the side every alert of the samples bans, and why, as
// the golden files record them: the victim of a client-side attack is
// never banned, and with a home net no home address is.
func TestSides(t *testing.T) {
	eveNone, eveHome := NewEve(paris(t)), NewEve(paris(t))
	eveHome.SetHomeNet(testHome(t))
	fastNone, fastHome := NewFast(paris(t)), NewFast(paris(t))
	fastHome.SetHomeNet(testHome(t))

	evs := checkGolden(t, eveNone, pipeline.FormatEve, "testdata/sides.eve.json", "sides.eve.golden")
	evsHome := checkGolden(t, eveHome, pipeline.FormatEve, "testdata/sides.eve.json", "sides-home.eve.golden")
	fasts := checkGolden(t, fastNone, pipeline.FormatFastLog, "testdata/sides.fast.log", "sides.fast.golden")
	fastsHome := checkGolden(t, fastHome, pipeline.FormatFastLog, "testdata/sides.fast.log", "sides-home.fast.golden")
	if len(evs) != len(eveSides) || len(evsHome) != len(eveSides) || len(fasts) != len(fastSides) || len(fastsHome) != len(fastSides) {
		t.Fatalf("%d/%d eve and %d/%d fast.log alerts, want %d and %d", len(evs), len(evsHome), len(fasts), len(fastsHome), len(eveSides), len(fastSides))
	}
	check := func(file, name string, ev *pipeline.Event, w sideWant) {
		t.Helper()
		got := sideWant{why: ev.SideReason, spoofable: ev.Spoofable}
		if ev.Addr.IsValid() {
			got.addr = ev.Addr.String()
		}
		if got != w {
			t.Errorf("%s: %s: got %+v, want %+v", file, name, got, w)
		}
	}
	for i, c := range eveSides {
		check("eve", c.name, &evs[i], c.none)
		check("eve with home net", c.name, &evsHome[i], c.home)
	}
	for i, c := range fastSides {
		check("fast.log", c.name, &fasts[i], c.none)
		check("fast.log with home net", c.name, &fastsHome[i], c.home)
	}
}

// TestEveTimeWithoutOffset: an eve timestamp with no UTC offset is read in
// the parser's zone (--tz), as fast.log's are, not refused.
func TestEveTimeWithoutOffset(t *testing.T) {
	line := eveWith(`22:00:01.123456+0100"`, `22:00:01.123456"`)
	var ev pipeline.Event
	if err := NewEve(paris(t)).Parse([]byte(line), &ev); err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2025, 11, 8, 21, 0, 1, 123456000, time.UTC); !ev.Time.Equal(want) {
		t.Errorf("time %v, want %v", ev.Time, want)
	}
	ev = pipeline.Event{}
	if err := NewEve(time.UTC).Parse([]byte(eveWith(`22:00:01.123456+0100"`, `22:00:01"`)), &ev); err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2025, 11, 8, 22, 0, 1, 0, time.UTC); !ev.Time.Equal(want) {
		t.Errorf("time %v, want %v", ev.Time, want)
	}
}

// TestChoose covers the order of the evidence where the samples do not:
// each case changes one thing of an inbound web attack.
func TestChoose(t *testing.T) {
	out, in := netip.MustParseAddr("198.51.100.9"), netip.MustParseAddr("192.0.2.10")
	base := alertSides{proto: 6, src: out, sport: 51000, dst: in, dport: 80,
		signature: "ET WEB_SERVER Possible SQL Injection", class: "Web Application Attack"}
	home := testHome(t)
	cases := []struct {
		name string
		mod  func(*alertSides)
		home *HomeNet
		want netip.Addr
		why  string
	}{
		{"plain", func(*alertSides) {}, nil, out, SideSource},
		{"alert.source wins over the class", func(s *alertSides) { s.source, s.class = in, "A Network Trojan was detected" }, nil, in, SideAlertSource},
		{"alert.target alone names the victim", func(s *alertSides) { s.target = out }, nil, in, SideAlertTarget},
		{"home net: alert.source names the home side: nobody", func(s *alertSides) { s.source = in }, &home, netip.Addr{}, SideHomeAttacker},
		{"home net: a home server serving malware: nobody", func(s *alertSides) {
			s.src, s.dst, s.sport, s.dport, s.direction, s.class = in, out, 80, 51000, "to_client", "A Network Trojan was detected"
		}, &home, netip.Addr{}, SideHomeAttacker},
		{"home net: a home client, no word: the server outside", func(s *alertSides) {
			s.src, s.dst, s.direction = in, out, "to_server"
		}, &home, out, SideHomeNet},
		{"home net agrees with the evidence", func(*alertSides) {}, &home, out, SideSource},
		{"flow.src_ip names the client", func(s *alertSides) { s.client = out }, nil, out, SideToServer},
		{"flow.src_ip: the packet came from the server", func(s *alertSides) { s.client = in }, nil, out, SideToClient},
		{"to_client, no class: the server", func(s *alertSides) { s.direction = "to_client" }, nil, out, SideToClient},
		{"to_client ATTACK_RESPONSE: the client", func(s *alertSides) {
			s.direction, s.signature = "to_client", "ET ATTACK_RESPONSE Output of id command from HTTP server"
		}, nil, in, SideResponse},
		{"privilege gain class answers: the client", func(s *alertSides) {
			s.direction, s.class = "to_client", "Successful Administrator Privilege Gain"
		}, nil, in, SideResponse},
		{"attack_target Client_Endpoint", func(s *alertSides) { s.attackTarget = targetClient }, nil, in, SideClientSide},
		{"attack_target Web_Server outweighs the class", func(s *alertSides) {
			s.attackTarget, s.class = targetServer, "A Network Trojan was detected"
		}, nil, out, SideServerSide},
		{"ETPRO TROJAN", func(s *alertSides) { s.signature = "ETPRO TROJAN Something Beacon" }, nil, in, SideClientSide},
		{"ET INFO without a download stays with the client", func(s *alertSides) { s.signature = "ET INFO Suspicious Domain" }, nil, out, SideSource},
		{"forged service source port, no word", func(s *alertSides) { s.sport, s.dport = 53, 51000 }, nil, in, SidePortResponse},
		{"forged service source port, to_server", func(s *alertSides) { s.sport, s.dport, s.direction = 53, 51000, "to_server" }, nil, out, SideToServer},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := base
			c.mod(&s)
			got, why := s.choose(c.home)
			if got != c.want || why != c.why {
				t.Errorf("got %v (%s), want %v (%s)", got, why, c.want, c.why)
			}
		})
	}
}

func TestAttackTarget(t *testing.T) {
	cases := []struct {
		in   []string
		want attackTarget
	}{
		{nil, targetUnknown},
		{[]string{"Client_Endpoint"}, targetClient},
		{[]string{"Mobile_Client"}, targetClient},
		{[]string{"Web_Server"}, targetServer},
		{[]string{"Web_Server", "Client_Endpoint"}, targetBoth},
		{[]string{"Client_and_Server"}, targetBoth},
		{[]string{"Something_New"}, targetUnknown},
	}
	for _, c := range cases {
		var got attackTarget
		for _, v := range c.in {
			got = got.add(v)
		}
		if got != c.want {
			t.Errorf("%v: got %d, want %d", c.in, got, c.want)
		}
	}
}

func TestHomeNet(t *testing.T) {
	cases := []struct {
		text     string
		in, out  []string
		errMatch string
	}{
		{text: "192.168.0.0/16", in: []string{"192.168.3.4"}, out: []string{"10.0.0.1", "2001:db8::1"}},
		{text: "10.0.0.0/8, 2001:db8::/32", in: []string{"10.1.2.3", "2001:db8::5", "::ffff:10.0.0.1"}, out: []string{"11.0.0.1"}},
		{text: "[192.168.0.0/16,!192.168.99.0/24]", in: []string{"192.168.1.1"}, out: []string{"192.168.99.7"}},
		{text: "[10.0.0.0/8,[172.16.0.0/12,!172.16.5.0/24]]", in: []string{"172.16.4.1", "10.9.9.9"}, out: []string{"172.16.5.1"}},
		{text: "[!192.0.2.0/24]", errMatch: "every address but exceptions"},
		{text: "[192.0.2.10-192.0.2.20]", in: []string{"192.0.2.15"}, out: []string{"192.0.2.21"}},
		{text: "192.0.2.1", in: []string{"192.0.2.1"}, out: []string{"192.0.2.2"}},
		{text: "any", errMatch: "every address"},
		{text: "[$HOME_NET]", errMatch: "no such address group"},
		{text: "[10.0.0.0/8", errMatch: "unbalanced"},
		{text: "10.0.0.0/33", errMatch: "not an address or CIDR"},
		{text: "[10.0.0.0/8,]", errMatch: "empty address"},
	}
	for _, c := range cases {
		h, err := ParseHomeNet(c.text)
		if c.errMatch != "" {
			if err == nil || !strings.Contains(err.Error(), c.errMatch) {
				t.Errorf("%q: error %v, want %q", c.text, err, c.errMatch)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.text, err)
			continue
		}
		for _, a := range c.in {
			if !h.Contains(netip.MustParseAddr(a)) {
				t.Errorf("%q: %s not in", c.text, a)
			}
		}
		for _, a := range c.out {
			if h.Contains(netip.MustParseAddr(a)) {
				t.Errorf("%q: %s in", c.text, a)
			}
		}
	}
	var zero HomeNet
	if zero.Contains(netip.MustParseAddr("192.0.2.1")) {
		t.Error("the zero HomeNet holds an address")
	}
}

// TestHomeNetFromYAML reads HOME_NET from a suricata.yaml written as
// Suricata ships it: the %YAML directive, quoted groups, named groups and a
// negation inside one.
func TestHomeNetFromYAML(t *testing.T) {
	h, err := LoadHomeNet(filepath.Join("testdata", "suricata.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for a, want := range map[string]bool{
		"192.168.0.53": true, "192.0.2.10": true, "192.168.99.1": false, "198.51.100.1": false, "10.0.0.1": false,
	} {
		if got := h.Contains(netip.MustParseAddr(a)); got != want {
			t.Errorf("%s: in home net %v, want %v", a, got, want)
		}
	}
	if _, err := LoadHomeNet("/dev/zero"); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("/dev/zero: error %v", err)
	}
	bad := []struct{ yaml, errMatch string }{
		{"vars:\n  address-groups:\n    EXTERNAL_NET: any\n", "no vars: address-groups: HOME_NET"},
		{"vars:\n  address-groups:\n    HOME_NET: \"[$A]\"\n    A: \"[$B]\"\n    B: \"[$A]\"\n", "t.yaml:3:15: HOME_NET: $A: $B: $A:"},
		{"vars:\n  address-groups:\n    HOME_NET: any\n", "every address"},
		{"vars:\n  address-groups:\n    HOME_NET: [10.0.0.0/8]\n", "t.yaml:3:15: HOME_NET: not a string"},
		{"vars: [\n", "t.yaml: yaml:"},
	}
	for _, c := range bad {
		_, err := HomeNetFromYAML("t.yaml", []byte(c.yaml))
		if err == nil || !strings.Contains(err.Error(), c.errMatch) {
			t.Errorf("%q: error %v, want %q", c.yaml, err, c.errMatch)
		}
	}
}

func TestSpoofable(t *testing.T) {
	f := func(state string, ts, tc, toServer, toClient int) flowSeen {
		return flowSeen{state: state, flagsTS: ts, flagsTC: tc, toServer: toServer, toClient: toClient}
	}
	cases := []struct {
		name  string
		proto uint64
		flow  flowSeen
		want  bool
	}{
		{"UDP", 17, unknownFlow, true},
		{"ICMP", 1, unknownFlow, true},
		{"eve without proto", 256, unknownFlow, false},
		{"TCP, nothing known (fast.log)", 6, unknownFlow, false},
		{"TCP, state new", 6, f("new", -1, -1, 5, 5), true},
		{"TCP, state established", 6, f("established", -1, -1, 1, 0), false},
		{"TCP, flags complete", 6, f("", 0x1b, 0x1b, -1, -1), false},
		{"TCP, flags: SYN only", 6, f("", 0x02, 0x00, -1, -1), true},
		{"TCP, flags: no ACK from the client", 6, f("", 0x0a, 0x12, -1, -1), true},
		{"TCP, server never answered", 6, f("", -1, -1, 1, 0), true},
		{"TCP, one packet each way", 6, f("", -1, -1, 1, 1), true},
		{"TCP, a real conversation", 6, f("", -1, -1, 4, 3), false},
	}
	for _, c := range cases {
		if got := spoofable(c.proto, c.flow); got != c.want {
			t.Errorf("%s: spoofable %v, want %v", c.name, got, c.want)
		}
	}
}
