// Package enforce applies decisions received from the bus to a local
// firewall under the firewall's own trust policy, which no sensor can
// override: the decision must be signed by the key the firewall trusts for
// its origin; the local allowlist always wins; private, loopback and
// reserved ranges and overly broad ranges are refused; durations are
// capped; each origin is rate limited and bounded in active bans; and no
// origin may lift a ban unless allowed to.
package enforce

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/stockade-ids/stockade/internal/yamlnode"
	"github.com/stockade-ids/stockade/pipeline/guard"
	"github.com/stockade-ids/stockade/pipeline/sign"
)

// Origin is what the firewall trusts of one sensor.
type Origin struct {
	// Name is the origin the sensor writes in its decisions.
	Name string `yaml:"name"`
	// Key is the sensor's public nkey (`stockade keygen` prints it).
	// Decisions of this origin signed by any other key are refused.
	Key string `yaml:"key"`
	// MaxPerMinute caps the new bans accepted per minute (default 120);
	// beyond it they are refused and counted, so a compromised sensor
	// cannot ban the internet in a burst.
	MaxPerMinute int `yaml:"max_per_minute"`
	// MaxActive caps this origin's bans in force at once (default 100,000).
	MaxActive int `yaml:"max_active"`
	// MayUnban lets this origin lift the bans it decided (default: no;
	// bans end by expiry). It never lifts another origin's ban.
	MayUnban bool `yaml:"may_unban"`
	// MaxDuration caps this origin's bans below the policy's cap.
	MaxDuration time.Duration `yaml:"max_duration"`
	// MaxDeferred bounds this origin's bans waiting for its rate (default
	// 10,000); when full, the oldest waiting is dropped and counted.
	MaxDeferred int `yaml:"max_deferred"`
}

// Policy is the firewall's own.
type Policy struct {
	Origins []Origin
	// Allow is never banned, nor any range overlapping it: the local
	// allowlist and the firewall's own addresses.
	Allow []netip.Prefix
	// Guard protects what may change while the firewall runs: the
	// allowlist at a reload, its own addresses (followed live), the
	// fleet's. Nil: Allow only. Either way the special ranges of
	// guard.IsSpecial (link-local, multicast, broadcast, NAT64, loopback)
	// are refused whatever AllowPrivate and Permit say.
	Guard *guard.Guard
	// MaxDuration caps every ban (default 7 days): a longer one is
	// enforced for this long.
	MaxDuration time.Duration
	// AllowPrivate accepts bans of private, shared (CGNAT), loopback,
	// link-local, multicast and reserved addresses; Permit accepts them
	// inside the listed ranges only (a LAN whose hosts may be banned).
	AllowPrivate bool
	Permit       []netip.Prefix
	// MinBits4 and MinBits6 are the broadest ranges accepted (defaults 16
	// and 32): a /8 or a ::/0 is refused however well signed.
	MinBits4, MinBits6 int
	// Remember is how long a decision applied is remembered past its
	// expiry's reach, so that a replay of it is refused (default 30 days:
	// at least the bus's retention). MaxRemembered bounds the origin and
	// target pairs remembered (default 250,000, about 150 bytes each);
	// beyond it those due to be forgotten soonest go first.
	Remember      time.Duration
	MaxRemembered int
}

const (
	defaultPerMinute = 120
	defaultActive    = 100_000
	defaultDuration  = 7 * 24 * time.Hour
	defaultDeferred  = 10_000
	defaultRemember  = 30 * 24 * time.Hour
	defaultMaxMemory = 250_000
)

func (p *Policy) setDefaults() {
	if p.MaxDuration <= 0 {
		p.MaxDuration = defaultDuration
	}
	if p.MinBits4 == 0 {
		p.MinBits4 = 16
	}
	if p.MinBits6 == 0 {
		p.MinBits6 = 32
	}
	if p.Remember <= 0 {
		p.Remember = defaultRemember
	}
	if p.MaxRemembered <= 0 {
		p.MaxRemembered = defaultMaxMemory
	}
	for i := range p.Origins {
		o := &p.Origins[i]
		if o.MaxPerMinute == 0 {
			o.MaxPerMinute = defaultPerMinute
		}
		if o.MaxActive == 0 {
			o.MaxActive = defaultActive
		}
		if o.MaxDuration <= 0 || o.MaxDuration > p.MaxDuration {
			o.MaxDuration = p.MaxDuration
		}
		if o.MaxDeferred <= 0 {
			o.MaxDeferred = defaultDeferred
		}
	}
}

// Validate reports every problem at once.
func (p *Policy) Validate() error { return p.problems().Under("policy") }

// problems are Validate's, each with its key (origins[2]: name is
// required).
func (p *Policy) problems() yamlnode.Problems {
	var ps yamlnode.Problems
	if len(p.Origins) == 0 {
		ps.Add("origins", "none trusted: every decision would be refused")
	}
	seen := map[string]bool{}
	for i, o := range p.Origins {
		f := fmt.Sprintf("origins[%d]", i)
		if o.Name == "" {
			ps.Add(f, "name is required")
		}
		if seen[o.Name] {
			ps.Add(f, "%q listed twice", o.Name)
		}
		seen[o.Name] = true
		if !sign.ValidPublicKey(o.Key) {
			ps.Add(f, "key: %q is not a public nkey (stockade keygen prints one)", o.Key)
		}
		if o.MaxPerMinute < 0 || o.MaxActive < 0 || o.MaxDuration < 0 || o.MaxDeferred < 0 {
			ps.Add(f, "limits cannot be negative")
		}
	}
	if p.Remember < 0 {
		ps.Add("remember", "cannot be negative")
	}
	if p.MaxRemembered < 0 {
		ps.Add("remember_max", "cannot be negative")
	}
	if p.MinBits4 < 0 || p.MinBits4 > 32 {
		ps.Add("min_bits4", "%d: want 0 to 32", p.MinBits4)
	}
	if p.MinBits6 < 0 || p.MinBits6 > 128 {
		ps.Add("min_bits6", "%d: want 0 to 128", p.MinBits6)
	}
	return ps
}

// special are the ranges no sensor may ban unless the policy permits:
// unroutable, local or shared space, where a ban cuts off the firewall's
// own network or does nothing. Documentation ranges (TEST-NET, 2001:db8::/32)
// are not among them: no one's service lives there.
var special = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
		"172.16.0.0/12", "192.0.0.0/24", "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4",
		"::/128", "::1/128", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "fc00::/7", "fe80::/10", "ff00::/8",
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

func overlaps(list []netip.Prefix, t netip.Prefix) bool {
	for _, p := range list {
		if p.Overlaps(t) {
			return true
		}
	}
	return false
}

func within(list []netip.Prefix, t netip.Prefix) bool {
	for _, p := range list {
		if p.Bits() <= t.Bits() && p.Contains(t.Addr()) {
			return true
		}
	}
	return false
}

// checkTarget applies the target rules; it returns "" or a refusal reason.
func (p *Policy) checkTarget(t netip.Prefix) Reason {
	if overlaps(p.Allow, t) {
		return RefusedAllowlisted
	}
	why, protected := p.Guard.WhyPrefix(t)
	if protected && why != guard.Special {
		return RefusedAllowlisted
	}
	if protected {
		// No policy opens these: a ban there cuts off the firewall's own
		// link or every IPv4 host behind its NAT64, or does nothing.
		return RefusedSpecial
	}
	if !p.AllowPrivate && overlaps(special, t) && !within(p.Permit, t) {
		return RefusedSpecial
	}
	if t.Addr().Is4() && t.Bits() < p.MinBits4 || t.Addr().Is6() && t.Bits() < p.MinBits6 {
		return RefusedTooBroad
	}
	return ""
}
