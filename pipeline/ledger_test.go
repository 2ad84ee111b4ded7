package pipeline

import (
	"cmp"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2025, 11, 8, 22, 0, 0, 0, time.UTC)

func single(s string) netip.Prefix {
	p, err := ParseTarget(s)
	if err != nil {
		panic(err)
	}
	return p
}

func TestLedgerShortBanNeverLiftsLonger(t *testing.T) {
	l := NewLedger()
	sshd := &Policy{Name: "sshd", Ban: 10 * time.Minute}
	recidive := &Policy{Name: "recidive", Ban: 7 * 24 * time.Hour}
	a := single("203.0.113.7")
	if o := l.Ban(BanRequest{Target: a, Policy: sshd, At: t0}); o.Verdict != Banned || o.Offense != 1 {
		t.Fatalf("first ban: %+v", o)
	}
	if o := l.Ban(BanRequest{Target: a, Policy: recidive, At: t0.Add(time.Minute)}); o.Verdict != Extended || o.Offense != 2 {
		t.Fatalf("recidive: %+v", o)
	}
	// sshd's record runs out after 10 minutes; recidive's week must stand.
	if lifted := l.Expire(t0.Add(11 * time.Minute)); len(lifted) != 0 {
		t.Fatalf("sshd expiry lifted %v", lifted)
	}
	if until, ok := l.Active(a, t0.Add(11*time.Minute)); !ok || !until.Equal(t0.Add(time.Minute+7*24*time.Hour)) {
		t.Fatalf("active = %v %v", until, ok)
	}
	if lifted := l.Expire(t0.Add(8 * 24 * time.Hour)); len(lifted) != 1 || lifted[0] != a {
		t.Fatalf("week expiry lifted %v", lifted)
	}
}

func TestLedgerNoDuplicateWhileBanned(t *testing.T) {
	l := NewLedger()
	sshd := &Policy{Name: "sshd", Ban: 10 * time.Minute}
	short := &Policy{Name: "p2", Ban: 5 * time.Minute}
	a := single("198.51.100.9")
	l.Ban(BanRequest{Target: a, Policy: sshd, At: t0})
	if o := l.Ban(BanRequest{Target: a, Policy: sshd, At: t0.Add(time.Minute)}); o.Verdict != AlreadyBanned {
		t.Fatalf("same rule again: %+v", o)
	}
	if o := l.Ban(BanRequest{Target: a, Policy: short, At: t0.Add(time.Minute)}); o.Verdict != AlreadyBanned {
		t.Fatalf("shorter rule: %+v", o)
	}
	if l.Offenses(a) != 1 {
		t.Fatalf("offenses = %d", l.Offenses(a))
	}
}

func TestLedgerEscalation(t *testing.T) {
	l := NewLedger()
	p := &Policy{Name: "sshd", Ban: 10 * time.Minute, Escalate: &Escalation{Factor: 2, Max: 7 * 24 * time.Hour}}
	a := single("2001:db8::7")
	at := t0
	want := []time.Duration{10 * time.Minute, 20 * time.Minute, 40 * time.Minute, 80 * time.Minute}
	for i, w := range want {
		o := l.Ban(BanRequest{Target: a, Policy: p, At: at})
		if o.Verdict != Banned || o.Duration != w || o.Offense != i+1 {
			t.Fatalf("offense %d: %+v, want %v", i+1, o, w)
		}
		at = o.Expires.Add(time.Second)
		l.Expire(at)
	}
	// The cap: 10m × 2^10 is over a week.
	for range 10 {
		o := l.Ban(BanRequest{Target: a, Policy: p, At: at})
		at = o.Expires.Add(time.Second)
		l.Expire(at)
		if o.Duration > 7*24*time.Hour {
			t.Fatalf("duration %v over the cap", o.Duration)
		}
	}
	if d := p.Duration(14); d != 7*24*time.Hour {
		t.Fatalf("Duration(14) = %v", d)
	}
}

func TestLedgerUnban(t *testing.T) {
	l := NewLedger()
	a := single("203.0.113.8")
	l.Ban(BanRequest{Target: a, Policy: &Policy{Name: "x", Ban: time.Hour}, At: t0})
	if !l.Unban(a) || l.Len() != 0 {
		t.Fatal("unban failed")
	}
	if lifted := l.Expire(t0.Add(2 * time.Hour)); len(lifted) != 0 {
		t.Fatalf("stale heap entry lifted %v", lifted)
	}
}

func TestParseTargetCanonical(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.7":         "203.0.113.7/32",
		"::ffff:203.0.113.7":  "203.0.113.7/32",
		"2001:db8::1/64":      "2001:db8::/64",
		"::ffff:10.0.0.0/104": "10.0.0.0/8",
		"10.1.2.3/8":          "10.0.0.0/8",
	} {
		p, err := ParseTarget(in)
		if err != nil || p.String() != want {
			t.Errorf("ParseTarget(%q) = %v, %v; want %s", in, p, err, want)
		}
	}
	for _, bad := range []string{"", "host.example", "1.2.3.4/33", "::ffff:1.2.3.4/64"} {
		if _, err := ParseTarget(bad); err == nil {
			t.Errorf("ParseTarget(%q) accepted", bad)
		}
	}
}

func TestLedgerUnbanRule(t *testing.T) {
	l := NewLedger()
	tgt := netip.MustParsePrefix("203.0.113.9/32")
	at := time.Date(2025, 11, 8, 22, 0, 0, 0, time.UTC)
	short := &Policy{Name: "a", Ban: time.Hour}
	long := &Policy{Name: "b", Ban: 24 * time.Hour}
	l.Ban(BanRequest{Target: tgt, Policy: short, At: at})
	l.Ban(BanRequest{Target: tgt, Policy: long, At: at})
	if ok, until := l.UnbanRule(tgt, "c"); ok || !until.Equal(at.Add(24*time.Hour)) {
		t.Fatalf("lifting a rule that never banned: %v %v", ok, until)
	}
	if ok, until := l.UnbanRule(tgt, "b"); !ok || !until.Equal(at.Add(time.Hour)) {
		t.Fatalf("lifting the longer ban: %v, still until %v, want the shorter one's end", ok, until)
	}
	if u, ok := l.Active(tgt, at); !ok || !u.Equal(at.Add(time.Hour)) {
		t.Fatalf("after lifting b: active %v until %v", ok, u)
	}
	if ok, until := l.UnbanRule(tgt, "a"); !ok || !until.IsZero() {
		t.Fatalf("lifting the last ban: %v %v", ok, until)
	}
	if _, ok := l.Active(tgt, at); ok || l.Len() != 0 {
		t.Fatal("a target with no record left is still banned")
	}
}

// TestExpiryHeapOrder: pushes and pops interleaved, with expiries that
// tie, come out by time then target, as a sorted list gives them (the
// order unbans are emitted and merged in).
func TestExpiryHeapOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h expiryHeap
	var want []expiryItem
	item := func() expiryItem {
		a := netip.AddrFrom4([4]byte{198, 51, 100, byte(rng.IntN(40))})
		at := t0.Add(time.Duration(rng.IntN(50)) * time.Second)
		return expiryItem{target: netip.PrefixFrom(a, 32), at: at}
	}
	byKey := func(a, b expiryItem) int {
		if c := cmp.Compare(a.at.UnixNano(), b.at.UnixNano()); c != 0 {
			return c
		}
		return comparePrefix(a.target, b.target)
	}
	for round := range 2000 {
		for range rng.IntN(4) {
			it := item()
			h.push(it)
			want = append(want, it)
		}
		if len(want) == 0 || round%3 == 0 {
			continue
		}
		slices.SortFunc(want, byKey)
		got := h.pop()
		if byKey(got, want[0]) != 0 {
			t.Fatalf("round %d: pop = %v at %v, want %v at %v", round, got.target, got.at, want[0].target, want[0].at)
		}
		want = want[1:]
	}
	slices.SortFunc(want, byKey)
	for i := range want {
		if got := h.pop(); byKey(got, want[i]) != 0 {
			t.Fatalf("drain %d: pop = %v at %v, want %v at %v", i, got.target, got.at, want[i].target, want[i].at)
		}
	}
	if len(h) != 0 {
		t.Fatalf("heap holds %d items after the drain", len(h))
	}
}
