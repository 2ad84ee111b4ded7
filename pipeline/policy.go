package pipeline

import (
	"net/netip"
	"time"
)

// Policy is what a rule decides once it has matched: how to count, when to
// ban, for how long. Rules (package rules) build one per rule at load time;
// the engine keeps per-policy state keyed by Policy.ID.
type Policy struct {
	ID          int    // dense index assigned by the rule set, for counters
	Name        string // rule name, unique within a rule set
	Pack        string
	Description string

	Threshold int           // matches within Window that ban; 1 bans at once
	Window    time.Duration // ignored when Threshold is 1
	Ban       time.Duration // base ban duration
	Escalate  *Escalation   // nil: every ban lasts Ban
	Allow     []netip.Prefix
	Evidence  int // raw lines to keep as evidence, at most
}

// Escalation makes a returning offender's ban longer each time, like
// fail2ban's bantime.increment: Ban × Factor^(offense-1), at most Max.
type Escalation struct {
	Factor float64
	Max    time.Duration
}

// Duration returns the ban length for the n-th offense (n ≥ 1).
func (p *Policy) Duration(n int) time.Duration {
	d := p.Ban
	if p.Escalate == nil || n <= 1 {
		return d
	}
	f := float64(d)
	for i := 1; i < n; i++ {
		f *= p.Escalate.Factor
		if p.Escalate.Max > 0 && f >= float64(p.Escalate.Max) {
			return p.Escalate.Max
		}
	}
	return time.Duration(f)
}

// Hit is one rule's verdict that an event is an offense by Target. Key is
// what the rule counts by; empty means the target address itself.
type Hit struct {
	Policy *Policy
	Target netip.Addr
	Key    string
	// Pair marks a line that the same process follows with another line
	// about the same attempt (pam_unix's "authentication failure" before
	// sshd's "Failed password"): the pair counts once. See Engine.
	Pair bool
}

// Matcher judges events. It is pure: it reads the event (and may fill
// ev.Captures) and appends a Hit per rule that matched; counting, allowlists
// and bans are the engine's.
type Matcher interface {
	Match(ev *Event, hits []Hit) []Hit
	Policies() []*Policy
}
