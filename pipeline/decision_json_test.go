package pipeline

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// jsonOracle is what encoding/json makes of d: json.Marshal's bytes, and
// an Encoder's with SetEscapeHTML(false) less its newline.
func jsonOracle(t testing.TB, d *Decision) (html, plain []byte, err error) {
	html, err = json.Marshal(d)
	if err != nil {
		return nil, nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(d); err != nil {
		t.Fatalf("Marshal succeeded, Encoder failed: %v", err)
	}
	return html, bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func checkAppendJSON(t testing.TB, d *Decision) {
	t.Helper()
	html, plain, werr := jsonOracle(t, d)
	prefix := []byte("prefix")
	got, err := d.AppendJSON(prefix)
	if (err != nil) != (werr != nil) {
		t.Fatalf("AppendJSON error %v, json.Marshal's %v, for %#v", err, werr, d)
	}
	if werr != nil {
		return
	}
	if !bytes.HasPrefix(got, prefix) || !bytes.Equal(got[len(prefix):], html) {
		t.Fatalf("AppendJSON:\n got %s\nwant %s", got, html)
	}
	got, err = d.AppendJSONUnescaped(nil)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("AppendJSONUnescaped: %v\n got %s\nwant %s", err, got, plain)
	}
}

// randString draws from the bytes that make escaping differ: control
// bytes, quote and backslash, <>&, invalid UTF-8, U+2028/2029, other
// multi-byte runes, and plain text.
func randString(r *rand.Rand) string {
	pieces := []string{
		"a", "Failed password", " ", "\"", "\\", "<", ">", "&", "\x00", "\x01", "\b", "\f", "\n", "\r", "\t",
		"\x1f", "\x7f", "\u2028", "\u2029", "\u2027", "é", "日本", "\U0001F600", "\xff", "\xc3", "\xe2\x80",
		"\xed\xa0\x80", "\xf4\x90\x80\x80", "\ufffd", "/", "</script>",
	}
	var sb strings.Builder
	for n := r.IntN(12); n > 0; n-- {
		if r.IntN(4) == 0 {
			sb.WriteByte(byte(r.IntN(256)))
			continue
		}
		sb.WriteString(pieces[r.IntN(len(pieces))])
	}
	return sb.String()
}

func randTime(r *rand.Rand) time.Time {
	zones := []*time.Location{time.UTC, time.FixedZone("CET", 3600), time.FixedZone("X", -(9*3600 + 30*60)), time.Local}
	switch r.IntN(8) {
	case 0:
		return time.Time{}
	case 1: // a year json.Marshal refuses
		return time.Date(10000+r.IntN(100), 1, 1, 0, 0, 0, 0, time.UTC)
	case 2: // a zone offset json.Marshal refuses
		return time.Date(2025, 1, 1, 0, 0, 0, 0, time.FixedZone("bad", 24*3600+60))
	}
	sec := r.Int64N(4e9) - 1e9
	ns := [...]int64{0, int64(r.IntN(1e9)), 500_000_000, 120_000}[r.IntN(4)]
	return time.Unix(sec, ns).In(zones[r.IntN(len(zones))])
}

func randTarget(r *rand.Rand) Target {
	switch r.IntN(5) {
	case 0:
		return Target{}
	case 1:
		var a [16]byte
		for i := range a {
			a[i] = byte(r.IntN(256))
		}
		return TargetOf(netip.PrefixFrom(netip.AddrFrom16(a), r.IntN(129)))
	case 2: // a zone is text stockade does not choose
		return Target{netip.PrefixFrom(netip.MustParseAddr("fe80::1").WithZone(randString(r)+"x"), 128)}
	}
	a := netip.AddrFrom4([4]byte{byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
	return TargetOf(netip.PrefixFrom(a, 16+r.IntN(17)))
}

func randDecision(r *rand.Rand) Decision {
	d := Decision{
		ID: randString(r), Action: Action(randString(r)), Target: randTarget(r), Scope: Scope(randString(r)),
		Rule: randString(r), Pack: randString(r), Reason: randString(r), At: randTime(r),
		Duration: r.Int64() - r.Int64(), Expires: randTime(r), Offense: r.IntN(1000) - 10,
		Origin: randString(r), Source: randString(r), Simulated: r.IntN(2) == 0,
	}
	if n := r.IntN(4); n > 0 {
		d.Evidence = make([]string, n-1) // n == 1: empty, not nil
		for i := range d.Evidence {
			d.Evidence[i] = randString(r)
		}
	}
	if n := r.IntN(4); n > 0 {
		d.Provenance = make([]Provenance, n-1)
		for i := range d.Provenance {
			d.Provenance[i] = Provenance{ID: randString(r), Origin: randString(r)}
			if r.IntN(2) == 0 {
				d.Provenance[i].Signer = randString(r)
			}
		}
	}
	return d
}

// TestDecisionAppendJSON: AppendJSON writes json.Marshal's bytes, and
// AppendJSONUnescaped an unescaping Encoder's, for random decisions with
// every field set and unset, and fails where json.Marshal fails.
func TestDecisionAppendJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(19, 2026))
	for range 20000 {
		d := randDecision(r)
		checkAppendJSON(t, &d)
	}
	var zero Decision
	checkAppendJSON(t, &zero)
}

// TestDecisionAppendJSONEveryByte: each byte and each rune around the
// special ones, alone, between text and at each place of a long string,
// in every string field.
func TestDecisionAppendJSONEveryByte(t *testing.T) {
	var ss []string
	for c := range 256 {
		ss = append(ss, string([]byte{byte(c)}), "x"+string([]byte{byte(c)})+"y")
		for at := range 17 { // at each place of the words checked eight bytes at once
			ss = append(ss, strings.Repeat("a", at)+string([]byte{byte(c)})+strings.Repeat("b", 16-at))
		}
	}
	for _, r := range []rune{0x7f, 0x80, 0x7ff, 0x800, 0x2027, 0x2028, 0x2029, 0x202a, 0xfffd, 0xffff, 0x10000, 0x10ffff} {
		ss = append(ss, string(r), "<"+string(r)+">")
	}
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, s := range ss {
		d := Decision{ID: s, Action: Action(s), Target: MustTarget("203.0.113.7"), Scope: Scope(s), Rule: s,
			Pack: s, Reason: s, At: at, Expires: at, Origin: s, Source: s, Evidence: []string{s, s},
			Provenance: []Provenance{{ID: s, Origin: s, Signer: s}}}
		checkAppendJSON(t, &d)
	}
}

// FuzzDecisionAppendJSON: whatever the strings, the same bytes as
// encoding/json.
func FuzzDecisionAppendJSON(f *testing.F) {
	f.Add("id", "ban", "sshd", "Failed password for <root> & \u2028", "\xff\x00", int64(600), int64(1740830400), true)
	f.Fuzz(func(t *testing.T, id, action, rule, evidence, origin string, dur, at int64, sim bool) {
		tm := time.Unix(at, 0).UTC()
		d := Decision{ID: id, Action: Action(action), Target: MustTarget("2001:db8::/64"), Scope: ScopeRange,
			Rule: rule, Pack: rule, Reason: evidence, At: tm, Duration: dur, Expires: tm.Add(time.Duration(dur)),
			Offense: int(dur), Origin: origin, Source: evidence, Evidence: []string{evidence, id},
			Provenance: []Provenance{{ID: id, Origin: origin, Signer: rule}}, Simulated: sim}
		checkAppendJSON(t, &d)
	})
}

func benchDecision() Decision {
	at := time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)
	return Decision{
		ID: "0123456789abcdef0123456789abcdef", Action: ActionBan, Target: MustTarget("203.0.113.7"),
		Scope: ScopeIP, Rule: "suricata-alert", Pack: "suricata", Reason: "ET SCAN Potential SSH Scan (priority 2)",
		At: at, Duration: 3600, Expires: at.Add(time.Hour), Offense: 1, Origin: "sensor1",
		Source: "/var/log/suricata/fast.log",
		Evidence: []string{`03/01/2025-12:00:00.123456  [**] [1:2001219:20] ET SCAN Potential SSH Scan [**] ` +
			`[Classification: Attempted Information Leak] [Priority: 2] {TCP} 203.0.113.7:51234 -> 10.0.0.5:22`},
	}
}

// BenchmarkDecisionEncode: a fast.log decision, by reflection and appended.
func BenchmarkDecisionEncode(b *testing.B) {
	d := benchDecision()
	b.Run("Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(&d); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Encoder", func(b *testing.B) {
		b.ReportAllocs()
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		for b.Loop() {
			buf.Reset()
			if err := enc.Encode(&d); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("AppendJSON", func(b *testing.B) { benchAppend(b, d.AppendJSON) })
	b.Run("AppendJSONFresh", func(b *testing.B) { // a signed message's own slice, as the NATS and Kafka sinks make
		b.ReportAllocs()
		for b.Loop() {
			if _, err := d.AppendJSON(nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("AppendJSONUnescaped", func(b *testing.B) { benchAppend(b, d.AppendJSONUnescaped) })
	b.Run("FitJSONUnescaped", func(b *testing.B) { // what the jsonl sink writes
		benchAppend(b, func(dst []byte) ([]byte, error) {
			out, _, err := d.FitJSONUnescaped(dst, MaxLine-1)
			return out, err
		})
	})
}

// BenchmarkDecisionEncodeEve: a decision quoting an eve.json alert, a
// line with a quote every few bytes, as replay writes it.
func BenchmarkDecisionEncodeEve(b *testing.B) {
	d := benchDecision()
	d.Source = "/var/log/suricata/eve.json"
	d.Evidence = []string{`{"timestamp":"2025-11-01T00:00:00.482027+0000","flow_id":1125899906862952,"in_iface":"eth0",` +
		`"event_type":"alert","src_ip":"203.0.10.141","src_port":60170,"dest_ip":"192.0.2.10","dest_port":80,"proto":"TCP",` +
		`"alert":{"action":"allowed","gid":1,"signature_id":2000001,"rev":3,"signature":"ET SCAN synthetic signature 1",` +
		`"category":"Attempted Information Leak","severity":1},"http":{"hostname":"www.example.com","url":"/index.php?id=1",` +
		`"http_user_agent":"sqlmap/1.7","http_method":"GET","protocol":"HTTP/1.1","status":404,"length":153}}`}
	benchAppend(b, d.AppendJSONUnescaped)
}

// benchAppend measures an append encoder into one reused buffer, in
// bytes of JSON a second.
func benchAppend(b *testing.B, appendTo func([]byte) ([]byte, error)) {
	b.ReportAllocs()
	var buf []byte
	for b.Loop() {
		var err error
		if buf, err = appendTo(buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}

// TestAppendJSONStringRoom: the escaper stores whole words past the end
// of what it has written, so each string is appended to a buffer with
// every amount of spare room from none on: the bytes are encoding/json's
// and the buffer's prefix is kept, whether it grows at the first word,
// at the last or never.
func TestAppendJSONStringRoom(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 19))
	ss := []string{`{"a":"b\"c","d":[1,2]}` + strings.Repeat(`""\\`, 9) + "\x01<\u2028\xff"}
	for range 200 {
		var sb strings.Builder
		for n := r.IntN(64); n > 0; n-- {
			sb.WriteString([]string{`"`, `\`, "a", "\x00", "<", "é", "\xff", "\u2029"}[r.IntN(8)])
		}
		ss = append(ss, sb.String())
	}
	for _, s := range ss {
		for _, html := range []bool{false, true} {
			want, err := json.Marshal(s)
			if err != nil {
				t.Fatal(err)
			}
			if !html {
				var buf bytes.Buffer
				enc := json.NewEncoder(&buf)
				enc.SetEscapeHTML(false)
				if err := enc.Encode(s); err != nil {
					t.Fatal(err)
				}
				want = bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
			}
			for spare := range 2*escapeRoom + len(s) {
				prefix := make([]byte, 3, 3+spare)
				copy(prefix, "pre")
				got := appendJSONString(prefix, s, html)
				if string(got[:3]) != "pre" || !bytes.Equal(got[3:], want) {
					t.Fatalf("html %v, spare %d: %q\n got %s\nwant %s", html, spare, s, got[3:], want)
				}
			}
		}
	}
}

// TestFitJSON: a decision that fits is its JSON; one that does not keeps
// the most of its last evidence lines that fit; one that does not fit
// without evidence is an error. Both encodings, appended after what dst
// holds, which the limit does not count.
func TestFitJSON(t *testing.T) {
	for _, html := range []bool{true, false} {
		enc := (*Decision).AppendJSON
		if !html {
			enc = (*Decision).AppendJSONUnescaped
		}
		fit := func(d *Decision, limit int) ([]byte, int, error) {
			b, cut, err := d.fitJSON([]byte("prefix"), limit, html)
			if err == nil && string(b[:6]) != "prefix" {
				t.Fatalf("html %v: dst's bytes overwritten: %q", html, b[:6])
			}
			if b != nil {
				b = b[6:]
			}
			return b, cut, err
		}
		d := Decision{ID: "d1", Action: ActionBan, Target: MustTarget("192.0.2.1"), Rule: "sshd", Reason: "a <b> & c", At: time.Unix(1e9, 0).UTC(), Duration: 60}
		whole, err := enc(&d, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got, cut, err := fit(&d, len(whole)); err != nil || cut != 0 || string(got) != string(whole) {
			t.Fatalf("html %v: a decision that fits: cut %d, %v", html, cut, err)
		}
		for i := range 10 {
			d.Evidence = append(d.Evidence, strings.Repeat(string(rune('a'+i)), 990)+"<&>")
		}
		full, _ := enc(&d, nil)
		n := len(d.Evidence)
		for _, limit := range []int{len(whole) + 1500, len(whole) + 5500, len(full) - 1} {
			got, cut, err := fit(&d, limit)
			if err != nil {
				t.Fatal(err)
			}
			var back Decision
			if err := json.Unmarshal(got, &back); err != nil {
				t.Fatal(err)
			}
			keep := len(back.Evidence)
			c := d
			c.Evidence = d.Evidence[n-keep:]
			same, _ := enc(&c, nil)
			if len(got) > limit || cut != n-keep || string(got) != string(same) || len(d.Evidence) != n {
				t.Fatalf("html %v, limit %d: %d bytes, kept %d lines (cut %d), not the last ones", html, limit, len(got), keep, cut)
			}
			// One line more would not have fitted.
			c.Evidence = d.Evidence[n-keep-1:]
			if more, _ := enc(&c, nil); len(more) <= limit {
				t.Fatalf("html %v, limit %d: kept %d lines, %d fit", html, limit, keep, keep+1)
			}
		}
		c := d
		c.Evidence = c.Evidence[:0]
		bare, _ := enc(&c, nil)
		if _, _, err := fit(&d, len(bare)-1); err == nil {
			t.Fatalf("html %v: a decision too large without its evidence was fitted", html)
		}
	}
}
