package enforce

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/pipeline/guard"
)

// Link-local (with a zone too), broadcast, multicast and the NAT64 prefix
// are refused even under allow_private and a permit naming them; the
// guard's fleet addresses, and ranges holding one, are refused as
// allowlisted.
func TestPolicyNeverAcceptsSpecialOrFleet(t *testing.T) {
	web1 := newSensor(t, "web1")
	g := guard.New()
	g.Set("fleet", []netip.Prefix{netip.MustParsePrefix("203.0.113.50/32")})
	pol := Policy{
		Origins:      []Origin{{Name: "web1", Key: web1.signer.PublicKey()}},
		AllowPrivate: true,
		Permit:       []netip.Prefix{netip.MustParsePrefix("fe80::/10"), netip.MustParsePrefix("224.0.0.0/3"), netip.MustParsePrefix("64:ff9b::/96")},
		Guard:        g,
	}
	rec := &recorder{}
	e := newEnforcer(t, pol, rec)
	for _, tc := range []struct {
		target string
		want   Reason
	}{
		{"fe80::1%eth0", RefusedSpecial},
		{"fe80::1", RefusedSpecial},
		{"255.255.255.255", RefusedSpecial},
		{"239.1.2.3", RefusedSpecial},
		{"ff02::1", RefusedSpecial},
		{"64:ff9b::1", RefusedSpecial},
		{"64:ff9b::c000:201", RefusedSpecial},
		{"203.0.113.50", RefusedAllowlisted},
		{"203.0.113.0/24", RefusedAllowlisted},
		{"10.1.2.3", Accepted},
	} {
		data, key, sig := web1.msg(t, pipeline.ActionBan, tc.target, time.Hour)
		if got := judge(t, e, data, key, sig); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.target, got, tc.want)
		}
	}
	if len(rec.got) != 1 || rec.got[0].Target.String() != "10.1.2.3" {
		t.Fatalf("the firewall took %v", rec.got)
	}
}
