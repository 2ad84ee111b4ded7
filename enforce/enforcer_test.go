package enforce

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/pipeline/sign"
)

// recorder is a local sink that keeps what it was asked to enforce; fail
// makes its next writes fail (a firewall that cannot be updated).
type recorder struct {
	got  []pipeline.Decision
	fail int
}

func (r *recorder) Write(_ context.Context, ds []pipeline.Decision) error {
	if r.fail > 0 {
		r.fail--
		return errors.New("netlink: device busy")
	}
	r.got = append(r.got, ds...)
	return nil
}
func (r *recorder) Close(context.Context) error { return nil }

type sensor struct {
	name   string
	signer *sign.Signer
}

func newSensor(t *testing.T, name string) sensor {
	seed, _, err := sign.Generate()
	if err != nil {
		t.Fatal(err)
	}
	s, _ := sign.NewSigner(seed)
	return sensor{name: name, signer: s}
}

var now = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

// msg is a signed decision of s about target, lasting d from now.
func (s sensor) msg(t *testing.T, action pipeline.Action, target string, d time.Duration) ([]byte, string, string) {
	t.Helper()
	p, perr := pipeline.ParseTarget(target)
	x := pipeline.Decision{ID: fmt.Sprintf("%s-%s-%s-%d", s.name, action, target, d), Action: action, Target: pipeline.TargetOf(p),
		Rule: "sshd", Reason: "5 failures", At: now.Add(-time.Second), Duration: int64(d / time.Second),
		Expires: now.Add(-time.Second).Add(d), Origin: s.name}
	data, err := json.Marshal(x)
	if err != nil {
		t.Fatal(err)
	}
	if perr != nil { // what a sensor could sign but a Decision cannot hold
		data = bytes.Replace(data, []byte(`"target":""`), []byte(`"target":`+strconv.Quote(target)), 1)
	}
	sig, err := s.signer.Sign(data)
	if err != nil {
		t.Fatal(err)
	}
	return data, s.signer.PublicKey(), sig
}

func newEnforcer(t *testing.T, pol Policy, sink pipeline.Sink) *Enforcer {
	t.Helper()
	eng := pipeline.NewEngine(NoRules{}, pipeline.Config{Origin: "fw"})
	e, err := New(pol, eng, sink, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.SetClock(func() time.Time { return now })
	return e
}

func judge(t *testing.T, e *Enforcer, data []byte, key, sig string) Reason {
	t.Helper()
	r, err := e.Judge(t.Context(), data, key, sig)
	if err != nil {
		t.Fatalf("Judge: %v", err)
	}
	return r
}

func TestTrust(t *testing.T) {
	web1, web2, rogue := newSensor(t, "web1"), newSensor(t, "web2"), newSensor(t, "rogue")
	pol := Policy{
		Origins: []Origin{{Name: "web1", Key: web1.signer.PublicKey()}, {Name: "web2", Key: web2.signer.PublicKey(), MayUnban: true}},
		Allow:   []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")},
		Permit:  []netip.Prefix{netip.MustParsePrefix("10.66.0.0/16")},
	}
	rec := &recorder{}
	e := newEnforcer(t, pol, rec)
	data, key, sig := web1.msg(t, pipeline.ActionBan, "203.0.113.7", time.Hour)
	forgedKey := rogue.signer.PublicKey()
	// web1's name, rogue's signature over the same bytes.
	rogueSig, _ := rogue.signer.Sign(data)
	tampered := []byte(strings.Replace(string(data), "203.0.113.7", "203.0.113.8", 1))

	for _, tc := range []struct {
		name      string
		data      []byte
		key, sig  string
		want      Reason
		sinkTakes int
	}{
		{"signed by the origin's key", data, key, sig, Accepted, 1},
		{"the same again", data, key, sig, RefusedDuplicate, 0},
		{"unsigned", data, "", "", RefusedUnsigned, 0},
		{"altered after signing", tampered, key, sig, RefusedForged, 0},
		{"signed by another key in the origin's name", data, forgedKey, rogueSig, RefusedWrongKey, 0},
		{"signature of another message", tampered, forgedKey, rogueSig, RefusedForged, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(rec.got)
			if got := judge(t, e, tc.data, tc.key, tc.sig); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
			if n := len(rec.got) - before; n != tc.sinkTakes {
				t.Fatalf("the firewall took %d decisions, want %d", n, tc.sinkTakes)
			}
		})
	}
	if d := rec.got[0]; d.Target.String() != "203.0.113.7" || !d.Expires.Equal(now.Add(time.Hour-time.Second)) || d.Origin != "web1" {
		t.Fatalf("enforced %+v", d)
	}

	for _, tc := range []struct {
		name   string
		s      sensor
		action pipeline.Action
		target string
		d      time.Duration
		want   Reason
	}{
		{"unknown origin, well signed", rogue, pipeline.ActionBan, "203.0.113.9", time.Hour, RefusedUnknown},
		{"already expired", web1, pipeline.ActionBan, "203.0.113.10", 0, RefusedExpired},
		{"allowlisted address", web1, pipeline.ActionBan, "198.51.100.4", time.Hour, RefusedAllowlisted},
		{"range over the allowlist", web1, pipeline.ActionBan, "198.51.0.0/16", time.Hour, RefusedAllowlisted},
		{"private address", web1, pipeline.ActionBan, "192.168.1.20", time.Hour, RefusedSpecial},
		{"loopback", web1, pipeline.ActionBan, "127.0.0.2", time.Hour, RefusedSpecial},
		{"IPv4-mapped loopback", web1, pipeline.ActionBan, "::ffff:127.0.0.2", time.Hour, RefusedSpecial},
		{"link-local IPv6", web1, pipeline.ActionBan, "fe80::1", time.Hour, RefusedSpecial},
		{"unique local IPv6", web1, pipeline.ActionBan, "fd00::7", time.Hour, RefusedSpecial},
		{"range holding private space", web1, pipeline.ActionBan, "10.0.0.0/7", time.Hour, RefusedSpecial},
		{"private but permitted", web1, pipeline.ActionBan, "10.66.3.4", time.Hour, Accepted},
		{"a /8", web1, pipeline.ActionBan, "45.0.0.0/8", time.Hour, RefusedTooBroad},
		{"the IPv6 internet", web1, pipeline.ActionBan, "2000::/3", time.Hour, RefusedTooBroad},
		{"a /24", web1, pipeline.ActionBan, "45.1.2.0/24", time.Hour, Accepted},
		{"unban by an origin that may not", web1, pipeline.ActionUnban, "203.0.113.7", 0, RefusedUnban},
		{"unban of a ban it never made", web2, pipeline.ActionUnban, "203.0.113.7", 0, AlreadyEnforced},
		{"garbage action", web1, "allow", "203.0.113.7", time.Hour, RefusedMalformed},
		{"garbage target", web1, pipeline.ActionBan, "example.com", time.Hour, RefusedMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, key, sig := tc.s.msg(t, tc.action, tc.target, tc.d)
			if got := judge(t, e, data, key, sig); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
	if _, ok := e.eng.Ledger().Active(netip.MustParsePrefix("203.0.113.7/32"), now); !ok {
		t.Fatal("a refused unban lifted the ban")
	}
	counts := e.Counts()
	if counts[RefusedForged] != 2 || counts[RefusedUnsigned] != 1 || counts[Accepted] != 3 {
		t.Fatalf("counts %v", counts)
	}
}

// TestLimits: a flood from one origin is cut at its rate (what is over
// it waits for tokens) and at its active bans, without touching another
// origin's; the rate recovers.
func TestLimits(t *testing.T) {
	web1, web2 := newSensor(t, "web1"), newSensor(t, "web2")
	pol := Policy{Origins: []Origin{
		{Name: "web1", Key: web1.signer.PublicKey(), MaxPerMinute: 3, MaxActive: 5},
		{Name: "web2", Key: web2.signer.PublicKey()},
	}}
	e := newEnforcer(t, pol, &recorder{})
	clock := now
	e.SetClock(func() time.Time { return clock })
	ban := func(s sensor, i int) Reason {
		// Decisions are stamped at the test's fixed now: the late ones
		// last long enough to be still in force at the advanced clock.
		d := 2 * time.Hour
		if i == 7 {
			d = 10 * time.Hour
		}
		data, key, sig := s.msg(t, pipeline.ActionBan, fmt.Sprintf("203.0.113.%d", i), d)
		return judge(t, e, data, key, sig)
	}
	for i := range 3 {
		if r := ban(web1, i); r != Accepted {
			t.Fatalf("ban %d: %s", i, r)
		}
	}
	if r := ban(web1, 3); r != Deferred {
		t.Fatalf("4th ban in a minute: %s, want %s", r, Deferred)
	}
	if _, ok := e.eng.Ledger().Active(netip.MustParsePrefix("203.0.113.3/32"), clock); ok {
		t.Fatal("the 4th ban in a minute is in force")
	}
	if r := ban(web2, 3); r != Accepted {
		t.Fatalf("another origin's ban during web1's flood: %s", r)
	}
	clock = clock.Add(20 * time.Second) // one token back
	e.Tick()
	// web2's equal ban of .3 came first: the waiting one has nothing to add.
	if _, fates := e.Deferred(); fates[FateSuperseded] != 1 {
		t.Fatalf("after 20 s the deferred ban met %v, want superseded", fates)
	}
	if r := ban(web1, 4); r != Accepted {
		t.Fatalf("after 20 s: %s", r)
	}
	clock = clock.Add(time.Minute)
	if r := ban(web1, 5); r != Accepted {
		t.Fatalf("5th active: %s", r)
	}
	if r := ban(web1, 6); r != RefusedActive {
		t.Fatalf("6th active: %s, want %s", r, RefusedActive)
	}
	if _, per := e.Active(); per["web1"] != 5 || per["web2"] != 1 {
		t.Fatalf("active per origin %v", per)
	}
	// Once bans run out, room is made again.
	clock = clock.Add(3 * time.Hour)
	e.Tick()
	if r := ban(web1, 7); r != Accepted {
		t.Fatalf("after the bans ran out: %s", r)
	}
}

// TestLongestBanAcrossOrigins: each origin holds its own record; the
// longest is in force; an origin's unban lifts its record only, and the
// firewall then follows the longest ban left.
func TestLongestBanAcrossOrigins(t *testing.T) {
	web1, web2 := newSensor(t, "web1"), newSensor(t, "web2")
	pol := Policy{MaxDuration: 48 * time.Hour, Origins: []Origin{
		{Name: "web1", Key: web1.signer.PublicKey(), MayUnban: true},
		{Name: "web2", Key: web2.signer.PublicKey(), MaxDuration: 24 * time.Hour},
	}}
	rec := &recorder{}
	e := newEnforcer(t, pol, rec)
	tgt := netip.MustParsePrefix("203.0.113.50/32")
	step := func(s sensor, a pipeline.Action, d time.Duration, want Reason, until time.Duration) {
		t.Helper()
		data, key, sig := s.msg(t, a, tgt.Addr().String(), d)
		if r := judge(t, e, data, key, sig); r != want {
			t.Fatalf("%s %s %v: %s, want %s", s.name, a, d, r, want)
		}
		u, ok := e.eng.Ledger().Active(tgt, now)
		if until == 0 && ok || until > 0 && (!ok || !u.Equal(now.Add(until))) {
			t.Fatalf("%s %s %v: in force until %v (%v), want %v", s.name, a, d, u, ok, now.Add(until))
		}
	}
	step(web1, pipeline.ActionBan, time.Hour+time.Second, Accepted, time.Hour)
	step(web2, pipeline.ActionBan, time.Hour+time.Second, AlreadyEnforced, time.Hour)
	step(web2, pipeline.ActionBan, 30*24*time.Hour, Accepted, 24*time.Hour) // capped by web2's cap
	step(web1, pipeline.ActionBan, 10*time.Hour+time.Second, AlreadyEnforced, 24*time.Hour)
	step(web1, pipeline.ActionBan, 100*time.Hour, Accepted, 48*time.Hour) // the policy's cap
	n := len(rec.got)
	step(web1, pipeline.ActionUnban, 0, Lifted, 24*time.Hour)
	if got := rec.got[n:]; len(got) != 2 || got[0].Action != pipeline.ActionUnban || got[1].Action != pipeline.ActionBan || !got[1].Expires.Equal(now.Add(24*time.Hour)) {
		t.Fatalf("after web1's unban the firewall got %+v, want an unban and web2's ban to its end", got)
	}
}

// TestSinkFailureIsRetried: a firewall that cannot be updated leaves the
// decision unapplied and unrecorded, so the redelivery applies it.
func TestSinkFailureIsRetried(t *testing.T) {
	web1 := newSensor(t, "web1")
	rec := &recorder{fail: 1}
	e := newEnforcer(t, Policy{Origins: []Origin{{Name: "web1", Key: web1.signer.PublicKey()}}}, rec)
	data, key, sig := web1.msg(t, pipeline.ActionBan, "203.0.113.60", time.Hour)
	if _, err := e.Judge(t.Context(), data, key, sig); err == nil {
		t.Fatal("a failed firewall update was not reported")
	}
	if r := judge(t, e, data, key, sig); r != Accepted || len(rec.got) != 1 {
		t.Fatalf("redelivery: %s, firewall took %d", r, len(rec.got))
	}
}

func TestPolicyErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		pol  Policy
		want []string
	}{
		{"no origin", Policy{}, []string{"none trusted"}},
		{"bad key", Policy{Origins: []Origin{{Name: "a", Key: "SNOTAPUBLICKEY"}}}, []string{"origins[0]: key"}},
		{"twice and nameless", Policy{Origins: []Origin{{Name: "a"}, {Name: "a"}, {}}}, []string{"listed twice", "origins[2]: name is required"}},
		{"bits", Policy{Origins: []Origin{{Name: "a"}}, MinBits4: 40}, []string{"min_bits4"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.pol.Validate()
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func BenchmarkJudge(b *testing.B) {
	seed, _, _ := sign.Generate()
	s, _ := sign.NewSigner(seed)
	eng := pipeline.NewEngine(NoRules{}, pipeline.Config{Origin: "fw"})
	e, err := New(Policy{Origins: []Origin{{Name: "web1", Key: s.PublicKey(), MaxPerMinute: 1 << 30, MaxActive: 1 << 30}}}, eng, &recorder{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	msgs := make([][2]string, 4096)
	for i := range msgs {
		x := pipeline.Decision{Action: pipeline.ActionBan, Target: pipeline.MustTarget(fmt.Sprintf("203.0.%d.%d", i>>8, i&255)), Origin: "web1",
			Expires: time.Now().Add(time.Hour), Rule: "sshd"}
		data, _ := json.Marshal(x)
		sig, _ := s.Sign(data)
		msgs[i] = [2]string{string(data), sig}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		m := msgs[i%len(msgs)]
		i++
		if _, err := e.Judge(context.Background(), []byte(m[0]), s.PublicKey(), m[1]); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzJudge: whatever a trusted sensor signs, and whatever arrives
// unsigned, the enforcer answers with a reason, never a panic, and never
// enforces a target its policy refuses.
func FuzzJudge(f *testing.F) {
	f.Add([]byte(`{"action":"ban","target":"203.0.113.7","origin":"web1","expires":"2099-01-01T00:00:00Z"}`), true)
	f.Add([]byte(`{"action":"ban","target":"0.0.0.0/0","origin":"web1","expires":"2099-01-01T00:00:00Z"}`), true)
	f.Add([]byte(`{"action":"unban","target":"::ffff:10.0.0.1","origin":"web1"}`), true)
	f.Add([]byte(`{"action":"ban","target":"198.51.100.7","origin":"web1","expires":"2099-01-01T00:00:00Z"}`), false)
	f.Add([]byte(`not json`), true)
	f.Add([]byte(`{"action":"ban","target":"203.0.113.7","Target":"198.51.100.7","origin":"web1","expires":"2099-01-01T00:00:00Z"}`), true)
	f.Add([]byte(`{"action":"ban","target":"203.0.113.7","target":"198.51.100.7","origin":"web1","expires":"2099-01-01T00:00:00Z"}`), true)
	f.Add([]byte(`{"action":"ban","target":"203.0.113.7","origin":"web1","expires":"2099-01-01T00:00:00Z"}{"target":"198.51.100.7"}`), true)
	f.Add([]byte(`{"action":"ban","target":"203.0.113.7","origin":"web1","expires":"2099-01-01T00:00:00Z","\u0054arget":"198.51.100.7"}`), true)
	seed, _, _ := sign.Generate()
	s, _ := sign.NewSigner(seed)
	f.Fuzz(func(t *testing.T, data []byte, signed bool) {
		rec := &recorder{}
		eng := pipeline.NewEngine(NoRules{}, pipeline.Config{Origin: "fw"})
		e, err := New(Policy{Origins: []Origin{{Name: "web1", Key: s.PublicKey(), MayUnban: true}},
			Allow: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}}, eng, rec, nil)
		if err != nil {
			t.Fatal(err)
		}
		sig := ""
		if signed {
			sig, _ = s.Sign(data)
		}
		r, err := e.Judge(context.Background(), data, s.PublicKey(), sig)
		if err != nil {
			t.Fatal(err)
		}
		if !signed && !r.Refused() {
			t.Fatalf("an unsigned message was %s", r)
		}
		for _, d := range rec.got {
			if d.Action != pipeline.ActionBan {
				continue
			}
			p, err := pipeline.ParseTarget(d.Target.String())
			if err != nil || p.Overlaps(netip.MustParsePrefix("198.51.100.0/24")) || overlaps(special, p) ||
				p.Addr().Is4() && p.Bits() < 16 || p.Addr().Is6() && p.Bits() < 32 {
				t.Fatalf("enforced %s", d.Target)
			}
		}
	})
}
