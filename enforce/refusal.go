package enforce

import "net/netip"

// Refusal is why the policy refuses a ban of t (allowlisted, special, too
// broad), or "" when it accepts it: for bans that come from elsewhere than
// the bus, such as those a restart adopts from the kernel.
func (p Policy) Refusal(t netip.Prefix) Reason {
	p.Origins = nil // the copy shares them; only the target rules are needed
	p.setDefaults()
	return p.checkTarget(t)
}
