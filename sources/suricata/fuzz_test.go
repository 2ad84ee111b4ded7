package suricata

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/internal/testcorpus"
	"github.com/stockade-ids/stockade/pipeline"
)

// seedLines adds every line of the sample and of the corpus files (when the
// corpus is there: a fuzz target must not skip for want of it).
func seedLines(f *testing.F, sample string, corpus []string) {
	paths := []string{sample}
	if root := testcorpus.Root(); root != "" {
		for _, rel := range corpus {
			paths = append(paths, filepath.Join(root, filepath.FromSlash(rel)))
		}
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		for line := range bytes.SplitSeq(b, []byte("\n")) {
			f.Add(line)
		}
	}
}

var reasons = map[string]bool{}

func init() {
	for _, e := range []*pipeline.BadLine{
		errFastTime, errFastSig, errFastPriority, errFastProto, errFastAddr,
		errEveNotJSON, errEveNoType, errEveTime, errEveAlert, errEveAddr, errEveSignature,
	} {
		reasons[e.Reason] = true
	}
}

// checkSkipUntouched fails unless a line the parser skipped left the
// event as it was (clear): readers do not clear it again after a skip.
func checkSkipUntouched(t *testing.T, err error, ev *pipeline.Event) {
	t.Helper()
	if errors.Is(err, pipeline.ErrSkip) && !reflect.DeepEqual(*ev, pipeline.Event{}) {
		t.Fatalf("a skipped line wrote the event: %+v", *ev)
	}
}

// checkErr fails unless err is nil, ErrSkip or one of the declared bad
// lines, and returns the bad-line reason if any.
func checkErr(t *testing.T, err error) string {
	t.Helper()
	var bad *pipeline.BadLine
	switch {
	case err == nil, errors.Is(err, pipeline.ErrSkip):
		return ""
	case errors.As(err, &bad) && reasons[bad.Reason]:
		return bad.Reason
	}
	t.Fatalf("undeclared error %#v", err)
	return ""
}

func FuzzFast(f *testing.F) {
	seedLines(f, "testdata/fast.log", []string{
		"OISF__suricata-verify/tests/http2-files/expected/fast.log",
		"OISF__suricata-verify/tests/lua/lua-fastlog/expected/fast.log",
	})
	for _, s := range []string{
		"11/08/2025-22:00:01.123456  [**] [1:2200000:1] x [**] [Priority: 3] {IPv6-ICMP} 2001:db8::9 -> [2001:db8::1]:80",
		"11/08/25-22:00:01.1  [wDrop] [**] [1:2:3] (null) [**] [Classification: (null)] [Priority: 3] {PROTO:003} 1.2.3.4 -> 5.6.7.8",
		"11/08/2025-22:00:01.123456  [**] [1:2200003:2] x [**] [Priority: 3] [**] [Raw pkt: 00 ]",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		in := bytes.Clone(line)
		var ev pipeline.Event
		p := NewFast(time.UTC)
		err := p.Parse(line, &ev)
		if !bytes.Equal(in, line) {
			t.Fatal("Parse modified its input")
		}
		// Read again, the parser's caches (the last second, the head of
		// the sid) now hold this line's: the same answer.
		var cached pipeline.Event
		if err2 := p.Parse(line, &cached); err2 != err || !reflect.DeepEqual(cached, ev) {
			t.Fatalf("read again: %v, %+v; the first time %v, %+v", err2, cached, err, ev)
		}
		checkSkipUntouched(t, err, &ev)
		if checkErr(t, err) != "" || err != nil {
			return
		}
		checkEvent(t, pipeline.FormatFastLog, line, &ev)
		if SniffFast(line) != true {
			t.Errorf("parsed but not sniffed as fast.log")
		}

		// Written back out the way Suricata writes it, the event reads the
		// same: the parser takes apart what the format puts together.
		out := renderFast(&ev)
		var again pipeline.Event
		if err := NewFast(time.UTC).Parse(out, &again); err != nil {
			t.Fatalf("rendered line %q: %v", out, err)
		}
		a, b := toRow(0, &ev, nil), toRow(0, &again, nil)
		if a != b {
			t.Fatalf("round trip through %q\n got %+v\nwant %+v", out, b, a)
		}
	})
}

func renderFast(ev *pipeline.Event) []byte {
	var b bytes.Buffer
	b.WriteString(ev.Time.Format("01/02/2006-15:04:05.000000000"))
	b.WriteString("  ")
	switch ev.Action {
	case "blocked":
		b.WriteString("[Drop] ")
	case "allowed":
		b.WriteString("[wDrop] ")
	}
	fmt.Fprintf(&b, "[**] [%d:%d:%d] %s [**] ", ev.GID, ev.SID, ev.Rev, ev.Signature)
	if ev.Classification != "" {
		fmt.Fprintf(&b, "[Classification: %s] ", ev.Classification)
	}
	fmt.Fprintf(&b, "[Priority: %d] {%s} %s -> %s", ev.Priority, ev.Proto,
		netip.AddrPortFrom(ev.SrcAddr, uint16(ev.SrcPort)), netip.AddrPortFrom(ev.DstAddr, uint16(ev.DstPort)))
	return b.Bytes()
}

func FuzzEve(f *testing.F) {
	seedLines(f, "testdata/eve.json", []string{
		"rhaist__surevego/testdata/eve.json",
		"rhaist__surevego/testdata/eve_broken.json",
		"OISF__suricata-verify/tests/output-eve-fileinfo/expected/eve.json",
	})
	for _, s := range []string{
		eveSSH,
		eveWith(`"severity":2,`, `"severity":2,"source":{"ip":"203.0.113.7","port":4711},"target":{"ip":"192.0.2.10","port":22},`),
		eveWith(`"ET SCAN Potential SSH Scan"`, `"ET \"SCAN\" caf\u00e9 \/x\\y \ud83d\ude00 \ud83d"`),
		eveWith(`+0100"`, `+01:00"`),
		`{"a":"\"event_type\":\"alert\"","x":{"event_type":"alert"},"event_type" : "http"}`,
		`{"timestamp":"2025-11-08T22:00:01.123456+0100","flow_id":1,"in_iface":"x\",\"event_type\":\"alert","event_type":"dns"}`,
		`{"timestamp":"2025-11-08T22:00:01.123456+0100","in_iface":"event_type","event_type":"flow","event_type":"alert"}`,
		`{"timestamp":"2025-11-08T22:00:01.123456+0100","event_type\":\"alert":1,"event_type":"tls"}`,
		// The walk of an alert goes on after its head: what may follow it.
		eveWith(`"src_ip":`, `"timestamp":"2025-11-09T01:00:00Z","src_ip":`),
		eveWith(`"event_type":"alert",`, `"event_type":"alert" ,`),
		eveWith(`"event_type":"alert",`, `"event_type":"alert",,`),
		`{"timestamp":"2025-11-08T22:00:01.123456+0100","event_type":"alert"}`,
		`{"timestamp":"2025-11-08T22:00:01.123456+0100","event_type":"alert",}`,
		`{"timestamp":"2025-11-08T22:00:01.123456+0100","event_type":"alert"x}`,
		// The addresses after the head, in and out of the shape read there.
		eveWith(`"src_port":4711,`, `"src_port":4711,"src_ip":"203.0.113.9",`),
		eveWith(`"src_port":4711,`, `"src_port":4.711,`),
		eveWith(`"src_port":4711,`, `"src_port":4711x,`),
		eveWith(`"src_port":4711,`, `"src_port":null,`),
		eveWith(`"src_port":4711,`, `"src_port":99999999999999,`),
		eveWith(`"dest_ip":"192.0.2.10"`, `"dest_ip":"192.0.2.1\u0030"`),
		eveWith(`"dest_ip":"192.0.2.10"`, `"dest_ip" :"192.0.2.10"`),
		eveWith(`"proto":"TCP",`, `"proto":"TCP"}`),
		eveWith(`"proto":"TCP",`, `"proto":"TCP`),
		// The alert object's members, in and out of Suricata's order.
		eveWith(`"alert":{"action":"allowed",`, `"alert":{ "action":"allowed",`),
		eveWith(`"alert":{"action":"allowed",`, `"alert":{"action":"allowed","signature_id":1,`),
		eveWith(`"severity":2,`, `"severity":2}"severity":3,`),
		eveWith(`"severity":2,`, `"severity":2.5,`),
		eveWith(`"signature_id":2001219,`, `"signature_id":null,`),
		eveWith(`"signature_id":2001219,`, ``),
		eveWith(`"ET SCAN Potential SSH Scan"`, `"ET SCAN Potential SSH Scan \/x"`),
		`{"timestamp":"2025-11-08T22:00:01.123456+0100","event_type":"alert","src_ip":"198.51.100.9","alert":{}}`,
		`{"timestamp":"2025-11-08T22:00:01.123456+0100","event_type":"alert","src_ip":"198.51.100.9","alert":{"action":"x"}}`,
		`{"timestamp":"2025-11-08T22:00:01.123456+0100","event_type":"alert","src_ip":"198.51.100.9","alert":{"gid":1}"gid":2}`,
	} {
		f.Add([]byte(s))
	}
	if b, err := os.ReadFile("testdata/sides.eve.json"); err == nil {
		for line := range bytes.SplitSeq(b, []byte("\n")) {
			f.Add(line)
		}
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		in := bytes.Clone(line)
		var ev pipeline.Event
		p := NewEve(nil)
		err := p.Parse(line, &ev)
		if !bytes.Equal(in, line) {
			t.Fatal("Parse modified its input")
		}
		// Read again, the parser's caches (the last second, the texts of
		// the sid) now hold this line's: the same answer.
		var cached pipeline.Event
		if err2 := p.Parse(line, &cached); err2 != err || !reflect.DeepEqual(cached, ev) {
			t.Fatalf("read again: %v, %+v; the first time %v, %+v", err2, cached, err, ev)
		}
		reason := checkErr(t, err)
		checkSkipUntouched(t, err, &ev)
		if err == nil {
			checkEvent(t, pipeline.FormatEve, line, &ev)
		}
		checkLeadingEventType(t, line)
		checkFullWalk(t, line, err, &ev)
		var m map[string]any
		if json.Unmarshal(line, &m) != nil || m == nil {
			return
		}
		if reason == "not json" {
			t.Fatalf("valid JSON object refused as not json")
		}
		if err == nil && !SniffEve(line) {
			t.Errorf("parsed but not sniffed as eve.json")
		}
		// Against encoding/json, on the record re-encoded by it: no
		// duplicate or escaped member names there, members sorted (so
		// event_type is rarely first), and every string escaped its way.
		norm, jerr := json.Marshal(m)
		if jerr != nil {
			return
		}
		checkEveAgainst(t, m, norm)
	})
}

// checkFullWalk fails when an alert whose head leadingHead read, and
// whose walk went on from there, parses other than when walked from its
// first member.
func checkFullWalk(t *testing.T, line []byte, err error, ev *pipeline.Event) {
	p := NewEve(nil)
	p.fullWalk = true
	var full pipeline.Event
	if ferr := p.Parse(line, &full); ferr != err || !reflect.DeepEqual(full, *ev) {
		t.Fatalf("walked from its head: %v, %+v\nfrom its first member: %v, %+v\non %s", err, *ev, ferr, full, line)
	}
}

// checkLeadingEventType fails when the fast path decides a record's type
// other than eventType, which is right for every shape, does.
func checkLeadingEventType(t *testing.T, line []byte) {
	obj := trimSpace(trimCR(line))
	if len(obj) < 2 || obj[0] != '{' || obj[len(obj)-1] != '}' {
		return
	}
	h, decided := leadingHead(obj)
	fast := h.eventType
	if !decided {
		return
	}
	slow, found, ok := eventType(obj)
	if !found || !ok || !bytes.Equal(fast, slow) {
		t.Fatalf("fast path %q, eventType %q (found %v, ok %v) on %s", fast, slow, found, ok, line)
	}
}

func checkEveAgainst(t *testing.T, m map[string]any, norm []byte) {
	var ev pipeline.Event
	err := NewEve(nil).Parse(norm, &ev)
	reason := checkErr(t, err)
	et, isString := m["event_type"].(string)
	switch {
	case !isString:
		if reason != "no event_type" {
			t.Fatalf("event_type %#v: got %v on %s", m["event_type"], err, norm)
		}
		return
	case et != "alert":
		if !errors.Is(err, pipeline.ErrSkip) {
			t.Fatalf("event_type %q: got %v on %s", et, err, norm)
		}
		return
	case reason == "not json" || reason == "no event_type":
		t.Fatalf("alert: got %v on %s", err, norm)
	case err != nil:
		return
	}
	checkEvent(t, pipeline.FormatEve, norm, &ev)
	alert, _ := m["alert"].(map[string]any)
	str := func(m map[string]any, k string) string { s, _ := m[k].(string); return s }
	num := func(m map[string]any, k string) int { n, _ := m[k].(float64); return int(n) }
	addr := func(s string) netip.Addr { a, _ := pipeline.ParseAddr(s); return a }
	got := []any{ev.Signature, ev.Classification, ev.Action, ev.GID, ev.SID, ev.Rev, ev.Priority,
		ev.SrcAddr, ev.DstAddr, ev.SrcPort, ev.DstPort}
	want := []any{str(alert, "signature"), str(alert, "category"), str(alert, "action"),
		num(alert, "gid"), num(alert, "signature_id"), num(alert, "rev"), num(alert, "severity"),
		addr(str(m, "src_ip")), addr(str(m, "dest_ip")), num(m, "src_port"), num(m, "dest_port")}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("field %d: got %#v, encoding/json %#v, in %s", i, got[i], want[i], norm)
		}
	}
	if !strings.EqualFold(ev.Proto, str(m, "proto")) && !strings.HasSuffix(str(m, "proto"), ev.Proto) {
		t.Fatalf("proto %q, encoding/json %q", ev.Proto, str(m, "proto"))
	}
}

// FuzzHomeNet: any text is a home net or an error, never a panic or a
// hang (nesting and named groups are bounded), and a home net from a
// suricata.yaml never holds every address.
func FuzzHomeNet(f *testing.F) {
	for _, s := range []string{
		"192.168.0.0/16", "[10.0.0.0/8,!10.9.0.0/16]", "[$LAN,$DMZ]", "[[[1.2.3.4]]]", "!any",
		"[192.0.2.10-192.0.2.20,2001:db8::/32]", "[", "]", ",,", "$A", "[!$B]",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		groups := map[string]string{"LAN": "[192.168.0.0/16,!192.168.99.0/24]", "DMZ": "192.0.2.0/24", "A": "[$B]", "B": "[$A]", "HOME_NET": s}
		for _, h := range []func() (HomeNet, error){
			func() (HomeNet, error) { return ParseHomeNet(s) },
			func() (HomeNet, error) { return parseHomeNet(s, groups) },
		} {
			home, err := h()
			if err != nil {
				continue
			}
			if !home.empty() && home.Contains(netip.MustParseAddr("203.0.113.1")) && home.Contains(netip.MustParseAddr("0.0.0.0")) &&
				home.Contains(netip.MustParseAddr("::")) && home.Contains(netip.MustParseAddr("2001:db8::1")) {
				t.Errorf("%q: a home net holding every address was accepted", s)
			}
		}
	})
}
