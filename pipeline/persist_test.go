package pipeline

import (
	"testing"
	"time"
)

// TestRestoreKeepsWindowsAndBans: an attacker at 4 of 5 failures before a
// restart is banned at the 5th after it; an active ban survives, an expired
// one does not, and offense history keeps escalating.
func TestRestoreKeepsWindowsAndBans(t *testing.T) {
	p := &Policy{ID: 0, Name: "sshd", Threshold: 5, Window: 10 * time.Minute, Ban: 10 * time.Minute,
		Escalate: &Escalation{Factor: 2, Max: 7 * 24 * time.Hour}, Evidence: 2}
	e := NewEngine(addrMatcher{p}, Config{Origin: "t"})
	e.TrackChanges()
	for i := range 4 {
		e.Process(ev("203.0.113.1", time.Duration(i)*time.Second))
	}
	// A second address banned twice: offense history 2, second ban active.
	for round := range 2 {
		for i := range 5 {
			e.Process(ev("203.0.113.2", time.Duration(round)*time.Hour+time.Duration(i)*time.Second))
		}
	}
	ch := e.TakeChanges()
	// The window quotes its last two lines by number; the lines come once,
	// beside the windows.
	if len(ch.Windows) != 1 || len(ch.Windows[0].Times) != 4 || len(ch.Windows[0].Lines) != 2 {
		t.Fatalf("windows %+v", ch.Windows)
	}
	checkQuoted(t, ch)
	if len(ch.GoneWindows) != 1 { // 203.0.113.2's window fired (twice, same id)
		t.Fatalf("gone %v", ch.GoneWindows)
	}
	if len(ch.Targets) != 1 || ch.Targets[0].Offenses != 2 || len(ch.Targets[0].Records) != 1 {
		t.Fatalf("targets %+v", ch.Targets)
	}
	if ch2 := e.TakeChanges(); !ch2.Empty() {
		t.Fatalf("changes not cleared: %+v", ch2)
	}

	now := t0.Add(time.Hour + 10*time.Second)
	r := NewEngine(addrMatcher{p}, Config{Origin: "t"})
	r.RestoreState(ch, now, now)
	if _, ok := r.Ledger().Active(single("203.0.113.2"), now); !ok {
		t.Fatal("active ban lost")
	}
	ds := r.Process(ev("203.0.113.1", time.Hour+11*time.Second))
	// The window spans more than 10 minutes now (0s … 1h): the 5th failure
	// is an hour after the first four, so no ban; restore the clock drift:
	if len(ds) != 0 {
		t.Fatalf("banned across an hour: %+v", ds)
	}
	r2 := NewEngine(addrMatcher{p}, Config{Origin: "t"})
	r2.RestoreState(ch, t0.Add(5*time.Second), t0.Add(5*time.Second))
	ds = r2.Process(ev("203.0.113.1", 5*time.Second))
	if len(ds) != 1 || ds[0].Target.String() != "203.0.113.1" || len(ds[0].Evidence) != 2 {
		t.Fatalf("5th failure after restart: %+v", ds)
	}
	// Escalation continues from the restored history: offense 3 → 40 min.
	later := t0.Add(5 * time.Hour)
	var got []Decision
	for i := range 5 {
		got = append(got, r2.Process(ev("203.0.113.2", 5*time.Hour+time.Duration(i)*time.Second))...)
	}
	if len(got) != 1 || got[0].Offense != 3 || got[0].Duration != 2400 {
		t.Fatalf("escalation after restore: %+v (at %v)", got, later)
	}
	// An expired record is not restored.
	r3 := NewEngine(addrMatcher{p}, Config{Origin: "t"})
	r3.Restore(nil, ch.Targets, later, later)
	if r3.Ledger().Len() != 0 || r3.Ledger().Offenses(single("203.0.113.2")) != 2 {
		t.Fatalf("expired ban restored or history lost")
	}
}

func TestReloadKeepsWindowsByName(t *testing.T) {
	a := &Policy{ID: 0, Name: "a", Threshold: 3, Window: time.Minute, Ban: time.Minute}
	e := NewEngine(addrMatcher{a}, Config{})
	e.Process(ev("192.0.2.1", 0))
	e.Process(ev("192.0.2.1", time.Second))
	// Reload: same rule, now at ID 1 behind a new rule 0.
	a2 := &Policy{ID: 1, Name: "a", Threshold: 3, Window: time.Minute, Ban: time.Minute}
	e.SetMatcher(twoMatcher{&Policy{ID: 0, Name: "new"}, a2})
	ds := e.Process(ev("192.0.2.1", 2*time.Second))
	if len(ds) != 1 || ds[0].Rule != "a" {
		t.Fatalf("window lost across reload: %+v", ds)
	}
}

type twoMatcher struct{ other, p *Policy }

func (m twoMatcher) Match(ev *Event, hits []Hit) []Hit {
	return append(hits, Hit{Policy: m.p, Target: ev.Addr})
}
func (m twoMatcher) Policies() []*Policy { return []*Policy{m.other, m.p} }

// TestStateShift: the engine's whole state, moved by a wall-clock step
// and restored into a new engine, keeps each window's matches and each
// ban the time they had left; nothing is lost or added on the way.
func TestStateShift(t *testing.T) {
	p := &Policy{ID: 0, Name: "sshd", Threshold: 5, Window: 10 * time.Minute, Ban: 10 * time.Minute,
		Escalate: &Escalation{Factor: 2, Max: 7 * 24 * time.Hour}, Evidence: 2}
	e := NewEngine(addrMatcher{p}, Config{Origin: "t"})
	for i := range 4 {
		e.Process(ev("203.0.113.1", time.Duration(i)*time.Second))
	}
	for i := range 5 {
		e.Process(ev("203.0.113.2", time.Duration(i)*time.Second))
	}
	st := e.State()
	if len(st.Windows) != 1 || len(st.Windows[0].Times) != 4 || len(st.Targets) != 1 || len(st.Targets[0].Records) != 1 {
		t.Fatalf("state %+v", st)
	}
	const step = -3 * time.Hour
	st.Shift(step)
	now := t0.Add(step + 5*time.Second)
	r := NewEngine(addrMatcher{p}, Config{Origin: "t"})
	r.Restore(st.Windows, st.Targets, now, now)
	if until, ok := r.Ledger().Active(single("203.0.113.2"), now); !ok || !until.Equal(t0.Add(step+4*time.Second+10*time.Minute)) {
		t.Fatalf("the ban after the step: until %v (active %v)", until, ok)
	}
	// What the ban's decision said, and the history, move with it.
	if inv := r.Ledger().Inventory(now); len(inv) != 1 || !inv[0].Info.At.Equal(t0.Add(step+4*time.Second)) || len(inv[0].Info.Evidence) != 2 {
		t.Fatalf("the inventory after the step: %+v", inv)
	}
	if h := r.Ledger().History(single("203.0.113.2")); len(h) != 1 || !h[0].At.Equal(t0.Add(step+4*time.Second)) {
		t.Fatalf("the history after the step: %+v", h)
	}
	if got := r.State(); len(got.Windows) != 1 || got.Windows[0].Times[0] != t0.Add(step).UnixNano() {
		t.Fatalf("the window after the step: %+v", got.Windows)
	}
	// The 5th failure, 5s after the first four in the new clock's time.
	ds := r.Process(ev("203.0.113.1", step+5*time.Second))
	if len(ds) != 1 || ds[0].Target.String() != "203.0.113.1" {
		t.Fatalf("5th failure after the step: %+v", ds)
	}
}

// checkQuoted: the lines a window quotes by number are in the changes.
func checkQuoted(t *testing.T, ch Changes) {
	t.Helper()
	quoted := map[uint64]string{}
	for _, l := range ch.Lines {
		quoted[l.Seq] = l.Line
	}
	for _, w := range ch.Windows {
		for _, seq := range w.Lines {
			if quoted[seq] == "" {
				t.Fatalf("line %d of the window is not in the changes: %+v", seq, ch.Lines)
			}
		}
	}
}
