package enforce

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/sources/bus"
)

// TestVerifier: a correlator's verifier refuses what a firewall would,
// apart from what needs a firewall's ledger.
func TestVerifier(t *testing.T) {
	web1, web2, rogue := newSensor(t, "web1"), newSensor(t, "web2"), newSensor(t, "rogue")
	v, err := NewVerifier(Policy{
		Origins: []Origin{{Name: "web1", Key: web1.signer.PublicKey(), MaxPerMinute: 2}, {Name: "web2", Key: web2.signer.PublicKey(), MayUnban: true}},
		Allow:   []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")},
	})
	if err != nil {
		t.Fatal(err)
	}
	v.SetClock(func() time.Time { return now })
	check := func(name string, data []byte, key, sig string, want Reason) {
		t.Helper()
		var d pipeline.Decision
		if r := v.Verify(&Message{Data: data, Signer: key, Sig: sig}, &d); r != want {
			t.Errorf("%s: %s, want %s", name, r, want)
		}
	}
	data, key, sig := web1.msg(t, pipeline.ActionBan, "203.0.113.7", time.Hour)
	check("unsigned", data, "", "", RefusedUnsigned)
	_, _, rsig := rogue.msg(t, pipeline.ActionBan, "203.0.113.7", time.Hour)
	check("forged", data, key, rsig, RefusedForged)
	rdata, rkey, rsig := rogue.msg(t, pipeline.ActionBan, "203.0.113.7", time.Hour)
	check("unknown origin", rdata, rkey, rsig, RefusedUnknown)
	rdata, _, _ = web1.msg(t, pipeline.ActionBan, "203.0.113.8", time.Hour)
	check("wrong key", rdata, rkey, signWith(t, rogue, rdata), RefusedWrongKey)
	check("genuine", data, key, sig, Accepted)
	from := func(name string, s sensor, action pipeline.Action, target string, d time.Duration, want Reason) {
		t.Helper()
		data, key, sig := s.msg(t, action, target, d)
		check(name, data, key, sig, want)
	}
	from("allowlisted", web1, pipeline.ActionBan, "198.51.100.7", time.Hour, RefusedAllowlisted)
	from("private", web1, pipeline.ActionBan, "10.0.0.7", time.Hour, RefusedSpecial)
	from("too broad", web1, pipeline.ActionBan, "203.0.0.0/8", time.Hour, RefusedTooBroad)
	from("unban not allowed", web1, pipeline.ActionUnban, "203.0.113.7", 0, RefusedUnban)
	from("allowed unban", web2, pipeline.ActionUnban, "203.0.113.7", 0, Accepted)
	from("second of the minute", web1, pipeline.ActionBan, "203.0.113.9", time.Hour, Accepted)
	from("third of the minute", web1, pipeline.ActionBan, "203.0.113.10", time.Hour, RefusedRate)
	from("run its course: still evidence", web2, pipeline.ActionBan, "203.0.113.11", -time.Minute, Accepted)
}

func signWith(t *testing.T, s sensor, data []byte) string {
	t.Helper()
	sig, err := s.signer.Sign(data)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// TestVerifierWarmUp: decisions read again to warm up a Kafka partition
// are rated by when each was stored, in a bucket of their own: a day of
// an origin's bans at its rate passes at once and leaves the live rate
// whole; a burst stored within a minute is refused past the rate, as it
// was live; the other checks hold as for a live delivery.
func TestVerifierWarmUp(t *testing.T) {
	web1, rogue := newSensor(t, "web1"), newSensor(t, "rogue")
	v, err := NewVerifier(Policy{Origins: []Origin{{Name: "web1", Key: web1.signer.PublicKey(), MaxPerMinute: 2}}})
	if err != nil {
		t.Fatal(err)
	}
	v.SetClock(func() time.Time { return now })
	deliver := func(s sensor, target string, stored time.Time, warm bool) string {
		t.Helper()
		data, key, sig := s.msg(t, pipeline.ActionBan, target, time.Hour)
		var x pipeline.Decision
		return v.VerifyDelivery(&bus.Delivery{Data: data, Signer: key, Sig: sig, Stored: stored, WarmUp: warm}, &x)
	}
	day := now.Add(-24 * time.Hour)
	for i := range 100 { // two a minute, over 50 minutes of a day ago
		if r := deliver(web1, fmt.Sprintf("203.0.113.%d", i), day.Add(time.Duration(i)*30*time.Second), true); r != "" {
			t.Fatalf("warm-up %d, at its origin's rate: refused %s", i, r)
		}
	}
	for i := range 2 {
		if r := deliver(web1, fmt.Sprintf("203.0.114.%d", i), now, false); r != "" {
			t.Errorf("live %d after the warm-up: refused %s, want the live rate whole", i, r)
		}
	}
	burst := now.Add(-time.Hour)
	var refused int
	for i := range 10 {
		if deliver(web1, fmt.Sprintf("203.0.115.%d", i), burst, true) == string(RefusedRate) {
			refused++
		}
	}
	if refused != 8 {
		t.Errorf("a warm-up burst of 10 stored in one instant: %d refused for rate, want 8", refused)
	}
	if r := deliver(rogue, "203.0.116.1", day, true); r != string(RefusedUnknown) {
		t.Errorf("warm-up from an unknown origin: %q, want %s", r, RefusedUnknown)
	}
}
