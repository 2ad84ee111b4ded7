package pipeline

import (
	"cmp"
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"
	"unsafe"

	"github.com/stockade-ids/stockade/pipeline/guard"
)

// Sink receives decisions. Writes must be idempotent (decision ids are
// deterministic) so that a retry after a partial failure is harmless.
type Sink interface {
	Write(ctx context.Context, ds []Decision) error
	Close(ctx context.Context) error
}

// Config is the engine's own configuration; rules carry theirs in Policy.
type Config struct {
	// Origin names this sensor in every decision (default: the host name).
	Origin string
	// Allow is never banned: the global allowlist plus the host's own
	// addresses. Rules add their own in Policy.Allow.
	Allow []netip.Prefix
	// Guard, when set, protects what may change while the engine runs
	// (the allowlist at a reload, the host's and the fleet's addresses);
	// Allow is then checked besides it. The special ranges (link-local,
	// multicast, broadcast, NAT64: see guard.IsSpecial) are never banned
	// either way.
	Guard *guard.Guard
	// EmitUnbans makes the engine emit an unban decision when a target's
	// last ban runs out, for sinks that cannot expire bans themselves.
	EmitUnbans bool
	// MaxWindows bounds the sliding windows held at once (0: no bound);
	// see Counter.Max and Counter.Whole.
	MaxWindows int
	// DedupWindow is how long (in event time) an alert fingerprint is
	// remembered, so the same alert read from fast.log and eve.json counts
	// once. fast.log has no zone, so a misconfigured zone shifts its copy by
	// whole quarter hours (the fingerprint ignores that); the default, 26 h,
	// covers every pair of real zones.
	DedupWindow time.Duration
}

// RuleStats counts what happened to one rule's matches.
type RuleStats struct {
	Rule          string
	Pack          string
	Matches       uint64 // events the rule judged offenses
	Allowlisted   uint64 // of which the target was allowlisted
	Bans          uint64 // ban decisions (new and extended)
	AlreadyBanned uint64 // thresholds reached while a ban covered the target
	Paired        uint64 // matches that completed a pair and were not counted again
	Simulated     uint64 // ban decisions of a rule in mode: simulate (not in Bans)
}

// Engine turns events into decisions: matcher → allowlist → window counter →
// ledger. It is single-threaded and deterministic: the same events in the
// same order give the same decisions, byte for byte.
type Engine struct {
	cfg     Config
	guard   *guard.Guard
	allow   []netip.Prefix // Config.Allow when a Guard was given too
	matcher Matcher
	clock   EventClock
	counter *Counter
	ledger  *Ledger
	sim     *Ledger // the bans of rules in mode: simulate (nil until one)
	dedup   fingerprints
	dedupAt int

	// pairs remembers lines marked Hit.Pair until the line they announce
	// arrives (see PairWindow).
	pairs [counterParts]pairPart

	rangeRules []*Policy
	distinct   map[string]*distinctKey
	distinctAt int
	// distinctDirty are the keys changed since TakeChanges, when
	// trackDistinct.
	distinctDirty []*distinctKey
	trackDistinct bool
	// distinctView is Distinct's scratch copy of one key's values.
	distinctView map[string]int64
	sighter      Sighter // the matcher, when its predicates count distinct values

	hits     []Hit
	hitGuard guardAnswer   // see allowedHit
	reasons  []reasonCache // by Policy.ID: see reasonOf
	out      []Decision
	lifted   []expiryItem // the bans the last expire lifted
	stats    []RuleStats

	Events     uint64 // events judged
	Duplicates uint64 // events dropped as copies of an alert already seen
	// SkewedDuplicates are copies that were logged 15 minutes or more apart:
	// fast.log was read in the wrong time zone (see --tz).
	SkewedDuplicates uint64
}

// NewEngine builds an engine over m.
func NewEngine(m Matcher, cfg Config) *Engine {
	if cfg.DedupWindow <= 0 {
		cfg.DedupWindow = 26 * time.Hour
	}
	e := &Engine{
		cfg:        cfg,
		counter:    &Counter{Max: cfg.MaxWindows},
		ledger:     NewLedger(),
		dedupAt:    4096,
		distinctAt: 4096,
	}
	if e.guard = cfg.Guard; e.guard == nil {
		e.guard = guard.New()
		e.guard.Set("allow", cfg.Allow)
	} else {
		e.allow = cfg.Allow
	}
	e.SetMatcher(m)
	return e
}

// Guard is what the engine never bans.
func (e *Engine) Guard() *guard.Guard { return e.guard }

// SetMatcher swaps the rules (a reload). Windows and statistics of rules
// that keep their name survive, re-keyed to the new rule IDs; windows of
// rules that are gone are dropped. The ledger always survives.
func (e *Engine) SetMatcher(m Matcher) {
	newByName := map[string]*Policy{}
	for _, p := range m.Policies() {
		newByName[p.Name] = p
	}
	oldStats := map[string]RuleStats{}
	if e.matcher != nil {
		remap := map[int]*Policy{}
		for _, p := range e.matcher.Policies() {
			if np := newByName[p.Name]; np != nil {
				remap[p.ID] = np
			}
		}
		e.counter.remap(remap)
		for _, st := range e.stats {
			oldStats[st.Rule] = st
		}
	}
	e.matcher = m
	if sm, ok := m.(StatefulMatcher); ok {
		sm.SetState(e)
	}
	e.sighter, _ = m.(Sighter)
	ps := m.Policies()
	e.rangeRules = e.rangeRules[:0]
	for _, p := range ps {
		if p.Range != nil {
			e.rangeRules = append(e.rangeRules, p)
		}
	}
	e.stats = make([]RuleStats, len(ps))
	for i, p := range ps {
		st, ok := oldStats[p.Name]
		if !ok {
			st = RuleStats{Rule: p.Name}
		}
		st.Pack = p.Pack
		e.stats[i] = st
	}
}

// Matcher returns the rules in force.
func (e *Engine) Matcher() Matcher { return e.matcher }

// Ban bans target by hand (an operator, or a decision from elsewhere) under
// a rule name, for d. It returns the decision to send to sinks, or false
// when an active ban already covers it at least as long.
func (e *Engine) Ban(target netip.Prefix, rule, reason string, d time.Duration, now time.Time) (Decision, bool) {
	target = target.Masked()
	if e.AllowedPrefix(target) {
		return Decision{}, false
	}
	p := &Policy{Name: rule, Pack: "manual", Ban: d, Threshold: 1}
	o := e.ledger.Ban(BanRequest{Target: target, Policy: p, At: now})
	if o.Verdict == AlreadyBanned {
		return Decision{}, false
	}
	ev := &Event{Time: now, Source: "control"}
	d0 := e.decision(ActionBan, target, p, ev, o, nil)
	d0.Reason = reason
	e.ledger.Note(target, &d0, verdictAction(o.Verdict), "")
	return d0, true
}

// Unban lifts every ban on target and returns the unban decision, or false
// when it was not banned.
func (e *Engine) Unban(target netip.Prefix, reason string, now time.Time) (Decision, bool) {
	target = target.Masked()
	if !e.ledger.Unban(target) {
		return Decision{}, false
	}
	x := e.unbanDecision(target, reason, now)
	e.ledger.Note(target, &x, "unban", "")
	return x, true
}

// Ledger exposes the ban ledger (status, manual bans).
func (e *Engine) Ledger() *Ledger { return e.ledger }

// Counter exposes the window counter (status, explain).
func (e *Engine) Counter() *Counter { return e.counter }

// Now is the engine's event-time clock.
func (e *Engine) Now() time.Time { return e.clock.Now() }

// Stats returns per-rule counts, in rule order.
func (e *Engine) Stats() []RuleStats { return append([]RuleStats(nil), e.stats...) }

// Allowed reports whether a is protected (the guard: allowlist, own and
// fleet addresses, special ranges) or on the policy's allowlist.
func (e *Engine) Allowed(p *Policy, a netip.Addr) bool {
	return e.protected(a) || allowedBy(p, a)
}

// protected is Allowed without a policy: the guard and the engine's
// allowlist.
func (e *Engine) protected(a netip.Addr) bool {
	if e.guard.Protects(a) {
		return true
	}
	for _, pr := range e.allow {
		if pr.Contains(a) {
			return true
		}
	}
	return false
}

// allowedHit is Allowed for a hit: the guard's answer for the target is
// the one the previous hit got, when it was for the same target and the
// guard has not changed since (a scanner's line is a hit of two or
// three rules, and its lines come in runs).
func (e *Engine) allowedHit(p *Policy, a netip.Addr) bool {
	gen := e.guard.Generation()
	if !e.hitGuard.valid || e.hitGuard.addr != a || e.hitGuard.gen != gen {
		e.hitGuard = guardAnswer{addr: a, gen: gen, valid: true, protected: e.protected(a)}
	}
	return e.hitGuard.protected || allowedBy(p, a)
}

// guardAnswer is what protected said for addr at the guard's generation
// gen (e.allow does not change).
type guardAnswer struct {
	addr             netip.Addr
	gen              uint64
	valid, protected bool
}

// allowedBy reports whether a is on p's own allowlist.
func allowedBy(p *Policy, a netip.Addr) bool {
	if p != nil {
		for _, pr := range p.Allow {
			if pr.Contains(a) {
				return true
			}
		}
	}
	return false
}

// AllowedPrefix reports whether banning p would ban a protected address:
// true when p overlaps any of them. A range ban such as 0.0.0.0/0 or the
// host's own /24 is refused this way.
func (e *Engine) AllowedPrefix(p netip.Prefix) bool {
	p = p.Masked()
	if e.guard.Overlaps(p) {
		return true
	}
	for _, pr := range e.allow {
		if pr.Overlaps(p) {
			return true
		}
	}
	return false
}

// LiftProtected lifts every active ban that holds a protected address (one
// allowlisted at a reload, an address the host or the fleet gained) and
// returns the unban decisions: the allowlist always wins, over bans made
// before it too.
func (e *Engine) LiftProtected(now time.Time) []Decision {
	var out []Decision
	for _, a := range e.ledger.ActiveBans(now) {
		why, ok := e.guard.WhyPrefix(a.Target)
		if !ok {
			for _, pr := range e.allow {
				if ok = pr.Overlaps(a.Target); ok {
					why = "allow"
					break
				}
			}
		}
		if !ok {
			continue
		}
		if x, lifted := e.Unban(a.Target, "protected ("+why+"): the allowlist wins over an earlier ban", now); lifted {
			out = append(out, x)
		}
	}
	return out
}

// Process judges one event and returns the decisions it caused. The
// returned slice is reused by the next call.
func (e *Engine) Process(ev *Event) []Decision {
	e.out = e.out[:0]
	now := e.clock.Advance(ev.Time)
	e.expire(now)
	if ev.Fingerprint != 0 && e.seen(ev.Fingerprint, ev.Time) {
		e.Duplicates++
		return e.out
	}
	e.Events++
	e.hits = e.matcher.Match(ev, e.hits[:0])
	e.recordSightings()
	for _, h := range e.hits {
		e.count(h, ev)
	}
	return e.out
}

// count takes one hit of ev through allowlists,
// pairing, the window and the ledger, and appends the decisions it causes.
// Everything it touches belongs to the hit's target (its partition), apart
// from range rules: what lets a parallel replay count on several workers.
func (e *Engine) count(h Hit, ev *Event) {
	st := &e.stats[h.Policy.ID]
	st.Matches++
	target := Canonical(h.Target)
	if !target.IsValid() || target.IsUnspecified() || target.IsMulticast() {
		e.counter.Skip(ev.Line)
		return
	}
	if e.allowedHit(h.Policy, target) {
		st.Allowlisted++
		e.counter.Skip(ev.Line)
		return
	}
	pi := partOfAddr(target)
	e.prefetchHit(h, pi, target, ev.PID)
	n := max(1, h.Weight)
	if e.paired(h, pi, target, ev) {
		n--
	}
	if n == 0 {
		st.Paired++
		e.counter.Skip(ev.Line)
		return
	}
	// counted is what the window counts: the address, or its IPv6 range
	// (V6Count) unless that range holds a protected address. Either way
	// it is what gets banned, so the ban covers what was counted.
	counted := netip.PrefixFrom(target, target.BitLen())
	if h.Key == "" {
		counted = e.countPrefix(h.Policy, target)
	} else {
		pi = partOfKey(h.Key)
	}
	// A line that stands for n attempts counts n times. A rule that
	// bans at the first match quotes the line only in a ban that is new:
	// most of its matches find the address banned already.
	if h.Policy.Threshold <= 1 {
		e.counter.lines.hit(ev.Line)
	} else if fire, _ := e.counter.add(pi, h.Policy, counted.Addr(), h.Key, ev.Time, ev.Line, n); !fire {
		return
	}
	// The guard may have gained an address of the range while it counted.
	prefix := e.narrow(h.Policy, counted, netip.PrefixFrom(target, target.BitLen()))
	if e.ban(prefix, h.Policy, ev, nil, st) && !h.Policy.Simulate {
		e.rangeBans(target, ev)
	}
}

// ban puts a rule's ban of target in the ledger (the simulation's, for a
// rule in mode: simulate) and appends its decision, unless an active ban
// covers it already. It reports whether a decision was made. evidence
// nil: the lines are the line's own (a rule that bans at the first
// match) or, above a threshold of one, the window's that just fired
// (Counter.fired), copied out only for a ban that is new (see count).
func (e *Engine) ban(target netip.Prefix, p *Policy, ev *Event, evidence []string, st *RuleStats) bool {
	l := e.ledgerOf(p)
	o := l.Ban(BanRequest{Target: target, Policy: p, At: ev.Time})
	if o.Verdict == AlreadyBanned {
		st.AlreadyBanned++
		return false
	}
	switch {
	case evidence != nil || p.Range != nil:
	case p.Threshold > 1:
		evidence = e.counter.firedLines()
	case p.Evidence > 0:
		evidence = []string{strings.Clone(ev.Line)}
	}
	x := e.decision(ActionBan, target, p, ev, o, evidence)
	if p.Simulate {
		st.Simulated++
		x.Simulated = true
	} else {
		st.Bans++
	}
	if p.Range != nil {
		x.Reason = fmt.Sprintf("%s: %d addresses of %s banned within %s", cmp.Or(p.Description, p.Name), p.Threshold, target, p.Window)
	}
	e.out = append(e.out, x)
	l.noteBan(target, o, &e.out[len(e.out)-1])
	return true
}

func verdictAction(v Verdict) string {
	if v == Extended {
		return "extend"
	}
	return "ban"
}

// ledgerOf is the ledger p's bans go to.
func (e *Engine) ledgerOf(p *Policy) *Ledger {
	if !p.Simulate {
		return e.ledger
	}
	if e.sim == nil {
		e.sim = NewLedger()
	}
	return e.sim
}

// Simulated is the ledger of the rules in mode: simulate (nil when none
// has decided yet).
func (e *Engine) Simulated() *Ledger { return e.sim }

// Counted is what the engine counts a failure by a toward under p: a
// itself, or its IPv6 range (Policy.V6Count) unless that holds a protected
// address. explain and failures() look windows up by it.
func (e *Engine) Counted(p *Policy, a netip.Addr) netip.Prefix { return e.countPrefix(p, Canonical(a)) }

// countPrefix is what a failure by a counts toward under p: its IPv6
// range of p.V6Count bits, unless that range holds a protected address
// (then the address alone, as guard.Narrow narrows every widening).
func (e *Engine) countPrefix(p *Policy, a netip.Addr) netip.Prefix {
	self := netip.PrefixFrom(a, a.BitLen())
	if a.Is4() || p.V6Count <= 0 || p.V6Count >= 128 {
		return self
	}
	wide, err := a.Prefix(p.V6Count)
	if err != nil {
		return self
	}
	return e.narrow(p, wide, self)
}

// narrow is guard.Narrow with the engine's and the policy's own
// allowlists besides the guard's.
func (e *Engine) narrow(p *Policy, wide, self netip.Prefix) netip.Prefix {
	if wide = e.guard.Narrow(wide, self); wide == self {
		return self
	}
	if overlapsAny(e.allow, wide) || overlapsAny(p.Allow, wide) {
		return self
	}
	return wide
}

// rangeBans counts a new ban of addr toward every range rule and bans the
// range when one is due (a /24 with many banned members). A range that
// would cover an allowlisted or own address is never banned.
func (e *Engine) rangeBans(addr netip.Addr, ev *Event) {
	for _, p := range e.rangeRules {
		r, ok := p.Range.Prefix(addr)
		if !ok {
			continue
		}
		st := &e.stats[p.ID]
		st.Matches++
		if e.AllowedPrefix(r) || overlapsAny(p.Allow, r) {
			st.Allowlisted++
			continue
		}
		fire, evidence := e.counter.Add(p, netip.Addr{}, r.String(), ev.Time, addr.String())
		if fire && e.ban(r, p, ev, evidence, st) && p.Range.Grow != nil {
			e.grow(p, r, ev)
		}
	}
}

func overlapsAny(list []netip.Prefix, p netip.Prefix) bool {
	for _, pr := range list {
		if pr.Overlaps(p) {
			return true
		}
	}
	return false
}

// Tick advances the clock without an event (live mode's ticker, the end of a
// replay) and returns the unban decisions that fall due, if enabled.
func (e *Engine) Tick(now time.Time) []Decision {
	e.out = e.out[:0]
	e.expire(e.clock.Advance(now))
	return e.out
}

func (e *Engine) expire(now time.Time) {
	e.lifted = e.lifted[:0]
	if e.sim != nil && len(e.sim.expiry) > 0 && !e.sim.expiry[0].at.After(now) {
		e.lifted = e.sim.expire(now, e.lifted)
		e.lifted = e.lifted[:0] // a simulated ban's end is nobody's business
	}
	if len(e.ledger.expiry) == 0 || e.ledger.expiry[0].at.After(now) {
		return
	}
	e.lifted = e.ledger.expire(now, e.lifted)
	if !e.cfg.EmitUnbans {
		return
	}
	for _, it := range e.lifted {
		target := TargetOf(it.target)
		e.out = append(e.out, Decision{
			ID:     decisionID(e.cfg.Origin, ActionUnban, target, "", now, 0),
			Action: ActionUnban, Target: target, Scope: target.Scope(),
			Reason: "ban expired", At: now, Expires: now,
			Origin: e.cfg.Origin, Evidence: []string{},
		})
	}
}

func (e *Engine) decision(a Action, t netip.Prefix, p *Policy, ev *Event, o Outcome, evidence []string) Decision {
	target, scope := TargetOf(t), ScopeRange
	if t.IsSingleIP() {
		scope = ScopeIP
	}
	if evidence == nil {
		evidence = []string{}
	}
	return Decision{
		ID:       decisionID(e.cfg.Origin, a, target, p.Name, ev.Time, o.Offense),
		Action:   a,
		Target:   target,
		Scope:    scope,
		Rule:     p.Name,
		Pack:     p.Pack,
		Reason:   e.reasonOf(p, ev.Signature),
		At:       ev.Time,
		Duration: int64(o.Duration / time.Second),
		Expires:  o.Expires,
		Offense:  o.Offense,
		Origin:   e.cfg.Origin,
		Source:   ev.Source,
		Evidence: evidence,
	}
}

// reasonText is a decision's reason for p, before the alert's signature.
func reasonText(p *Policy) string {
	what := cmp.Or(p.Description, p.Name)
	if p.Threshold <= 1 {
		return what
	}
	return fmt.Sprintf("%s: %d matches within %s", what, p.Threshold, p.Window)
}

func reason(p *Policy, signature string) string {
	r := reasonText(p)
	if signature != "" {
		r += ": " + signature
	}
	return r
}

// reasonCache is one rule's reason, kept with what it was made from (a
// caller may build a Policy of its own, as Ban does, with the ID of a
// rule), and the reasons with the signatures it was seen with.
type reasonCache struct {
	what      string
	threshold int
	window    time.Duration
	text      string
	sigs      map[string]string
}

// maxReasonSignatures bounds a rule's cached reasons with a signature: a
// sensor that writes a new signature on every line makes the cache start
// again, not grow.
const maxReasonSignatures = 256

// reasonOf is reason(p, signature), made once per rule (and signature)
// instead of once per decision: an alert rule bans on every new target.
func (e *Engine) reasonOf(p *Policy, signature string) string {
	if p.ID < 0 || p.ID >= 1<<16 {
		return reason(p, signature)
	}
	if p.ID >= len(e.reasons) {
		e.reasons = append(e.reasons, make([]reasonCache, p.ID+1-len(e.reasons))...)
	}
	c := &e.reasons[p.ID]
	what := cmp.Or(p.Description, p.Name)
	if c.text == "" || c.what != what || c.threshold != p.Threshold || c.window != p.Window {
		*c = reasonCache{what: what, threshold: p.Threshold, window: p.Window, text: reasonText(p)}
	}
	if signature == "" {
		return c.text
	}
	if r, ok := c.sigs[signature]; ok {
		return r
	}
	r := c.text + ": " + signature
	if c.sigs == nil {
		c.sigs = make(map[string]string)
	} else if len(c.sigs) >= maxReasonSignatures {
		clear(c.sigs)
	}
	// The key is r's own tail: signature may share the reader's buffer.
	c.sigs[r[len(r)-len(signature):]] = r
	return r
}

// seen remembers alert fingerprints for DedupWindow of event time.
func (e *Engine) seen(fp uint64, t time.Time) bool {
	ts := t.UnixNano()
	if prev, ok := e.dedup.get(fp); ok {
		d := ts - prev
		if d < 0 {
			d = -d
		}
		if d <= int64(e.cfg.DedupWindow) {
			if d >= int64(15*time.Minute) {
				e.SkewedDuplicates++
			}
			return true
		}
	}
	if e.dedup.len() >= e.dedupAt {
		e.dedup.sweep(ts - int64(e.cfg.DedupWindow))
		e.dedupAt = max(4096, 2*e.dedup.len())
	}
	e.dedup.set(fp, ts)
	return false
}

// prefetchHit asks for the cache lines that counting h will read first,
// its connection's slot and its window's, so that the two misses wait
// together rather than one after the other.
func (e *Engine) prefetchHit(h Hit, pi int, target netip.Addr, pid int) {
	if pid != 0 && h.Policy.Connections {
		if t := e.pairs[pi].waits; t != nil && t.n > 0 {
			wk, _ := makeConnSlot(h.Policy.ID, target, pid)
			prefetch(unsafe.Pointer(&t.slots[t.home(&wk)]))
		}
	}
	if h.Policy.Threshold > 1 && h.Key == "" {
		if pt := e.counter.parts[pi]; pt != nil && pt.addrs.n > 0 {
			ak := makeAddrSlot(h.Policy.ID, target)
			prefetch(unsafe.Pointer(&pt.addrs.slots[pt.addrs.home(&ak)]))
		}
	}
}
