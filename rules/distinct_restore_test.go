package rules

import (
	"fmt"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

const sprayPack = `pack: t
rules:
  - name: spray
    formats: [syslog]
    programs: [sshd]
    failregex: ['^Invalid user <F-USER>\S+</F-USER> from <HOST> port \d+$']
    when: 'distinct(user, addr, "24h") >= 3'
    ban: 1h
`

// TestDistinctSurvivesRestore: what distinct() saw is in the engine's
// changes (whole keys, forgotten ones included), and an engine restored
// from them counts on: two users before a restart and one after make
// three. Restored a day later, it has expired, as in the engine.
func TestDistinctSurvivesRestore(t *testing.T) {
	s := mustSet(t, sprayPack)
	e := pipeline.NewEngine(s, pipeline.Config{Origin: "t"})
	e.TrackChanges()
	for i, u := range []string{"admin", "oracle"} {
		if ds := e.Process(sshLine(time.Duration(i)*time.Second, "Invalid user "+u+" from 203.0.113.9 port 22")); len(ds) != 0 {
			t.Fatalf("%s: %+v", u, ds)
		}
	}
	ch := e.TakeChanges()
	if len(ch.Distinct) != 1 || len(ch.Distinct[0].Values) != 2 {
		t.Fatalf("changes' distinct %+v, want one key with admin and oracle", ch.Distinct)
	}
	if again := e.TakeChanges(); len(again.Distinct) != 0 {
		t.Fatalf("taken twice: %+v", again.Distinct)
	}
	restored := func(clock time.Time) *pipeline.Engine {
		r := pipeline.NewEngine(s, pipeline.Config{Origin: "t"})
		rs := r.NewRestorer()
		rs.Distinct(ch.Distinct, clock)
		rs.Done(clock)
		return r
	}
	r := restored(t0.Add(time.Second))
	ds := r.Process(sshLine(time.Minute, "Invalid user test from 203.0.113.9 port 22"))
	if len(ds) != 1 || ds[0].Rule != "spray" {
		t.Fatalf("the third user after the restore: %+v, want a spray ban", ds)
	}
	r = restored(t0.Add(25 * time.Hour))
	if ds := r.Process(sshLine(25*time.Hour+time.Minute, "Invalid user test from 203.0.113.9 port 22")); len(ds) != 0 {
		t.Fatalf("restored a day later, the old users still counted: %+v", ds)
	}

	// A clock step carries them too (State, Shift, RestoreState).
	st := e.State()
	st.Shift(time.Hour)
	m := pipeline.NewEngine(s, pipeline.Config{Origin: "t"})
	m.RestoreState(st, t0.Add(time.Hour+time.Second), t0.Add(time.Hour+time.Second))
	if ds := m.Process(sshLine(time.Hour+time.Minute, "Invalid user test from 203.0.113.9 port 22")); len(ds) != 1 {
		t.Fatalf("after a clock step: %+v", ds)
	}
}

// TestDistinctForgottenSaved: keys the engine sweeps (nothing seen for a
// day) are in the next changes as forgotten, so the saved state forgets
// them too and stays bounded as the engine is.
func TestDistinctForgottenSaved(t *testing.T) {
	s := mustSet(t, sprayPack)
	e := pipeline.NewEngine(s, pipeline.Config{Origin: "t"})
	e.TrackChanges()
	const n = 4096 // the engine's first sweep
	for i := range n {
		e.Process(sshLine(0, fmt.Sprintf("Invalid user admin from 10.0.%d.%d port 22", i>>8, i&255)))
	}
	if ch := e.TakeChanges(); len(ch.Distinct) != n {
		t.Fatalf("%d keys changed, want %d", len(ch.Distinct), n)
	}
	e.Process(sshLine(25*time.Hour, "Invalid user admin from 192.0.2.1 port 22"))
	forgotten, kept := 0, 0
	for _, d := range e.TakeChanges().Distinct {
		if len(d.Values) == 0 {
			forgotten++
		} else {
			kept++
		}
	}
	if forgotten != n || kept != 1 {
		t.Fatalf("after a day: %d keys forgotten, %d kept; want %d and 1", forgotten, kept, n)
	}
}
