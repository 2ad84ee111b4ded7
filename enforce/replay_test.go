package enforce

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/pipeline/store"
)

// signed is one message as a sensor published it, kept to be replayed.
type signed struct{ data, key, sig string }

// decision is s's signed decision about target taken at at, lasting d.
func (s sensor) decision(t *testing.T, action pipeline.Action, target string, at time.Time, d time.Duration) signed {
	t.Helper()
	x := pipeline.Decision{ID: fmt.Sprintf("%s-%s-%s-%d", s.name, action, target, at.UnixNano()), Action: action,
		Target: pipeline.MustTarget(target), Rule: "sshd", Reason: "5 failures", At: at, Duration: int64(d / time.Second),
		Expires: at.Add(d), Origin: s.name}
	data, err := json.Marshal(x)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := s.signer.Sign(data)
	if err != nil {
		t.Fatal(err)
	}
	return signed{string(data), s.signer.PublicKey(), sig}
}

func (m signed) judge(t *testing.T, e *Enforcer) Reason {
	t.Helper()
	return judge(t, e, []byte(m.data), m.key, m.sig)
}

func banned(e *Enforcer, target string, at time.Time) bool {
	_, ok := e.eng.Ledger().Active(netip.MustParsePrefix(target+"/32"), at)
	return ok
}

// TestReplayAfterUnban: a ban captured off the bus and replayed after its
// origin lifted it is refused, and so is a replay of the unban after the
// origin's next ban.
func TestReplayAfterUnban(t *testing.T) {
	web1 := newSensor(t, "web1")
	rec := &recorder{}
	e := newEnforcer(t, Policy{Origins: []Origin{{Name: "web1", Key: web1.signer.PublicKey(), MayUnban: true}}}, rec)
	const x = "203.0.113.70"
	ban := web1.decision(t, pipeline.ActionBan, x, now.Add(-time.Minute), time.Hour)
	unban := web1.decision(t, pipeline.ActionUnban, x, now.Add(-30*time.Second), 0)
	for _, step := range []struct {
		name string
		m    signed
		want Reason
	}{
		{"the ban", ban, Accepted},
		{"the ban again", ban, RefusedDuplicate},
		{"the origin's unban", unban, Lifted},
		{"the ban replayed after the unban", ban, RefusedStale},
		{"the unban replayed", unban, RefusedDuplicate},
	} {
		if r := step.m.judge(t, e); r != step.want {
			t.Fatalf("%s: %s, want %s", step.name, r, step.want)
		}
	}
	if banned(e, x, now) {
		t.Fatal("the replayed ban is in force")
	}
	if n := len(rec.got); n != 2 {
		t.Fatalf("the firewall took %d decisions, want the ban and the unban: %+v", n, rec.got)
	}
	// The origin bans again; the old unban, replayed, does not lift it.
	again := web1.decision(t, pipeline.ActionBan, x, now.Add(-time.Second), time.Hour)
	if r := again.judge(t, e); r != Accepted {
		t.Fatalf("the origin's next ban: %s", r)
	}
	if r := unban.judge(t, e); r != RefusedStale || !banned(e, x, now) {
		t.Fatalf("the old unban replayed after the next ban: %s, banned %v", r, banned(e, x, now))
	}
}

// TestReplayLoopKeepsBudget: a captured ban/unban pair replayed a hundred
// times costs the origin no token, so its next five genuine bans (five a
// minute allowed) are all enforced at once.
func TestReplayLoopKeepsBudget(t *testing.T) {
	web1 := newSensor(t, "web1")
	rec := &recorder{}
	e := newEnforcer(t, Policy{Origins: []Origin{{Name: "web1", Key: web1.signer.PublicKey(), MayUnban: true, MaxPerMinute: 5}}}, rec)
	clock := now
	e.SetClock(func() time.Time { return clock })
	const x = "203.0.113.80"
	ban := web1.decision(t, pipeline.ActionBan, x, now.Add(-2*time.Second), time.Hour)
	unban := web1.decision(t, pipeline.ActionUnban, x, now.Add(-time.Second), 0)
	if r := ban.judge(t, e); r != Accepted {
		t.Fatalf("the genuine ban: %s", r)
	}
	if r := unban.judge(t, e); r != Lifted {
		t.Fatalf("the genuine unban: %s", r)
	}
	clock = clock.Add(time.Minute) // the budget is whole again
	for i := range 100 {
		if r := ban.judge(t, e); !r.Refused() {
			t.Fatalf("replay %d of the ban: %s", i, r)
		}
		if r := unban.judge(t, e); !r.Refused() {
			t.Fatalf("replay %d of the unban: %s", i, r)
		}
	}
	for i := range 5 {
		target := fmt.Sprintf("203.0.113.%d", 90+i)
		if r := web1.decision(t, pipeline.ActionBan, target, clock, time.Hour).judge(t, e); r != Accepted {
			t.Fatalf("genuine ban %d after the replays: %s", i, r)
		}
		if !banned(e, target, clock) {
			t.Fatalf("genuine ban %d not in force", i)
		}
	}
	if c := e.Counts(); c[RefusedStale]+c[RefusedDuplicate] != 200 {
		t.Fatalf("counts %v: want the 200 replays counted stale or duplicate", c)
	}
}

// TestDeferredBan: a ban over the origin's rate waits and is enforced
// when a token comes back; one whose expiry passes while it waits is
// never enforced; a full queue drops its oldest.
func TestDeferredBan(t *testing.T) {
	web1 := newSensor(t, "web1")
	rec := &recorder{}
	e := newEnforcer(t, Policy{Origins: []Origin{{Name: "web1", Key: web1.signer.PublicKey(), MaxPerMinute: 2, MaxDeferred: 3}}}, rec)
	clock := now
	e.SetClock(func() time.Time { return clock })
	ban := func(target string, d time.Duration) Reason {
		return web1.decision(t, pipeline.ActionBan, target, clock, d).judge(t, e)
	}
	for _, tc := range []struct {
		target string
		d      time.Duration
		want   Reason
	}{
		{"203.0.113.1", time.Hour, Accepted},
		{"203.0.113.2", time.Hour, Accepted},
		{"203.0.113.3", time.Hour, Deferred},        // the next token, in 30 s
		{"203.0.113.4", 40 * time.Second, Deferred}, // its turn comes after its expiry
		{"203.0.113.5", time.Hour, Deferred},
	} {
		if r := ban(tc.target, tc.d); r != tc.want {
			t.Fatalf("%s: %s, want %s", tc.target, r, tc.want)
		}
	}
	if banned(e, "203.0.113.3", clock) || len(rec.got) != 2 {
		t.Fatalf("a deferred ban was enforced at once: %+v", rec.got)
	}
	if per, _ := e.Deferred(); per["web1"] != 3 {
		t.Fatalf("deferred %v, want 3 for web1", per)
	}
	clock = clock.Add(10 * time.Second)
	e.Tick()
	if banned(e, "203.0.113.3", clock) {
		t.Fatal("enforced before a token came back")
	}
	clock = clock.Add(20 * time.Second)
	e.Tick()
	if !banned(e, "203.0.113.3", clock) || len(rec.got) != 3 {
		t.Fatalf("the deferred ban not enforced when a token came back: %+v", rec.got)
	}
	clock = clock.Add(30 * time.Second) // a token, but .4 expired at +40 s
	e.Tick()
	if banned(e, "203.0.113.4", clock) {
		t.Fatal("a deferred ban enforced after its expiry")
	}
	if !banned(e, "203.0.113.5", clock) {
		t.Fatal("the ban queued behind an expired one was not enforced with the token")
	}
	per, fates := e.Deferred()
	if per["web1"] != 0 || fates[FateApplied] != 2 || fates[FateExpired] != 1 {
		t.Fatalf("deferred %v, fates %v", per, fates)
	}

	// A full queue (3) drops its oldest for the newest.
	for i := range 6 {
		ban(fmt.Sprintf("203.0.113.%d", 20+i), time.Hour)
	}
	if per, fates := e.Deferred(); per["web1"] != 3 || fates[FateDropped] < 1 {
		t.Fatalf("deferred %v, fates %v: want 3 waiting and the oldest dropped", per, fates)
	}
}

// TestMemorySurvivesRestart: what the enforcer applied and what it
// deferred are saved with its ledger; after a restart a replay is still
// refused and the deferred ban still enforced.
func TestMemorySurvivesRestart(t *testing.T) {
	web1 := newSensor(t, "web1")
	pol := Policy{Origins: []Origin{{Name: "web1", Key: web1.signer.PublicKey(), MayUnban: true, MaxPerMinute: 1}}}
	dir := t.TempDir()
	clock := now
	start := func() (*Enforcer, *store.Store, *recorder) {
		st, err := store.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		saved, _, err := st.Load()
		if err != nil {
			t.Fatal(err)
		}
		kept, err := st.Kept()
		if err != nil {
			t.Fatal(err)
		}
		eng := pipeline.NewEngine(NoRules{}, pipeline.Config{Origin: "fw"})
		eng.TrackChanges()
		eng.Restore(nil, saved.Targets, saved.Clock, clock)
		rec := &recorder{}
		e, err := New(pol, eng, rec, nil)
		if err != nil {
			t.Fatal(err)
		}
		e.SetClock(func() time.Time { return clock })
		if bad := e.RestoreMemory(kept); bad != 0 {
			t.Fatalf("%d records did not decode", bad)
		}
		return e, st, rec
	}
	save := func(e *Enforcer, st *store.Store) {
		if err := st.SaveWith(e.TakeChanges(), nil, clock, e.TakeMemory()); err != nil {
			t.Fatal(err)
		}
	}
	e, st, _ := start()
	ban := web1.decision(t, pipeline.ActionBan, "203.0.113.70", now.Add(-time.Minute), time.Hour)
	unban := web1.decision(t, pipeline.ActionUnban, "203.0.113.70", now.Add(-30*time.Second), 0)
	if r := ban.judge(t, e); r != Accepted {
		t.Fatal(r)
	}
	if r := unban.judge(t, e); r != Lifted {
		t.Fatal(r)
	}
	if r := web1.decision(t, pipeline.ActionBan, "203.0.113.71", now, time.Hour).judge(t, e); r != Deferred {
		t.Fatalf("second ban in the minute: %s, want %s", r, Deferred)
	}
	save(e, st)
	st.Close()

	e, st, rec := start()
	defer st.Close()
	if r := ban.judge(t, e); r != RefusedStale {
		t.Fatalf("the ban replayed after a restart: %s, want %s", r, RefusedStale)
	}
	if r := unban.judge(t, e); r != RefusedDuplicate {
		t.Fatalf("the unban replayed after a restart: %s, want %s", r, RefusedDuplicate)
	}
	if per, _ := e.Deferred(); per["web1"] != 1 {
		t.Fatalf("deferred after the restart %v, want 1", per)
	}
	clock = clock.Add(time.Minute)
	e.Tick()
	if !banned(e, "203.0.113.71", clock) || banned(e, "203.0.113.70", clock) || len(rec.got) != 1 {
		t.Fatalf("after the restart the firewall took %+v, want the deferred ban only", rec.got)
	}
	// What was applied is gone from the queue in the state too.
	save(e, st)
	if kept, _ := st.Kept(); len(kept) != 2 {
		t.Fatalf("kept after the deferred ban was applied: %q, want the memory of .70 and .71", kept)
	}
}

// TestMemoryBounds: the memory holds at most remember_max pairs (those due
// to be forgotten soonest go first), forgets each at the later of its
// expiry and the retention, and hands back what a failed save lost.
func TestMemoryBounds(t *testing.T) {
	web1 := newSensor(t, "web1")
	e := newEnforcer(t, Policy{Remember: time.Hour, MaxRemembered: 3,
		Origins: []Origin{{Name: "web1", Key: web1.signer.PublicKey()}}}, &recorder{})
	clock := now
	e.SetClock(func() time.Time { return clock })
	for i := range 5 {
		d := time.Minute
		if i == 0 {
			d = 3 * time.Hour // outlives the retention: forgotten last
		}
		if r := web1.decision(t, pipeline.ActionBan, fmt.Sprintf("203.0.113.%d", 30+i), clock, d).judge(t, e); r != Accepted {
			t.Fatalf("ban %d: %s", i, r)
		}
		clock = clock.Add(time.Second)
	}
	if n, early := e.Remembered(); n != 3 || early != 2 {
		t.Fatalf("remembered %d, forgotten early %d; want 3 and 2", n, early)
	}
	kept := e.TakeMemory()
	e.KeepMemory(kept) // the save failed
	if again := e.TakeMemory(); len(again) != len(kept) {
		t.Fatalf("after a failed save %d records to save, want %d", len(again), len(kept))
	}
	clock = clock.Add(2 * time.Hour)
	e.Tick()
	if n, _ := e.Remembered(); n != 1 {
		t.Fatalf("after the retention %d remembered, want the 3-hour ban's only", n)
	}
	clock = clock.Add(2 * time.Hour)
	e.Tick()
	if n, _ := e.Remembered(); n != 0 {
		t.Fatalf("after its expiry %d remembered, want none", n)
	}
}
