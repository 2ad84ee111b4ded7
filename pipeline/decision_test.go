package pipeline

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/internal/golden"
)

// TestDecisionWireForm: the JSON of a decision is the contract with every
// firewall and consumer. testdata/decisions.jsonl was written by the
// stockade whose Decision carried its target as a string; the Decision that
// carries a netip.Prefix must write the same bytes, and read them back to
// the same decision.
func TestDecisionWireForm(t *testing.T) {
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	var ds []Decision
	for i, tc := range []struct{ target, scope string }{
		{"203.0.113.7", "ip"},
		{"2001:db8::7", "ip"},
		{"2001:db8:bad:1::/64", "range"},
		{"198.51.100.0/24", "range"},
		{"10.1.2.3", "ip"},
	} {
		ds = append(ds, Decision{
			ID: fmt.Sprintf("%032x", i), Action: ActionBan, Target: MustTarget(tc.target), Scope: Scope(tc.scope),
			Rule: "sshd", Pack: "sshd", Reason: "5 failures in 10m", At: at, Duration: 600,
			Expires: at.Add(10 * time.Minute), Offense: 1, Origin: "web1", Source: "/var/log/auth.log",
			Evidence:   []string{"Failed password for root from " + tc.target + " port 22 ssh2"},
			Provenance: []Provenance{{ID: "ab", Origin: "web2", Signer: "key"}},
		})
	}
	ds = append(ds, Decision{ID: "unban", Action: ActionUnban, Target: MustTarget("203.0.113.7"), Scope: ScopeIP, At: at, Expires: at, Origin: "web1", Evidence: []string{}})
	var b bytes.Buffer
	for i := range ds {
		j, err := json.Marshal(&ds[i])
		if err != nil {
			t.Fatal(err)
		}
		b.Write(j)
		b.WriteByte('\n')
	}
	golden.Check(t, "testdata/decisions.jsonl", b.Bytes())
	for i, line := range bytes.Split(bytes.TrimSpace(b.Bytes()), []byte("\n")) {
		var back Decision
		if err := json.Unmarshal(line, &back); err != nil {
			t.Fatal(err)
		}
		if back.Target != ds[i].Target || back.Target.String() != ds[i].Target.String() {
			t.Fatalf("decision %d: target %v read back as %v", i, ds[i].Target, back.Target)
		}
	}
}

func TestTargetText(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{in: "203.0.113.7", want: "203.0.113.7"},
		{in: "::ffff:203.0.113.7", want: "203.0.113.7"},
		{in: "2001:db8:bad:1::5/64", want: "2001:db8:bad:1::/64"},
		{in: "", want: ""},
		{in: "not-an-address", err: "neither an address nor a CIDR"},
		{in: "::ffff:0:0/80", err: "at least /96"},
	} {
		var x Target
		err := x.UnmarshalText([]byte(tc.in))
		if tc.err != "" {
			if err == nil || !bytes.Contains([]byte(err.Error()), []byte(tc.err)) {
				t.Errorf("%q: err %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || x.String() != tc.want {
			t.Errorf("%q: %q, %v; want %q", tc.in, x.String(), err, tc.want)
		}
	}
	var d Decision
	if err := json.Unmarshal([]byte(`{"id":"x","target":"203.0.113.0/33"}`), &d); err == nil {
		t.Fatal("a decision with a malformed target decoded")
	}
	if _, err := (&Decision{ID: "x"}).Prefix(); err == nil {
		t.Fatal("a decision with no target has a prefix")
	}
}

func BenchmarkDecisionJSON(b *testing.B) {
	d := Decision{ID: "0123456789abcdef0123456789abcdef", Action: ActionBan, Target: MustTarget("2001:db8:bad:1::/64"), Scope: ScopeRange,
		Rule: "sshd", At: time.Unix(1, 0).UTC(), Expires: time.Unix(601, 0).UTC(), Evidence: []string{"x"}}
	b.ReportAllocs()
	for b.Loop() {
		j, _ := json.Marshal(&d)
		var back Decision
		if err := json.Unmarshal(j, &back); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDecisionIDBytes: an id is the sha256 of each field and a zero byte,
// then the time and the offense big-endian, as a streamed Digest hashed
// them before the id was made in one call: ids must never change, since
// sinks de-duplicate and consumers verify by them.
func TestDecisionIDBytes(t *testing.T) {
	long := strings.Repeat("x", 300) // past the stack buffer
	at := time.Date(2025, 11, 1, 2, 46, 32, 252774000, time.UTC)
	cases := []struct {
		name, origin, rule string
		action             Action
		target             string
		offense            int
	}{
		{"ipv4 ban", "vm", "suricata-p1", ActionBan, "203.0.7.16", 4},
		{"ipv6 range", "sensor-1", "sshd", ActionBan, "2001:db8::/64", 1},
		{"unban, no rule", "vm", "", ActionUnban, "198.51.100.7", 0},
		{"long names", long, long, ActionBan, "192.0.2.1", 1 << 40},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			target := MustTarget(c.target)
			h := sha256.New()
			for _, s := range []string{c.origin, string(c.action), target.String(), c.rule} {
				h.Write([]byte(s))
				h.Write([]byte{0})
			}
			var n [16]byte
			binary.BigEndian.PutUint64(n[:8], uint64(at.UnixNano()))
			binary.BigEndian.PutUint64(n[8:], uint64(c.offense))
			h.Write(n[:])
			want := hex.EncodeToString(h.Sum(nil)[:16])
			if got := decisionID(c.origin, c.action, target, c.rule, at, c.offense); got != want {
				t.Errorf("decisionID = %s, want %s", got, want)
			}
		})
	}
}

func BenchmarkDecisionID(b *testing.B) {
	target := MustTarget("203.0.113.10")
	at := time.Date(2025, 11, 1, 2, 46, 32, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		decisionID("sensor-1", ActionBan, target, "suricata-p1", at, 3)
	}
}
