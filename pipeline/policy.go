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

	// V6Count is the prefix length IPv6 failures count by (and ban, unless
	// that range holds a protected address): an attacker with a /64 has
	// 2^64 addresses to spread a brute force over. 0 or 128: the address.
	V6Count int
	// Connections makes the engine follow each process's lines about one
	// address (a connection: Hit.Pair, Hit.Close), so that one attempt
	// logged several times counts once. Set when a rule uses pair:.
	Connections bool

	// Simulate makes the rule decide without enforcing: its bans go to a
	// ledger of their own (they neither block nor extend real ones) and
	// its decisions carry Simulated, which sinks never receive. It is how
	// a new pack is tried on production traffic.
	Simulate bool

	// Range makes this a range rule: it sees no log line, but the engine's
	// bans. When Threshold addresses of one prefix are banned within Window,
	// the prefix itself is banned.
	Range *RangeSpec
}

// RangeSpec is the prefix length a range rule groups banned addresses by.
type RangeSpec struct {
	V4Bits, V6Bits int // e.g. 24 and 64; 0 leaves that family alone
	// Grow, when set, widens the rule's range bans by density: see Growth.
	Grow *Growth
}

// Growth widens a range rule's bans as the neighbourhood fills up: when
// Members of the ranges one step narrower inside a wider prefix are
// banned by the rule at once, the wider prefix is banned, up to V4Bits
// (V6Bits). A step is 4 bits for IPv4 (/24 → /20 → /16: ISPs are allocated
// /20s and /22s) and 8 for IPv6 (/64 → /56 → /48: a home's and a site's
// allocation). A grown ban lasts as long as Members of its members do
// (until the Members-th latest of their expiries), so it shrinks back to
// them as they expire, and grows again if they are banned anew. A prefix
// that holds a protected address (the guard, the allowlists) is never
// banned.
type Growth struct {
	V4Bits, V6Bits int // the widest prefix: e.g. 16 and 48; 0: that family does not grow
	Members        int // banned members that ban their wider prefix (≥ 2)
}

// Step is how many bits a growth widens a prefix of the family of a by.
func (g *Growth) Step(a netip.Addr) int {
	if a.Is4() {
		return 4
	}
	return 8
}

// Widest is the widest prefix length a's family grows to, or 0.
func (g *Growth) Widest(a netip.Addr) int {
	if a.Is4() {
		return g.V4Bits
	}
	return g.V6Bits
}

// Prefix returns the range a's ban counts toward, or false.
func (r *RangeSpec) Prefix(a netip.Addr) (netip.Prefix, bool) {
	bits := r.V6Bits
	if a.Is4() {
		bits = r.V4Bits
	}
	if bits <= 0 || bits >= a.BitLen() {
		return netip.Prefix{}, false
	}
	p, err := a.Prefix(bits)
	return p, err == nil
}

// Escalation makes a returning offender's ban longer each time, like
// fail2ban's bantime.increment / bantime.multipliers / bantime.overalljails
// and CrowdSec's duration_expr. The first that is set applies:
//
//	Formula      a function of the offense count and the base ban
//	Multipliers  Ban × Multipliers[min(n, len)-1]
//	Factor       Ban × Factor^(n-1)
//
// and the result is capped at Max. The offense count n is the target's
// bans across all rules, or only this rule's when PerRule is set.
type Escalation struct {
	Factor      float64
	Max         time.Duration
	Multipliers []float64
	Formula     func(offense int, ban time.Duration) time.Duration
	PerRule     bool
}

// Duration returns the ban length for the n-th offense (n ≥ 1).
func (p *Policy) Duration(n int) time.Duration {
	d := p.Ban
	e := p.Escalate
	if e == nil || n < 1 {
		return d
	}
	var f float64
	switch {
	case e.Formula != nil:
		f = float64(e.Formula(n, d))
	case len(e.Multipliers) > 0:
		f = float64(d) * e.Multipliers[min(n, len(e.Multipliers))-1]
	default:
		f = float64(d)
		for i := 1; i < n; i++ {
			f *= e.Factor
			if e.Max > 0 && f >= float64(e.Max) {
				break
			}
		}
	}
	if e.Max > 0 && f >= float64(e.Max) {
		return e.Max
	}
	if f < float64(time.Second) {
		return time.Second // a ban of nothing would be no ban at all
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
	// Open marks a line that opens an attempt the lines after it log
	// again ("Invalid user", then pam_unix and "Failed password"): the
	// next line of the process within PairWindow, unless Open too, is the
	// same attempt. An Open line always counts.
	Open bool
	// Close marks a line that closes or sums up a connection ("Connection
	// closed by invalid user", "maximum authentication attempts
	// exceeded"): it counts only when no other line of the same process
	// about the same address counted within ConnWindow.
	Close bool
	// Weight is how many attempts the line stands for (0 means 1):
	// rsyslog's "message repeated 5 times: [ … ]" is five.
	Weight int
	// Captures are what the rule's failregex found besides the target
	// (<F-USER> as "user", any <F-NAME>), in order. Like the event they
	// come from, they are valid until the matcher's next Match: copy
	// what is kept.
	Captures []Capture
}

// Capture is a named group of the regex that matched.
type Capture struct{ Name, Value string }

// Matcher judges events: it appends a Hit per rule that matched, with
// the target it found; counting, allowlists and bans are the engine's.
// It is not pure, and an implementation says where: rules.Set writes what
// a rule's failregex found into the event (ev.Addr, ev.User,
// ev.Captures) so that the rule's predicates, and the rules after it,
// see it; its fail2ban-dialect rules keep state between lines (sessions,
// line buffers, date detection); its predicates read the engine's state
// (StateView, read-only), and what distinct() saw is handed back
// (Sighter) for the engine to record.
type Matcher interface {
	Match(ev *Event, hits []Hit) []Hit
	Policies() []*Policy
}

// ConcurrentMatcher is a Matcher that can judge events on several
// goroutines, for a parallel replay.
type ConcurrentMatcher interface {
	Matcher
	// Concurrent reports whether events of these formats (all formats when
	// none are given) can be judged apart from one another and from the
	// engine (no state kept between lines, none read from the engine) and
	// counted by address alone (no other keys, no range rules): then a
	// parallel replay decides exactly what a single-threaded one does.
	Concurrent(formats []Format) bool
	// Fork returns a matcher for another goroutine, sharing what is
	// compiled.
	Fork() Matcher
}
