package pipeline

import (
	"fmt"
	"testing"
	"time"
)

// TestReasonOfMatchesReason: the cached reason of a rule is the text
// reason makes, whatever the signatures (more than the cache holds), and
// follows a Policy whose text changed or another Policy with the same ID
// (a manual ban's).
func TestReasonOfMatchesReason(t *testing.T) {
	e := newTestEngine(1, Config{})
	alert := &Policy{ID: 0, Name: "suricata-p2", Description: "Suricata priority 2 alerts", Threshold: 3, Window: 10 * time.Minute}
	check := func(p *Policy, sig string) {
		t.Helper()
		if got, want := e.reasonOf(p, sig), reason(p, sig); got != want {
			t.Fatalf("reasonOf(%s, %q) = %q, want %q", p.Name, sig, got, want)
		}
	}
	for i := range 3 * maxReasonSignatures {
		check(alert, fmt.Sprintf("ET SCAN signature %d", i%(maxReasonSignatures+7)))
		check(alert, "")
		if n := len(e.reasons[alert.ID].sigs); n > maxReasonSignatures {
			t.Fatalf("%d reasons with a signature kept, at most %d", n, maxReasonSignatures)
		}
	}
	manual := &Policy{ID: 0, Name: "operator", Threshold: 1}
	check(manual, "")
	check(alert, "ET SCAN signature 1")
	alert.Description, alert.Threshold, alert.Window = "", 5, time.Hour
	check(alert, "ET SCAN signature 1")
	check(alert, "")
}

// TestReasonOfOwnsItsKey: a signature read from a reused buffer is not
// kept as the cache's key: the next line's bytes would change it.
func TestReasonOfOwnsItsKey(t *testing.T) {
	e := newTestEngine(1, Config{})
	p := &Policy{ID: 0, Name: "alert", Threshold: 1}
	buf := []byte("ET POLICY one")
	sig := UnsafeString(buf)
	first := e.reasonOf(p, sig)
	copy(buf, "ET POLICY two")
	if got := e.reasonOf(p, "ET POLICY one"); got != first || got != "alert: ET POLICY one" {
		t.Fatalf("reasonOf after the buffer changed = %q, want %q", got, "alert: ET POLICY one")
	}
	if got := e.reasonOf(p, sig); got != "alert: ET POLICY two" {
		t.Fatalf("reasonOf(new bytes) = %q", got)
	}
}

// TestRestoredHistoryReplacesBansCopy: a ban keeps its target's offense
// log for the next rule's request; a restore that replaces the log must
// be what the next ban escalates from.
func TestRestoredHistoryReplacesBansCopy(t *testing.T) {
	e := newTestEngine(1, Config{})
	target := single("203.0.113.9")
	short := &Policy{Name: "short", Ban: time.Minute, Threshold: 1}
	long := &Policy{Name: "long", Ban: time.Hour, Threshold: 1, Escalate: &Escalation{Factor: 2, Max: 1000 * time.Hour}}
	if o := e.ledger.Ban(BanRequest{Target: target, Policy: short, At: t0}); o.Verdict != Banned || o.Offense != 1 {
		t.Fatalf("first ban: %+v", o)
	}
	e.NewRestorer().Targets([]TargetState{{Target: target, Offenses: 10}}, t0)
	o := e.ledger.Ban(BanRequest{Target: target, Policy: long, At: t0.Add(time.Second)})
	if o.Offense != 11 || o.Duration != long.Duration(11) {
		t.Fatalf("ban after the restore: offense %d for %s, want 11 for %s (the restored log's)", o.Offense, o.Duration, long.Duration(11))
	}
}

// TestBanInfoOnceWritten: the BanInfo allocated with a ban is written
// once; a later ban of the same target (its record run out, not yet
// swept) gets its own, so saved state taken before keeps what it said.
func TestBanInfoOnceWritten(t *testing.T) {
	e := newTestEngine(1, Config{})
	e.Process(ev("203.0.113.9", 0))
	target := single("203.0.113.9")
	before := e.ledger.state(target)
	if len(before.Records) != 1 || before.Records[0].Info == nil {
		t.Fatalf("state after a ban: %+v", before)
	}
	saved := *before.Records[0].Info
	l := e.ledger
	p := &Policy{Name: "r", Pack: "other", Ban: time.Hour, Threshold: 1}
	o := l.Ban(BanRequest{Target: target, Policy: p, At: t0.Add(2 * time.Hour)})
	if o.Verdict != Banned {
		t.Fatalf("ban after the first ran out: %v", o.Verdict)
	}
	x := e.decision(ActionBan, target, p, &Event{Time: t0.Add(2 * time.Hour), Line: "another"}, o, nil)
	l.noteBan(target, o, &x)
	if got := *before.Records[0].Info; got.Pack != saved.Pack || !got.At.Equal(saved.At) {
		t.Fatalf("the first ban's saved info changed to %+v, was %+v", got, saved)
	}
	if after := l.state(target); len(after.Records) != 1 || after.Records[0].Info.Pack != "other" {
		t.Fatalf("state after the second ban: %+v", after.Records)
	}
}

// TestExpiryOfALiftedBan: an expiry pushed for a ban an operator lifted
// must not lift the ban the target got since.
func TestExpiryOfALiftedBan(t *testing.T) {
	l := NewLedger()
	target := single("203.0.113.9")
	p := &Policy{Name: "r", Ban: time.Hour, Threshold: 1}
	l.Ban(BanRequest{Target: target, Policy: p, At: t0})
	if !l.Unban(target) {
		t.Fatal("Unban: not banned")
	}
	l.Ban(BanRequest{Target: target, Policy: p, At: t0.Add(2 * time.Minute)})
	if lifted := l.Expire(t0.Add(time.Hour)); len(lifted) != 0 {
		t.Fatalf("the lifted ban's expiry lifted %v", lifted)
	}
	if _, ok := l.Active(target, t0.Add(time.Hour)); !ok {
		t.Fatal("the second ban is gone an hour after the first")
	}
	if lifted := l.Expire(t0.Add(time.Hour + 2*time.Minute)); len(lifted) != 1 || lifted[0] != target {
		t.Fatalf("Expire at the second ban's end lifted %v", lifted)
	}
}
