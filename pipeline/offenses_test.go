package pipeline

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// TestHistoryCompact: the history keeps the last MaxHistory decisions in
// order, each with its own strings and its times in their own zones,
// however many distinct reasons went by (its names are gathered again,
// bounded), and survives a save and a restore unchanged.
func TestHistoryCompact(t *testing.T) {
	l := NewLedger()
	target := netip.MustParsePrefix("203.0.113.7/32")
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skip("no zone data:", err)
	}
	var want []HistoryEntry
	for i := range 1000 {
		loc := time.UTC
		if i%3 == 0 {
			loc = paris
		}
		e := HistoryEntry{At: t0.Add(time.Duration(i) * time.Minute).In(loc), Action: "ban", Rule: fmt.Sprintf("rule-%d", i%5),
			Origin: "sensor", Reason: fmt.Sprintf("reason %d", i), Offense: i + 1}
		if i%7 == 0 {
			e.Action = "unban"
		} else {
			e.Expires = e.At.Add(time.Hour)
		}
		l.note(target, e)
		want = append(want, e)
	}
	want = want[len(want)-MaxHistory:]
	check := func(what string, got []HistoryEntry) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d entries, want %d", what, len(got), len(want))
		}
		for i := range want {
			g, w := got[i], want[i]
			if g.Action != w.Action || g.Rule != w.Rule || g.Origin != w.Origin || g.Reason != w.Reason || g.Offense != w.Offense ||
				!g.At.Equal(w.At) || g.At.Location() != w.At.Location() || !g.Expires.Equal(w.Expires) || g.Expires.IsZero() != w.Expires.IsZero() {
				t.Fatalf("%s: entry %d = %+v, want %+v", what, i, g, w)
			}
		}
	}
	check("history", l.History(target))
	if h := l.history[target]; len(h.names) > maxLogNames {
		t.Errorf("%d names held, want at most %d", len(h.names), maxLogNames)
	}
	e2 := NewEngine(addrMatcher{&Policy{Name: "r", Threshold: 1, Ban: time.Hour}}, Config{})
	e2.NewRestorer().Targets([]TargetState{l.state(target)}, t0)
	check("restored", e2.ledger.History(target))
}
