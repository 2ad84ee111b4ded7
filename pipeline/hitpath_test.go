package pipeline

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/pipeline/guard"
)

// TestAllowedHitFollowsTheGuard: the guard's answer a hit remembers for
// its target is asked again once the guard changes: an address the host
// gains between two lines of the same attacker is spared from the next
// line on, and one it loses is banned again.
func TestAllowedHitFollowsTheGuard(t *testing.T) {
	g := guard.New()
	e := newTestEngine(1, Config{Guard: g})
	a := "203.0.113.7"
	if ds := e.Process(ev(a, 0)); len(ds) != 1 {
		t.Fatalf("%s not banned before the guard protects it", a)
	}
	e.Unban(netip.MustParsePrefix(a+"/32"), "test", t0)
	g.Set(guard.Own, []netip.Prefix{netip.MustParsePrefix(a + "/32")})
	if ds := e.Process(ev(a, time.Second)); len(ds) != 0 {
		t.Fatalf("%s banned after the guard took it", a)
	}
	g.Set(guard.Own, nil)
	if ds := e.Process(ev(a, 2*time.Second)); len(ds) != 1 {
		t.Fatalf("%s not banned after the guard let it go", a)
	}
	if st := e.Stats()[0]; st.Allowlisted != 1 {
		t.Errorf("allowlisted = %d, want 1", st.Allowlisted)
	}
}

// TestGuardGeneration: every change of the guard's sets moves its
// generation.
func TestGuardGeneration(t *testing.T) {
	g := guard.New()
	seen := []uint64{g.Generation()}
	for i := range 3 {
		g.Set("allow", []netip.Prefix{netip.MustParsePrefix(fmt.Sprintf("192.0.2.%d/32", i))})
		if n := g.Generation(); slices.Contains(seen, n) {
			t.Fatalf("generation %d after change %d was seen before (%v)", n, i, seen)
		} else {
			seen = append(seen, n)
		}
	}
	var none *guard.Guard
	if none.Generation() != 0 {
		t.Error("a nil guard has a generation")
	}
}

// TestWindowEvidenceOnlyForNewBans: the lines of a window are copied
// out only when its firing makes a new ban (Counter.fired), and that
// ban quotes exactly its own window's lines, as when every firing
// copied them: not those of the windows that fired while it was banned.
func TestWindowEvidenceOnlyForNewBans(t *testing.T) {
	p := &Policy{ID: 0, Name: "r", Pack: "p", Threshold: 2, Window: 10 * time.Minute, Ban: time.Minute, Evidence: 2}
	e := NewEngine(addrMatcher{p}, Config{Origin: "test"})
	var bans [][]string
	for i := range 12 {
		x := ev("203.0.113.9", time.Duration(i)*10*time.Second)
		x.Line = fmt.Sprintf("line %d", i)
		for _, d := range e.Process(x) {
			bans = append(bans, d.Evidence)
		}
	}
	// Windows fire at every second line: at 10 s a ban until 70 s, at
	// 30 s and 50 s banned already, at 70 s (the ban has run out) a new
	// one that quotes lines 6 and 7, at 90 s and 110 s banned already.
	want := [][]string{{"line 0", "line 1"}, {"line 6", "line 7"}}
	if fmt.Sprint(bans) != fmt.Sprint(want) {
		t.Fatalf("evidence of the bans %q, want %q", bans, want)
	}
	if st := e.Stats()[0]; st.AlreadyBanned != 4 || st.Bans != 2 {
		t.Errorf("stats %+v", st)
	}
}
