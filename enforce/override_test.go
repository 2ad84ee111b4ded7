package enforce

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

// TestOverride: the administrator's unban lifts every origin's ban of the
// target here; until it ends, no ban of the target is enforced again (the
// same decision redelivered, a newer one, a range over it, one from
// another origin), after a restart too; when it ends, bans apply again.
func TestOverride(t *testing.T) {
	web1, web2 := newSensor(t, "web1"), newSensor(t, "web2")
	pol := Policy{Origins: []Origin{{Name: "web1", Key: web1.signer.PublicKey()}, {Name: "web2", Key: web2.signer.PublicKey()}}}
	rec := &recorder{}
	e := newEnforcer(t, pol, rec)
	clock := now
	e.SetClock(func() time.Time { return clock })
	const x = "203.0.113.80"
	first := web1.decision(t, pipeline.ActionBan, x, now.Add(-time.Minute), time.Hour)
	if r := first.judge(t, e); r != Accepted {
		t.Fatalf("the first ban: %s", r)
	}
	if r := web2.decision(t, pipeline.ActionBan, x, now.Add(-time.Minute), 2*time.Hour).judge(t, e); r != Accepted {
		t.Fatalf("web2's ban: %s", r)
	}
	if _, err := e.Unban(t.Context(), netip.MustParsePrefix("203.0.113.81/32"), "not banned", 0); !errors.Is(err, ErrNotBanned) {
		t.Fatalf("unban of a target not banned: %v", err)
	}
	ov, err := e.Unban(t.Context(), netip.MustParsePrefix(x+"/32"), "our monitoring host", 0)
	if err != nil {
		t.Fatal(err)
	}
	if !ov.Until.Equal(now.Add(-time.Minute).Add(2*time.Hour)) || len(ov.Origins) != 2 {
		t.Fatalf("override %+v, want until web2's ban ends, over both origins", ov)
	}
	if last := rec.got[len(rec.got)-1]; last.Action != pipeline.ActionUnban || last.Target.String() != x || banned(e, x, now) {
		t.Fatalf("the firewall got %+v; banned %v", last, banned(e, x, now))
	}
	if bans := e.Bans(); len(bans) != 0 {
		t.Fatalf("bans after the override: %+v", bans)
	}
	for _, step := range []struct {
		name string
		m    signed
		want Reason
	}{
		{"the first ban redelivered", first, RefusedDuplicate},
		{"a newer ban", web1.decision(t, pipeline.ActionBan, x, now.Add(-time.Second), time.Hour), RefusedOverride},
		{"a range over it", web2.decision(t, pipeline.ActionBan, "203.0.113.0/24", now.Add(-time.Second), time.Hour), RefusedOverride},
		{"another target", web1.decision(t, pipeline.ActionBan, "203.0.113.90", now.Add(-time.Second), time.Hour), Accepted},
	} {
		if r := step.m.judge(t, e); r != step.want {
			t.Fatalf("%s: %s, want %s", step.name, r, step.want)
		}
	}
	if banned(e, x, now) {
		t.Fatal("the overridden target is banned again")
	}

	// A restart: the override comes back from the state.
	e2 := newEnforcer(t, pol, &recorder{})
	e2.SetClock(func() time.Time { return clock })
	if bad := e2.RestoreMemory(e.TakeMemory()); bad != 0 {
		t.Fatalf("%d records did not restore", bad)
	}
	if got := e2.Overrides(); len(got) != 1 || got[0].Target.String() != x+"/32" || got[0].Reason != "our monitoring host" {
		t.Fatalf("overrides after restart: %+v", got)
	}
	if r := web1.decision(t, pipeline.ActionBan, x, now, time.Hour).judge(t, e2); r != RefusedOverride {
		t.Fatalf("after the restart: %s", r)
	}

	// Past its end the target is judged as any other.
	clock = ov.Until.Add(time.Second)
	e.Tick()
	if r := web1.decision(t, pipeline.ActionBan, x, clock, time.Hour).judge(t, e); r != Accepted {
		t.Fatalf("after the override: %s", r)
	}
	if len(e.Overrides()) != 0 {
		t.Fatal("an expired override is still listed")
	}
}

// TestBansList: each origin's ban with the sensor's rule and decision id.
func TestBansList(t *testing.T) {
	web1 := newSensor(t, "web1")
	e := newEnforcer(t, Policy{Origins: []Origin{{Name: "web1", Key: web1.signer.PublicKey()}}}, &recorder{})
	e.SetClock(func() time.Time { return now })
	m := web1.decision(t, pipeline.ActionBan, "203.0.113.7", now.Add(-time.Minute), time.Hour)
	m.judge(t, e)
	bans := e.Bans()
	if len(bans) != 1 || bans[0].Origin != "web1" || bans[0].Rule != "sshd" || bans[0].ID == "" ||
		!bans[0].Expires.Equal(now.Add(-time.Minute).Add(time.Hour)) {
		t.Fatalf("bans %+v", bans)
	}
}
