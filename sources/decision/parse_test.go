package decision

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name string
		line string
		want pipeline.Event
		bad  string
	}{
		{name: "ban", line: `{"id":"4f0c","action":"ban","target":"203.0.113.7","scope":"ip","rule":"sshd","pack":"sshd","reason":"5 failures","at":"2025-11-08T22:02:20Z","duration_s":600,"origin":"web1","future_field":{"x":1}}`,
			want: pipeline.Event{Verb: "Ban", Addr: netip.MustParseAddr("203.0.113.7"), Host: "web1", Jail: "sshd", Message: "5 failures", Program: "stockade",
				Time: time.Date(2025, 11, 8, 22, 2, 20, 0, time.UTC)}},
		{name: "unban of a mapped address", line: `{"action":"unban","target":"::ffff:203.0.113.7","at":"2025-11-08T22:02:20+01:00","origin":"web2"}`,
			want: pipeline.Event{Verb: "Unban", Addr: netip.MustParseAddr("203.0.113.7"), Host: "web2", Program: "stockade",
				Time: time.Date(2025, 11, 8, 21, 2, 20, 0, time.UTC)}},
		{name: "range: no host", line: `{"action":"ban","target":"2001:db8::/64","at":"2025-11-08T22:02:20Z","origin":"web1","rule":"range"}`,
			want: pipeline.Event{Verb: "Ban", Host: "web1", Jail: "range", Program: "stockade", Time: time.Date(2025, 11, 8, 22, 2, 20, 0, time.UTC)}},
		{name: "not json", line: `Nov  8 22:00:01 web1 sshd[1]: hello`, bad: "bad json"},
		{name: "truncated", line: `{"action":"ban","target":"203.0.113.7"`, bad: "bad json"},
		{name: "other action", line: `{"action":"allow","target":"203.0.113.7","at":"2025-11-08T22:02:20Z"}`, bad: "bad action"},
		{name: "host name", line: `{"action":"ban","target":"evil.example","at":"2025-11-08T22:02:20Z"}`, bad: "bad target"},
		{name: "no time", line: `{"action":"ban","target":"203.0.113.7"}`, bad: "no time"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ev pipeline.Event
			err := New().Parse([]byte(tc.line), &ev)
			if tc.bad != "" {
				if b, ok := err.(*pipeline.BadLine); !ok || b.Reason != tc.bad {
					t.Fatalf("err %v, want bad line %q", err, tc.bad)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.want.Format, tc.want.Line = pipeline.FormatDecision, tc.line
			if !ev.Time.Equal(tc.want.Time) {
				t.Fatalf("time %v, want %v", ev.Time, tc.want.Time)
			}
			ev.Time = tc.want.Time
			if ev.Verb != tc.want.Verb || ev.Addr != tc.want.Addr || ev.Host != tc.want.Host || ev.Jail != tc.want.Jail ||
				ev.Message != tc.want.Message || ev.Program != tc.want.Program || ev.Format != tc.want.Format || ev.Line != tc.want.Line {
				t.Fatalf("got %+v\nwant %+v", ev, tc.want)
			}
		})
	}
}

func TestSniff(t *testing.T) {
	if !Sniff([]byte(`{"id":"1","action":"ban","target":"203.0.113.7","origin":"web1","at":"2025-11-08T22:02:20Z"}`)) {
		t.Error("a decision was not recognised")
	}
	for _, l := range []string{
		`{"timestamp":"2025-11-08T22:00:00.000000+0000","event_type":"alert","src_ip":"203.0.113.7"}`,
		`Nov  8 22:00:01 web1 sshd[1]: {"action":"ban","target":"1.2.3.4","origin":"x"}`,
	} {
		if Sniff([]byte(l)) {
			t.Errorf("%s taken for a decision", l)
		}
	}
}

func FuzzParse(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "replay", "decisions.golden.jsonl")); err == nil {
		for line := range bytes.Lines(b) {
			f.Add(bytes.TrimRight(line, "\n"))
		}
	}
	f.Add([]byte(`{"action":"ban","target":"203.0.113.7","at":"2025-11-08T22:02:20Z","origin":"web1"}`))
	f.Add([]byte(`{"action":"unban","target":"2001:db8::/64","at":"2025-11-08T22:02:20Z"}`))
	f.Add([]byte(`{"action":"ban","target":"::ffff:1.2.3.4%eth0","at":"0001-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"action":"ban","target":"203.0.113.7","Target":"203.0.113.8","at":"2025-11-08T22:02:20Z","origin":"web1"}`))
	f.Add([]byte(`{"action":"ban","target":"203.0.113.7","t\u0061rget":"203.0.113.8","at":"2025-11-08T22:02:20Z","origin":"web1"}`))
	f.Add([]byte(`{"action":"ban","target":"203.0.113.7","at":"2025-11-08T22:02:20Z","origin":"web1","origin":"web2"}`))
	f.Add([]byte(`{"action":"ban","target":"203.0.113.7","at":"2025-11-08T22:02:20Z","origin":"web1"}{"target":"203.0.113.8"}`))
	f.Add([]byte(`{"action":"ban","target":"203.0.113.7","at":"2025-11-08T22:02:20Z","ſcope":"x","x":{"Target":["]"]}}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		if id, origin, ok := Ref(string(line)); ok != (id != "" && origin != "") {
			t.Fatalf("Ref(%q) = %q, %q, %v", line, id, origin, ok)
		}
		var ev pipeline.Event
		if err := New().Parse(line, &ev); err != nil {
			if _, ok := err.(*pipeline.BadLine); !ok {
				t.Fatalf("error %T %v is not a BadLine", err, err)
			}
			return
		}
		if ev.Verb != VerbBan && ev.Verb != VerbUnban || ev.Time.IsZero() || ev.Addr.IsValid() && ev.Addr.Is4In6() {
			t.Fatalf("accepted %q as %+v", line, ev)
		}
		// What was accepted reads the same to a reader that matches keys
		// exactly: no key is a field's name in another case, and the
		// target is the one such a reader sees.
		var m map[string]json.RawMessage
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("accepted %q, which is not one JSON object: %v", line, err)
		}
		for k := range m {
			if i := field([]byte(k)); i == -2 {
				t.Fatalf("accepted %q with key %q", line, k)
			}
		}
		var target string
		if json.Unmarshal(m["target"], &target) != nil {
			t.Fatalf("accepted %q without a target string", line)
		}
		if p, err := pipeline.ParseTarget(target); err != nil || p.IsSingleIP() && p.Addr() != ev.Addr {
			t.Fatalf("accepted %q as %v, an exact reader sees %q", line, ev.Addr, target)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	line := []byte(`{"id":"4f0c5e2a9d3b7c1e8f6a2b4c6d8e0f12","action":"ban","target":"203.0.113.7","scope":"ip","rule":"sshd","pack":"sshd","reason":"sshd authentication failures: 5 matches within 10m0s","at":"2025-11-08T22:02:20Z","duration_s":600,"expires":"2025-11-08T22:12:20Z","offense":1,"origin":"web1","source":"/var/log/auth.log","evidence":["Failed password for root from 203.0.113.7 port 41003 ssh2"]}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	var ev pipeline.Event
	for b.Loop() {
		ev.Reset()
		if err := New().Parse(line, &ev); err != nil {
			b.Fatal(err)
		}
	}
}

// TestStrict: a decision reads the same to every reader. Go's
// encoding/json matches keys regardless of case and keeps the last of
// duplicate keys, so {"target":"A","Target":"B"} was an event about B while
// a log or an auditor saw A; such objects, and trailing data, are refused.
// Unknown fields are not: fields are only ever added to the contract.
func TestStrict(t *testing.T) {
	const head = `{"action":"ban","at":"2025-11-08T22:02:20Z","origin":"web1",`
	for _, tc := range []struct {
		name, line string
		ok         bool
	}{
		{"normal", head + `"target":"203.0.113.7"}`, true},
		{"unknown fields", head + `"target":"203.0.113.7","future":[{"Target":"x"}],"evidence":["{\"target\":1}"]}`, true},
		{"case variant", head + `"target":"203.0.113.7","Target":"203.0.113.8"}`, false},
		{"case variant alone", head + `"Target":"203.0.113.8"}`, false},
		{"unicode fold", head + `"target":"203.0.113.7","ſcope":"x"}`, false},
		{"escaped case variant", head + `"target":"203.0.113.7","\u0054arget":"203.0.113.8"}`, false},
		{"duplicate key", head + `"target":"203.0.113.7","target":"203.0.113.8"}`, false},
		{"duplicate origin", head + `"target":"203.0.113.7","origin":"web2"}`, false},
		{"trailing object", head + `"target":"203.0.113.7"}{"target":"203.0.113.8"}`, false},
		{"trailing garbage", head + `"target":"203.0.113.7"} x`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ev pipeline.Event
			err := New().Parse([]byte(tc.line), &ev)
			if tc.ok && err != nil {
				t.Fatalf("%s: %v", tc.line, err)
			}
			if !tc.ok {
				if b, isBad := err.(*pipeline.BadLine); !isBad || b.Reason != "bad json" {
					t.Fatalf("%s: err %v (event %+v), want bad json", tc.line, err, ev)
				}
			}
		})
	}
}

func BenchmarkStrict(b *testing.B) {
	line := []byte(`{"id":"4f0c5e2a9d3b7c1e8f6a2b4c6d8e0f12","action":"ban","target":"203.0.113.7","scope":"ip","rule":"sshd","pack":"sshd","reason":"sshd authentication failures: 5 matches within 10m0s","at":"2025-11-08T22:02:20Z","duration_s":600,"expires":"2025-11-08T22:12:20Z","offense":1,"origin":"web1","source":"/var/log/auth.log","evidence":["Failed password for root from 203.0.113.7 port 41003 ssh2"]}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		if err := Strict(line); err != nil {
			b.Fatal(err)
		}
	}
}

// TestRef: the id and origin of a decision quoted in evidence, even cut
// short, as evidence lines longer than 2 kB are.
func TestRef(t *testing.T) {
	full := `{"id":"4f0c","action":"ban","target":"203.0.113.7","origin":"web1","evidence":["` + strings.Repeat("x", 3000) + `"]}`
	for _, tc := range []struct {
		name, line string
		id, origin string
		ok         bool
	}{
		{"whole", full, "4f0c", "web1", true},
		{"cut", full[:2048], "4f0c", "web1", true},
		{"escaped", `{"id":"4f\u0030c","action":"ban","origin":"w\"1"}`, "4f0c", `w"1`, true},
		{"no origin", `{"id":"4f0c","action":"ban","target":"203.0.113.7"`, "", "", false},
		{"no action: no decision", `{"id":"4f0c","origin":"web1"}`, "", "", false},
		{"a log line", `Nov  8 22:00:01 web1 sshd[1]: {"id":"1","action":"ban","origin":"x"}`, "", "", false},
	} {
		id, origin, ok := Ref(tc.line)
		if id != tc.id || origin != tc.origin || ok != tc.ok {
			t.Errorf("%s: %q %q %v, want %q %q %v", tc.name, id, origin, ok, tc.id, tc.origin, tc.ok)
		}
	}
}
