package suricata

import (
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

const eveSSH = `{"timestamp":"2025-11-08T22:00:01.123456+0100","flow_id":1234567890123456,"in_iface":"eth0","event_type":"alert","src_ip":"198.51.100.9","src_port":4711,"dest_ip":"192.0.2.10","dest_port":22,"proto":"TCP","pkt_src":"wire/pcap","alert":{"action":"allowed","gid":1,"signature_id":2001219,"rev":20,"signature":"ET SCAN Potential SSH Scan","category":"Attempted Information Leak","severity":2,"metadata":{"created_at":["2010_07_30"]}},"app_proto":"failed","direction":"to_server","flow":{"pkts_toserver":1,"pkts_toclient":0,"bytes_toserver":74,"bytes_toclient":0,"start":"2025-11-08T22:00:01.123456+0100","src_ip":"203.0.113.1","dest_ip":"203.0.113.2","src_port":1,"dest_port":2}}`

// eveWith returns eveSSH with each old replaced by new, once.
func eveWith(pairs ...string) string {
	s := eveSSH
	for i := 0; i < len(pairs); i += 2 {
		if !strings.Contains(s, pairs[i]) {
			panic("eveWith: no " + pairs[i])
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	return s
}

func TestEve(t *testing.T) {
	ssh := want{
		time: "2025-11-08T22:00:01.123456+01:00", action: "allowed", gid: 1, sid: 2001219, rev: 20,
		signature: "ET SCAN Potential SSH Scan", classification: "Attempted Information Leak",
		priority: 2, proto: "TCP", src: "198.51.100.9:4711", dst: "192.0.2.10:22", addr: "198.51.100.9",
	}
	with := func(f func(*want)) want {
		w := ssh
		f(&w)
		return w
	}
	const flow = `{"timestamp":"2025-11-08T22:00:01.123456+0100","flow_id":1,"event_type":"flow","src_ip":"198.51.100.9","src_port":4711,"dest_ip":"192.0.2.10","dest_port":22,"proto":"TCP","flow":{"pkts_toserver":1}}`
	cases := []struct {
		name, line string
		err        string
		want       want
	}{
		{name: "every field", line: eveSSH, want: ssh},
		{name: "CRLF and blanks", line: " \t" + eveSSH + " \r", want: ssh},
		{name: "blocked", line: eveWith(`"allowed"`, `"blocked"`), want: with(func(w *want) { w.action = "blocked" })},
		{
			name: "source and target",
			line: eveWith(`"severity":2,`, `"severity":2,"source":{"ip":"203.0.113.7","port":4711},"target":{"ip":"192.0.2.10","port":22},`),
			want: with(func(w *want) { w.addr = "203.0.113.7" }),
		},
		{
			name: "target without source ip",
			line: eveWith(`"severity":2,`, `"severity":2,"source":{"port":4711},"target":{"ip":"192.0.2.10"},`),
			want: ssh,
		},
		{
			name: "escapes",
			line: eveWith(`"ET SCAN Potential SSH Scan"`, `"ET \"SCAN\" caf\u00e9 \/x\\y \ud83d\ude00 \t"`,
				`"Attempted Information Leak"`, `"A\/B"`),
			want: with(func(w *want) { w.signature, w.classification = "ET \"SCAN\" café /x\\y 😀 \t", "A/B" }),
		},
		{
			name: "lone surrogate",
			line: eveWith(`"ET SCAN Potential SSH Scan"`, `"a\ud83db"`),
			want: with(func(w *want) { w.signature = "a\uFFFDb" }),
		},
		{name: "offset with colon", line: eveWith(`+0100"`, `+01:00"`), want: ssh},
		{
			name: "offset Z",
			line: eveWith(`22:00:01.123456+0100"`, `21:00:01.123456Z"`),
			want: with(func(w *want) { w.time = "2025-11-08T21:00:01.123456Z" }),
		},
		{
			name: "negative offset",
			line: eveWith(`22:00:01.123456+0100"`, `16:00:01.123456-0500"`),
			want: with(func(w *want) { w.time = "2025-11-08T16:00:01.123456-05:00" }),
		},
		{
			name: "no fraction",
			line: eveWith(`22:00:01.123456+0100"`, `22:00:01+0100"`),
			want: with(func(w *want) { w.time = "2025-11-08T22:00:01+01:00" }),
		},
		{
			name: "IPv6 expanded",
			line: eveWith(`"198.51.100.9"`, `"2001:0db8:0000:0000:0000:0000:0000:0009"`, `"192.0.2.10"`, `"::ffff:192.0.2.10"`),
			want: with(func(w *want) { w.src, w.dst, w.addr = "[2001:db8::9]:4711", "192.0.2.10:22", "2001:db8::9" }),
		},
		{
			name: "ICMP has no ports",
			line: eveWith(`"src_port":4711,`, ``, `"dest_port":22,`, `"icmp_type":8,"icmp_code":0,`, `"TCP"`, `"ICMP"`),
			want: with(func(w *want) { w.src, w.dst, w.proto = "198.51.100.9:0", "192.0.2.10:0", "ICMP" }),
		},
		{
			name: "protocol number",
			line: eveWith(`"TCP"`, `"47"`),
			want: with(func(w *want) { w.proto = "47" }),
		},
		{
			name: "members in another order, white space",
			line: `{ "alert" : { "severity" : 2 , "category" : "Attempted Information Leak", "signature" : "ET SCAN Potential SSH Scan", "rev" : 20, "signature_id" : 2001219, "gid" : 1, "action" : "allowed" }, "proto" : "TCP", "dest_port" : 22, "dest_ip" : "192.0.2.10", "src_port" : 4711, "src_ip" : "198.51.100.9", "timestamp" : "2025-11-08T22:00:01.123456+0100", "event_type" : "alert" }`,
			want: ssh,
		},
		{
			name: "nested event_type before the real one",
			line: `{"timestamp":"2025-11-08T22:00:01.123456+0100","x":{"event_type":"flow"},"y":["event_type",{"event_type":"dns"}],"z":"\"event_type\":\"flow\"","event_type":"alert","src_ip":"198.51.100.9","src_port":4711,"dest_ip":"192.0.2.10","dest_port":22,"proto":"TCP","alert":{"action":"allowed","gid":1,"signature_id":2001219,"rev":20,"signature":"ET SCAN Potential SSH Scan","category":"Attempted Information Leak","severity":2}}`,
			want: ssh,
		},
		{name: "flow", line: flow, err: "skip"},
		{name: "event_type at the end", line: `{"timestamp":"2025-11-08T22:00:01.123456+0100","stats":{"uptime":1,"detect":{"alert":3}},"event_type":"stats"}`, err: "skip"},
		{name: "white space after the colon", line: `{"timestamp":"2025-11-08T22:00:01.123456+0100","event_type": 	"dns","dns":{}}`, err: "skip"},
		{name: "event_type in a string before the key", line: `{"a":"\"event_type\":\"alert\"","event_type":"http"}`, err: "skip"},
		{name: "nested alert event_type", line: `{"x":{"event_type":"alert"},"event_type":"tls"}`, err: "skip"},
		{name: "event_type as an earlier value", line: `{"timestamp":"2025-11-08T22:00:01.123456+0100","in_iface":"event_type","event_type":"flow"}`, err: "skip"},
		{name: "forged alert in an earlier escaped value", line: `{"timestamp":"2025-11-08T22:00:01.123456+0100","flow_id":1,"in_iface":"x\",\"event_type\":\"alert","event_type":"dns"}`, err: "skip"},
		{name: "forged flow in an earlier escaped value", line: eveWith(`"in_iface":"eth0"`, `"in_iface":"eth0\",\"event_type\":\"flow"`), want: ssh},
		{name: "forged alert in an earlier name", line: `{"timestamp":"2025-11-08T22:00:01.123456+0100","event_type\":\"alert":1,"event_type":"tls"}`, err: "skip"},
		{name: "forged alert after a nested value", line: `{"timestamp":"2025-11-08T22:00:01.123456+0100","vlan":[1,"\"event_type\":\"alert"],"event_type":"http"}`, err: "skip"},
		{name: "the first of two event_type members", line: `{"timestamp":"2025-11-08T22:00:01.123456+0100","event_type":"dns","event_type":"alert"}`, err: "skip"},
		{name: "alert without addresses", line: `{"timestamp":"2025-11-08T22:00:01.123456+0100","event_type":"alert","alert":{"action":"allowed","gid":1,"signature_id":2200094,"rev":2,"signature":"SURICATA Ethernet packet too small","severity":3}}`, err: "skip"},
		{name: "empty", line: "", err: "not json"},
		{name: "garbage", line: "asdjpqawjdp/()/&WS()f7d56dqa87w9f69QD", err: "not json"},
		{name: "truncated", line: eveSSH[:len(eveSSH)-40], err: "not json"},
		{name: "array", line: `[{"event_type":"alert"}]`, err: "not json"},
		{name: "syslog", line: "Nov  8 22:00:01 host suricata[1]: {\"event_type\":\"alert\"}", err: "not json"},
		{name: "garbled alert", line: eveWith(`"rev":20,`, `"rev":20,,`), err: "not json"},
		{name: "trailing bytes after an alert", line: eveSSH + `{}`, err: "not json"},
		{name: "no event_type", line: `{"timestamp":"2025-11-08T22:00:01.123456+0100","flow_id":1}`, err: "no event_type"},
		{name: "only a nested event_type", line: `{"x":{"event_type":"alert"}}`, err: "no event_type"},
		{name: "event_type not a string", line: `{"event_type":1}`, err: "no event_type"},
		{name: "no alert object", line: eveWith(`"alert":{`, `"alert_":{`), err: "bad alert"},
		{name: "alert not an object", line: `{"timestamp":"2025-11-08T22:00:01.123456+0100","event_type":"alert","src_ip":"1.2.3.4","dest_ip":"5.6.7.8","alert":"x"}`, err: "bad alert"},
		{name: "no signature_id", line: eveWith(`"signature_id":2001219,`, ``), err: "bad alert"},
		{name: "signature_id a string", line: eveWith(`2001219`, `"2001219"`), err: "bad alert"},
		{name: "signature_id a fraction", line: eveWith(`2001219`, `2001219.5`), err: "bad alert"},
		{name: "signature a number", line: eveWith(`"ET SCAN Potential SSH Scan"`, `12`), err: "bad alert"},
		{name: "empty protocol", line: eveWith(`"TCP"`, `""`), err: "bad alert"},
		{name: "bad escape", line: eveWith(`"ET SCAN Potential SSH Scan"`, `"a\x"`), err: "no signature"},
		{name: "short unicode escape", line: eveWith(`"ET SCAN Potential SSH Scan"`, `"a\u00"`), err: "no signature"},
		{name: "no timestamp", line: eveWith(`"timestamp":"2025-11-08T22:00:01.123456+0100",`, ``), err: "bad timestamp"},
		{name: "timestamp garbage zone", line: eveWith(`+0100"`, `+0100asloefbnjhowebfg"`), err: "bad timestamp"},
		{name: "impossible date", line: eveWith(`2025-11-08T`, `2025-02-29T`), err: "bad timestamp"},
		{name: "bad source address", line: eveWith(`"198.51.100.9"`, `"198.51.100"`), err: "bad address"},
		{name: "no destination", line: eveWith(`"dest_ip":"192.0.2.10",`, ``), err: "bad address"},
		{name: "bad alert source", line: eveWith(`"severity":2,`, `"severity":2,"source":{"ip":"x"},`), err: "bad address"},
		{name: "port too big", line: eveWith(`4711`, `65536`), err: "bad address"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var ev pipeline.Event
			err := NewEve(nil).Parse([]byte(c.line), &ev)
			if wantErr(t, err, c.err) {
				checkEvent(t, pipeline.FormatEve, []byte(c.line), &ev)
				c.want.check(t, &ev)
			}
		})
	}
}

// The zone cache must follow a change of offset (a DST switch in a file
// with local offsets).
func TestEveZoneChange(t *testing.T) {
	p := NewEve(nil)
	for _, c := range []struct{ off, want string }{
		{"+0100", "+01:00"}, {"+0200", "+02:00"}, {"+0000", "Z"}, {"+0100", "+01:00"},
	} {
		var ev pipeline.Event
		if err := p.Parse([]byte(eveWith("+0100", c.off)), &ev); err != nil {
			t.Fatal(err)
		}
		if got := ev.Time.Format("Z07:00"); got != c.want {
			t.Errorf("offset %s: zone %s", c.off, got)
		}
	}
}

func TestEveAllocs(t *testing.T) {
	p := NewEve(nil)
	var ev pipeline.Event
	for _, c := range []struct {
		name, line string
		max        float64
	}{
		{"alert", eveSSH, 0},
		{"alert with escapes", eveWith(`"ET SCAN Potential SSH Scan"`, `"ET SCAN GNU\/Linux"`, `"Attempted Information Leak"`, `"A\/B"`), 2},
		{"flow", `{"timestamp":"2025-11-08T22:00:01.123456+0100","flow_id":1,"event_type":"flow","src_ip":"198.51.100.9"}`, 0},
		{"bad", `{"x":1}`, 0},
	} {
		line := []byte(c.line)
		p.Parse(line, &ev) // warm the zone cache
		n := testing.AllocsPerRun(100, func() {
			ev = pipeline.Event{}
			p.Parse(line, &ev)
		})
		if n > c.max {
			t.Errorf("%s: %v allocations, want at most %v", c.name, n, c.max)
		}
	}
}

// A record made to defeat the byte search (thousands of nested event_type
// members, thousands of escaped quotes) still costs one pass: a quadratic
// path here would let one crafted line stall the source.
func TestEveLinear(t *testing.T) {
	var sb strings.Builder
	sb.WriteString(`{"timestamp":"2025-11-08T22:00:01.123456+0100",`)
	for range 50000 {
		sb.WriteString(`"x":{"event_type":"alert"},"y":"\"event_type\":\"alert\"",`)
	}
	sb.WriteString(`"event_type":"flow"}`)
	line := []byte(sb.String())
	start := time.Now()
	var ev pipeline.Event
	if err := NewEve(nil).Parse(line, &ev); err != pipeline.ErrSkip {
		t.Fatalf("got %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("%d bytes took %v", len(line), d)
	}
}

// TestStringEnd: the end of a string found eight bytes a step is where a
// byte-by-byte reading of JSON's escapes puts it, wherever the quotes
// and backslashes fall.
// leadingHead decides only what eventType, right for every shape,
// decides the same way, and decides the shapes Suricata writes.
func TestLeadingEventType(t *testing.T) {
	for _, c := range []struct {
		line    string
		decided bool
	}{
		{eveSSH, true},
		{`{"timestamp":"2025-11-08T22:00:01.123456+0100","event_type":"stats","stats":{}}`, true},
		{`{"timestamp":"2025-11-08T22:00:01.123456+0100","flow_id":1,"pcap_cnt":7,"event_type":"alert"}`, true},
		{`{"timestamp":"2025-11-08T22:00:01.123456+0100","flow_id":1,"in_iface":"event_type","event_type":"flow"}`, true},
		{`{"timestamp":"x{[","in_iface":"y]}","event_type":"flow"}`, true},
		{`{"timestamp":"","event_type":"dns","event_type":"alert"}`, true},
		{`{"timestamp":"","event_type":""}`, true},
		{`{"timestamp":"","flow_id":1,"in_iface":"a","pcap_cnt":2,"event_type":"dns"}`, true},
		// Left to eventType: escapes, nesting, other members, orders and
		// numbers, white space, a value that is not a string, too many
		// members, truncation.
		{`{"timestamp":"\"event_type\":\"alert\"","event_type":"http"}`, false},
		{`{"timestamp":"","in_iface":"a\",\"event_type\":\"alert","event_type":"http"}`, false},
		{`{"timestamp":"","event_type":"al\u0065rt"}`, false},
		{`{"timestamp":"","x":{"event_type":"alert"},"event_type":"tls"}`, false},
		{`{"timestamp":"","vlan":["event_type"],"event_type":"tls"}`, false},
		{`{"timestamp":"","flow_id":-1,"event_type":"tls"}`, false},
		{`{"timestamp":"","flow_id":1.5,"event_type":"tls"}`, false},
		{`{"timestamp":"","flow_id":"1","event_type":"tls"}`, false},
		{`{"timestamp":"","flow_id":,"event_type":"tls"}`, false},
		{`{"event_type":"flow","timestamp":""}`, false},
		{`{ "timestamp":"","event_type":"tls"}`, false},
		{`{"timestamp":"", "event_type":"tls"}`, false},
		{`{"timestamp":"","event_type" :"tls"}`, false},
		{`{"timestamp":"","event_type": "tls"}`, false},
		{`{"timestamp":"","event_type":1}`, false},
		{`{"timestamp":"","flow_id":1,"flow_id":2,"flow_id":3,"flow_id":4,"event_type":"tls"}`, false},
		{`{"timestamp":"","flow_id":1,"flow_id":2,"flow_id":3,"event_type":"tls"}`, true},
		{`{"timestamp":"","event_type":"tls`, false},
		{`{"timestamp":"","flow_id":1`, false},
		{`{"timestamp":"2025`, false},
	} {
		b := []byte(c.line)
		h, decided := leadingHead(b)
		got := h.eventType
		if decided != c.decided {
			t.Errorf("%s: decided %v, want %v", c.line, decided, c.decided)
		}
		if !decided {
			continue
		}
		want, found, ok := eventType(b)
		if !found || !ok || string(got) != string(want) {
			t.Errorf("%s: fast path %q, eventType %q (found %v, ok %v)", c.line, got, want, found, ok)
		}
	}
}

func TestStringEnd(t *testing.T) {
	naive := func(b []byte, i int) (int, bool) {
		for ; i < len(b); i++ {
			switch b[i] {
			case '\\':
				i++
			case '"':
				return i + 1, true
			}
		}
		return 0, false
	}
	rng := rand.New(rand.NewPCG(3, 4))
	const alphabet = `ab"\\\\\\\\ .:x`
	for n := 0; n < 50000; n++ {
		b := make([]byte, rng.IntN(40))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		for start := 0; start <= len(b); start++ {
			if start > 0 && b[start-1] == '\\' {
				continue // not where a string's content starts
			}
			got, ok := stringEnd(b, start)
			want, wok := naive(b, start)
			if got != want || ok != wok {
				t.Fatalf("stringEnd(%q, %d) = %d, %v; want %d, %v", b, start, got, ok, want, wok)
			}
		}
	}
}

// TestEveTextCache: what a rule's text says is remembered by sid, as for
// fast.log, but only for the same signature and category: one parser
// reads every line as a fresh parser does.
func TestEveTextCache(t *testing.T) {
	const sig, class = `"signature":"ET SCAN Potential SSH Scan"`, `"category":"Attempted Information Leak"`
	lines := []string{
		eveSSH,
		eveWith(sig, `"signature":"ET MALWARE Potential SSH Scan"`),
		eveWith(class, `"category":"A Network Trojan was detected"`),
		eveWith(sig, `"signature":"ET ATTACK_RESPONSE id check returned root"`),
		eveWith(`"signature_id":2001219`, `"signature_id":2001475`, sig, `"signature":"ET ATTACK_RESPONSE id check returned root"`),
		eveWith(sig, `"signature":"ET SCAN \u0050otential SSH Scan Response"`),
		eveSSH,
	}
	p := NewEve(nil)
	sides := map[string]bool{}
	for i, l := range lines {
		var got, want pipeline.Event
		if err := p.Parse([]byte(l), &got); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		if err := NewEve(nil).Parse([]byte(l), &want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("line %d:\n got %+v\nwant %+v", i, got, want)
		}
		sides[want.SideReason] = true
	}
	if len(sides) < 3 {
		t.Errorf("the lines chose the sides for %d reasons (%v): the test tests too little", len(sides), sides)
	}
}

// TestEveTimeRecall: a parser that remembers the last second reads each
// timestamp of a run as a parser new to it does, whichever second,
// fraction and offset came before.
func TestEveTimeRecall(t *testing.T) {
	loc := time.FixedZone("EST", -5*3600)
	stamps := []string{
		"2025-11-08T22:00:01.123456+0100", "2025-11-08T22:00:01.9+0100", "2025-11-08T22:00:01+0100",
		"2025-11-08T22:00:01.5+01:00", "2025-11-08T22:00:01.5Z", "2025-11-08T22:00:01.5",
		"2025-11-08T22:00:01.5-0130", "2025-11-08T22:00:01.5+0100", "2025-11-08T22:00:02.000001+0100",
		"2025-11-08T22:00:02.000001+2400", "2025-11-08T22:00:02.+0100", "2025-11-08T22:00:02.1+0100x",
		"2025-02-30T22:00:02.1+0100", "2025-11-08T22:00:02.1+0100", "2025-11-08T22:00:02.1",
	}
	recall := NewEve(loc)
	for _, s := range stamps {
		got, gok := recall.eveTime([]byte(s))
		want, wok := NewEve(loc).eveTime([]byte(s))
		if gok != wok || !got.Equal(want) || got.String() != want.String() {
			t.Errorf("%s: recalled %v %v, new parser %v %v", s, got, gok, want, wok)
		}
	}
}
