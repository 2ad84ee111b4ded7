package suricata

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

func benchParse(b *testing.B, p pipeline.Parser, line []byte, want error) {
	b.Helper()
	var ev pipeline.Event
	if err := p.Parse(line, &ev); err != want {
		b.Fatalf("got %v, want %v", err, want)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		ev = pipeline.Event{}
		p.Parse(line, &ev)
	}
}

func BenchmarkFast(b *testing.B) {
	benchParse(b, NewFast(time.UTC), []byte(fastSSH), nil)
}

func BenchmarkFastIPv6(b *testing.B) {
	line := "11/08/2025-22:01:12.000042  [**] [1:2210045:2] SURICATA STREAM Packet with invalid ack [**] [Classification: Generic Protocol Command Decode] [Priority: 3] {TCP} 2001:0db8:0000:0000:0000:0000:0000:00a1:443 -> 2001:0db8:0000:0000:0000:0000:0000:0010:60122"
	benchParse(b, NewFast(time.UTC), []byte(line), nil)
}

// fastStream makes n fast.log lines as a busy sensor writes them: 100
// alerts a second, four rules, a tenth of them over IPv6.
func fastStream(n int) [][]byte {
	rules := []string{
		"[1:2001219:20] ET SCAN Potential SSH Scan [**] [Classification: Attempted Information Leak] [Priority: 2]",
		"[1:2210045:2] SURICATA STREAM Packet with invalid ack [**] [Classification: Generic Protocol Command Decode] [Priority: 3]",
		"[1:2024897:3] ET EXPLOIT Apache HTTP Server Path Traversal (CVE-2021-41773) [**] [Classification: Attempted Administrator Privilege Gain] [Priority: 1]",
		"[1:2100498:7] GPL ATTACK_RESPONSE id check returned root [**] [Classification: Potentially Bad Traffic] [Priority: 2]",
	}
	r := rand.New(rand.NewPCG(5, 6))
	at := time.Date(2025, 11, 8, 22, 0, 0, 0, time.UTC)
	lines := make([][]byte, n)
	for i := range lines {
		at = at.Add(time.Duration(r.IntN(20_000)) * time.Microsecond)
		src := fmt.Sprintf("203.0.%d.%d", r.IntN(256), r.IntN(256))
		if r.IntN(10) == 0 {
			src = fmt.Sprintf("2001:0db8:0000:0000:0000:0000:%04x:%04x", r.IntN(1<<16), r.IntN(1<<16))
		}
		lines[i] = fmt.Appendf(nil, "%s  [**] %s {TCP} %s:%d -> 192.0.2.10:%d",
			at.Format("01/02/2006-15:04:05.000000"), rules[r.IntN(len(rules))], src, 1024+r.IntN(60000), []int{22, 80, 443}[r.IntN(3)])
	}
	return lines
}

// BenchmarkFastStream parses a stream of fast.log lines, one a op: the
// caches (the last second, the rules' heads) hit as often as on a sensor.
func BenchmarkFastStream(b *testing.B) {
	benchFastStream(b, fastStream(10_000))
}

// BenchmarkFastStreamManyRules: the head cache's worst case, every line
// a rule other than the last one of its slot (thousands of rules firing
// in turn), so every head is read and copied.
func BenchmarkFastStreamManyRules(b *testing.B) {
	lines := fastStream(10_000)
	for i, l := range lines {
		sid := fmt.Appendf(nil, "[1:%d:", 3_000_000+i%4096)
		k := bytes.Index(l, []byte("[1:"))
		rest := l[k+3:]
		rest = rest[bytes.IndexByte(rest, ':')+1:]
		lines[i] = slices.Concat(l[:k], sid, rest)
	}
	benchFastStream(b, lines)
}

func benchFastStream(b *testing.B, lines [][]byte) {
	p := NewFast(time.UTC)
	var ev pipeline.Event
	for _, line := range lines {
		if err := p.Parse(line, &ev); err != nil {
			b.Fatalf("%v: %s", err, line)
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		ev = pipeline.Event{}
		p.Parse(lines[i%len(lines)], &ev)
		i++
	}
}

func BenchmarkEveAlert(b *testing.B) {
	benchParse(b, NewEve(nil), []byte(eveSSH), nil)
}

// BenchmarkEveAlertHTTP: an alert as a web sensor writes most of them,
// an http object after the alert and no flow, the shape of the alerts
// replay's eve.json figures are measured on.
func BenchmarkEveAlertHTTP(b *testing.B) {
	benchParse(b, NewEve(nil), []byte(`{"timestamp":"2025-11-01T00:00:00.482027+0000","flow_id":1125899906862952,"in_iface":"eth0",`+
		`"event_type":"alert","src_ip":"203.0.10.141","src_port":60170,"dest_ip":"192.0.2.10","dest_port":80,"proto":"TCP",`+
		`"alert":{"action":"allowed","gid":1,"signature_id":2000001,"rev":3,"signature":"ET SCAN synthetic signature 1",`+
		`"category":"Attempted Information Leak","severity":1},"http":{"hostname":"www.example.com","url":"/index.php?id=1",`+
		`"http_user_agent":"sqlmap/1.7","http_method":"GET","protocol":"HTTP/1.1","status":404,"length":153}}`), nil)
}

// An Emerging Threats signature with a '/' as older Suricata wrote it
// (\/): the one allocation an escape costs.
func BenchmarkEveAlertEscaped(b *testing.B) {
	benchParse(b, NewEve(nil), []byte(eveWith(`"ET SCAN Potential SSH Scan"`, `"ET POLICY GNU\/Linux APT User-Agent Outbound likely related to package management"`)), nil)
}

// sampleLine returns the first line of testdata/eve.json of that type.
func sampleLine(b *testing.B, eventType string) []byte {
	data, err := os.ReadFile("testdata/eve.json")
	if err != nil {
		b.Fatal(err)
	}
	for line := range bytes.Lines(data) {
		if bytes.Contains(line, []byte(`"event_type":"`+eventType+`"`)) {
			return bytes.TrimSuffix(line, []byte("\n"))
		}
	}
	b.Fatalf("no %s record", eventType)
	return nil
}

func BenchmarkEveSkip(b *testing.B) {
	for _, typ := range []string{"flow", "dns", "http", "tls", "stats"} {
		b.Run(typ, func(b *testing.B) {
			benchParse(b, NewEve(nil), sampleLine(b, typ), pipeline.ErrSkip)
		})
	}
	// The worst case: a stats record of several KB with event_type last.
	b.Run("stats-event_type-last", func(b *testing.B) {
		line := sampleLine(b, "stats")
		line = bytes.Replace(line, []byte(`"event_type":"stats",`), nil, 1)
		line = append(line[:len(line)-1], []byte(`,"event_type":"stats"}`)...)
		benchParse(b, NewEve(nil), line, pipeline.ErrSkip)
	})
}

// BenchmarkEveStream parses testdata/eve.json, a tenth of which is alerts,
// as a source would; one op is the whole file.
func BenchmarkEveStream(b *testing.B) {
	data, err := os.ReadFile("testdata/eve.json")
	if err != nil {
		b.Fatal(err)
	}
	var lines [][]byte
	for line := range bytes.Lines(data) {
		lines = append(lines, bytes.TrimSuffix(line, []byte("\n")))
	}
	p := NewEve(nil)
	var ev pipeline.Event
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		for _, line := range lines {
			ev = pipeline.Event{}
			p.Parse(line, &ev)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(lines)), "ns/line")
}

func BenchmarkSniff(b *testing.B) {
	line := []byte(eveSSH)
	b.ReportAllocs()
	for b.Loop() {
		SniffFast(line)
		SniffEve(line)
	}
}
