package enforce

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/pipeline/sign"
)

// Enforcer judges decisions from the bus and applies the accepted ones to
// a local sink (nftables). Its ledger keeps one record per origin and
// target, so that the longest ban any trusted origin asked for is in force
// and one origin's unban never lifts another's ban; the ledger is what the
// daemon persists and reconciles the firewall with after a restart.
type Enforcer struct {
	pol  Policy
	sink pipeline.Sink
	log  *slog.Logger
	now  func() time.Time

	mu      sync.Mutex
	eng     *pipeline.Engine
	origins map[string]*origin
	names   []string         // the origins in the policy's order
	pending pipeline.Changes // changes a failed save handed back
	mem     *memory
	seq     uint64            // of the last deferred ban
	qdirty  map[string][]byte // deferred bans and overrides changed since the last save
	// overrides are the administrator's unbans in force (see Unban).
	overrides map[netip.Prefix]Override
	// notes say which rule and decision each origin's ban came from.
	notes      map[infoKey]banNote
	allowSaved []byte // the runtime allowlist as restored (see SavedAllow)

	counts    map[Reason]*atomic.Uint64
	fates     map[Fate]*atomic.Uint64
	lastApply atomic.Int64 // unix ns when the sink last took a decision
	onApply   atomic.Pointer[func(target string)]
	onWrite   atomic.Pointer[func(ds []pipeline.Decision)]
}

type origin struct {
	Origin
	tokens float64
	filled time.Time
	active int
	queue  []*deferred // bans waiting for tokens, oldest first
}

// New makes an enforcer over sink; eng holds its ledger (an engine with
// no rules: see NoRules) and is restored by the caller before use.
func New(pol Policy, eng *pipeline.Engine, sink pipeline.Sink, log *slog.Logger) (*Enforcer, error) {
	pol.setDefaults()
	if err := pol.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	e := &Enforcer{pol: pol, sink: sink, log: log, now: time.Now, eng: eng,
		origins: map[string]*origin{}, counts: map[Reason]*atomic.Uint64{}, fates: map[Fate]*atomic.Uint64{},
		mem: newMemory(pol.Remember, pol.MaxRemembered), qdirty: map[string][]byte{},
		overrides: map[netip.Prefix]Override{}, notes: map[infoKey]banNote{}}
	for _, r := range Reasons {
		e.counts[r] = new(atomic.Uint64)
	}
	for _, f := range Fates {
		e.fates[f] = new(atomic.Uint64)
	}
	for _, o := range pol.Origins {
		e.origins[o.Name] = &origin{Origin: o, tokens: float64(o.MaxPerMinute)}
		e.names = append(e.names, o.Name)
	}
	e.recount(e.now())
	return e, nil
}

// OnApply sets a function called with each target right after the sink
// took its ban (latency measurements); it must not block.
func (e *Enforcer) OnApply(f func(target string)) { e.onApply.Store(&f) }

// OnWrite sets a function called with the decisions the sink took, right
// after it took them (the decision-to-kernel histogram); it must not block
// nor keep ds.
func (e *Enforcer) OnWrite(f func(ds []pipeline.Decision)) { e.onWrite.Store(&f) }

// SetClock replaces the wall clock (tests).
func (e *Enforcer) SetClock(now func() time.Time) { e.now = now }

// Counts reports how many decisions met each fate.
func (e *Enforcer) Counts() map[Reason]uint64 {
	out := make(map[Reason]uint64, len(e.counts))
	for r, c := range e.counts {
		out[r] = c.Load()
	}
	return out
}

// Active is the number of targets banned, and per origin the bans each
// holds.
func (e *Enforcer) Active() (int, map[string]int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	per := make(map[string]int, len(e.origins))
	for n, o := range e.origins {
		per[n] = o.active
	}
	return e.eng.Ledger().Len(), per
}

// recount sets each origin's active count from the ledger, in one pass
// over the bans (one pass per origin was the sensors times the bans at
// every tick).
func (e *Enforcer) recount(now time.Time) {
	for _, o := range e.origins {
		o.active = 0
	}
	e.eng.Ledger().EachActive(now, func(_ netip.Prefix, rule string, _ time.Time) {
		if o := e.origins[rule]; o != nil {
			o.active++
		}
	})
}

// Tick drops expired records (the kernel expires its elements by itself),
// refreshes the active counts, forgets decisions past their memory and
// applies the deferred bans that the refilled tokens allow; call it every
// few seconds.
func (e *Enforcer) Tick() {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	e.eng.Tick(now)
	e.recount(now)
	e.mem.expire(now)
	e.expireOverrides(now)
	e.pruneNotes(now)
	var p plan
	e.retry(&p, now)
	if len(p.out) > 0 {
		// Tick has no caller's context; a netlink write takes milliseconds.
		ctx, cancel := context.WithTimeout(context.Background(), tickWrite)
		defer cancel()
		if err := e.sink.Write(ctx, p.out); err != nil {
			p.rollback()
			e.log.Error("deferred bans not enforced; retried at the next tick", "count", len(p.out), "err", err)
			return
		}
		e.lastApply.Store(time.Now().UnixNano())
	}
	e.settle(&p)
}

// tickWrite bounds the firewall update of deferred bans.
const tickWrite = 10 * time.Second

// settle reports what a plan did once the firewall took it.
func (e *Enforcer) settle(p *plan) {
	if f := e.onWrite.Load(); f != nil && len(p.out) > 0 {
		(*f)(p.out)
	}
	for _, f := range p.fates {
		e.fates[f].Add(1)
	}
	if f := e.onApply.Load(); f != nil {
		for _, t := range p.applied {
			(*f)(t.String())
		}
	}
}

// TakeChanges returns the ledger's changes since the last call, for the
// caller to persist.
func (e *Enforcer) TakeChanges() pipeline.Changes {
	e.mu.Lock()
	defer e.mu.Unlock()
	return pipeline.MergeChanges(e.pending, e.eng.TakeChanges())
}

// KeepChanges hands back changes a failed save could not persist; the next
// TakeChanges returns them with the newer ones.
func (e *Enforcer) KeepChanges(ch pipeline.Changes) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.pending = ch
}

// Message is one decision as it came off the bus: its JSON as published
// and its signature headers.
type Message struct {
	Data        []byte
	Signer, Sig string
}

// Judge decides the fate of one message.
func (e *Enforcer) Judge(ctx context.Context, data []byte, signer, sig string) (Reason, error) {
	rs, err := e.JudgeBatch(ctx, []Message{{Data: data, Signer: signer, Sig: sig}})
	if err != nil {
		return "", err
	}
	return rs[0], nil
}

// JudgeBatch decides the fate of several messages at once: signatures are
// verified in parallel, the decisions judged in order, and what is
// accepted goes to the sink in one write (one netlink batch, rather than a
// round trip per ban). When the sink fails, nothing of the batch is
// recorded and the error asks for the whole batch again.
func (e *Enforcer) JudgeBatch(ctx context.Context, msgs []Message) ([]Reason, error) {
	rs, _, _, err := e.JudgeDetail(ctx, msgs)
	return rs, err
}

// JudgeDetail is JudgeBatch that also returns the decisions as decoded (the
// zero Decision for one that did not verify or decode: its content is not
// to be believed) and when the firewall took the batch (zero when nothing
// went to it).
func (e *Enforcer) JudgeDetail(ctx context.Context, msgs []Message) ([]Reason, []pipeline.Decision, time.Time, error) {
	rs := make([]Reason, len(msgs))
	ds := make([]pipeline.Decision, len(msgs))
	e.open(msgs, rs, ds)
	for i := range rs {
		if rs[i] != "" {
			ds[i] = pipeline.Decision{}
		}
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	var p plan
	for i := range msgs {
		if rs[i] == "" {
			rs[i] = e.decide(&p, &ds[i], msgs[i].Signer, now)
		}
	}
	var applied time.Time
	if len(p.out) > 0 {
		if err := e.sink.Write(ctx, p.out); err != nil {
			// Not in force: forget it all (the ids too) so that the
			// redelivery applies it.
			p.rollback()
			return nil, nil, time.Time{}, fmt.Errorf("enforce: %d decisions: %w", len(p.out), err)
		}
		applied = time.Now()
		e.lastApply.Store(applied.UnixNano())
	}
	for _, r := range rs {
		e.counts[r].Add(1)
	}
	e.settle(&p)
	return rs, ds, applied, nil
}

// open verifies and decodes each message, in parallel: the signature
// check is most of a decision's cost. rs[i] is set for what is refused.
func (e *Enforcer) open(msgs []Message, rs []Reason, ds []pipeline.Decision) {
	one := func(i int) {
		if r := openMessage(&msgs[i], &ds[i]); r != "" {
			rs[i] = r
		}
	}
	sign.Each(len(msgs), one)
}

// plan is what a batch does to the firewall, and how to take it back.
type plan struct {
	out     []pipeline.Decision
	undo    []func()
	applied []pipeline.Target
	fates   []Fate // of deferred bans retried
}

func (p *plan) rollback() {
	for j := len(p.undo) - 1; j >= 0; j-- {
		p.undo[j]()
	}
}

// decide judges one verified decision under e.mu, adding to p what the
// firewall must do. A decision applied once is refused when it comes
// again, and so is one older than the newest applied for its origin and
// target: a signed message captured off the bus and replayed changes
// nothing. Those refusals come before the rate, so a replay flood costs
// the origin no token.
func (e *Enforcer) decide(p *plan, d *pipeline.Decision, signer string, now time.Time) Reason {
	o := e.origins[d.Origin]
	if o == nil {
		return RefusedUnknown
	}
	if signer != o.Key {
		return RefusedWrongKey
	}
	target, err := d.Prefix()
	if err != nil {
		return RefusedMalformed
	}
	switch d.Action {
	case pipeline.ActionUnban:
		if !o.MayUnban {
			return RefusedUnban
		}
	case pipeline.ActionBan:
	default:
		return RefusedMalformed
	}
	if r := e.mem.check(o.Name, target, d); r != "" {
		return r
	}
	var r Reason
	if d.Action == pipeline.ActionUnban {
		r = e.lift(p, o, target, now)
	} else {
		r = e.ban(p, o, d, target, now, false)
	}
	switch r {
	case Accepted, AlreadyEnforced, Lifted, Deferred:
		p.undo = append(p.undo, e.mem.note(o.Name, target, d, now))
	}
	return r
}

// ban judges a ban of o, new or deferred (queued): a new one waits behind
// the origin's queue, and one refused only for the rate joins it.
func (e *Enforcer) ban(p *plan, o *origin, d *pipeline.Decision, target netip.Prefix, now time.Time, queued bool) Reason {
	if !d.Expires.After(now) {
		return RefusedExpired
	}
	if r := e.pol.checkTarget(target); r != "" {
		return r
	}
	if e.overridden(target, now) {
		return RefusedOverride
	}
	dur := min(d.Expires.Sub(now), o.MaxDuration)
	if until, ok := e.eng.Ledger().Active(target, now); ok && !now.Add(dur).After(until) {
		return AlreadyEnforced
	}
	if e.eng.Ledger().Covered(target, now.Add(dur)) {
		return AlreadyEnforced
	}
	if o.active >= o.MaxActive {
		return RefusedActive
	}
	if !queued && len(o.queue) > 0 {
		return e.deferBan(p, o, d, target)
	}
	if !o.take(now) {
		if queued {
			return RefusedRate
		}
		return e.deferBan(p, o, d, target)
	}
	// The ledger keeps one record per rule, and the enforcer's rule is the
	// origin: a longer ban from the same origin replaces its shorter one.
	prev, had := e.eng.Ledger().RuleExpiry(target, o.Name)
	had = had && prev.After(now)
	if had {
		e.eng.Ledger().UnbanRule(target, o.Name)
	}
	x, ok := e.eng.Ban(target, o.Name, fmt.Sprintf("%s (%s, from %s)", d.Reason, d.Rule, d.Origin), dur, now)
	if !ok {
		if had {
			e.restore(target, o.Name, prev, now)
		}
		o.refund()
		return AlreadyEnforced
	}
	x.ID, x.Rule, x.Origin = d.ID, d.Rule, d.Origin
	key := infoKey{target, o.Name}
	note, hadNote := e.notes[key]
	e.notes[key] = banNote{rule: d.Rule, id: d.ID}
	p.out = append(p.out, x)
	p.applied = append(p.applied, x.Target)
	if !had {
		o.active++
	}
	p.undo = append(p.undo, func() {
		e.eng.Ledger().UnbanRule(target, o.Name)
		if hadNote {
			e.notes[key] = note
		} else {
			delete(e.notes, key)
		}
		if had {
			e.restore(target, o.Name, prev, now)
		} else {
			o.active--
		}
		o.refund()
	})
	return Accepted
}

// restore puts back a record taken out to be replaced.
func (e *Enforcer) restore(target netip.Prefix, rule string, until, now time.Time) {
	e.eng.Ledger().Ban(pipeline.BanRequest{Target: target, Policy: &pipeline.Policy{Name: rule, Ban: until.Sub(now), Threshold: 1}, At: now})
}

// lift removes o's record on target; the firewall follows what is left.
func (e *Enforcer) lift(p *plan, o *origin, target netip.Prefix, now time.Time) Reason {
	prev, _ := e.eng.Ledger().RuleExpiry(target, o.Name)
	ok, until := e.eng.Ledger().UnbanRule(target, o.Name)
	if !ok {
		return AlreadyEnforced
	}
	o.active = max(0, o.active-1)
	t := pipeline.TargetOf(target)
	scope := t.Scope()
	p.out = append(p.out, pipeline.Decision{Action: pipeline.ActionUnban, Target: t, Scope: scope, At: now, Expires: now, Origin: o.Name})
	if until.After(now) {
		// Another origin still bans it, perhaps for less long: the kernel
		// element is replaced by one that ends with the longest left.
		p.out = append(p.out, pipeline.Decision{Action: pipeline.ActionBan, Target: t, Scope: scope, At: now,
			Duration: int64(until.Sub(now) / time.Second), Expires: until, Reason: "remaining bans"})
	}
	p.undo = append(p.undo, func() {
		if prev.After(now) {
			e.restore(target, o.Name, prev, now)
			o.active++
		}
	})
	return Lifted
}

// pruneNotes forgets the notes of bans no longer in force. e.mu is held.
func (e *Enforcer) pruneNotes(now time.Time) {
	for k := range e.notes {
		if until, ok := e.eng.Ledger().RuleExpiry(k.target, k.origin); !ok || !until.After(now) {
			delete(e.notes, k)
		}
	}
}

// take spends one of o's tokens, refilled at MaxPerMinute per minute.
func (o *origin) take(now time.Time) bool {
	capacity := float64(o.MaxPerMinute)
	if !o.filled.IsZero() {
		o.tokens = min(capacity, o.tokens+now.Sub(o.filled).Minutes()*capacity)
	}
	o.filled = now
	if o.tokens < 1 {
		return false
	}
	o.tokens--
	return true
}

func (o *origin) refund() { o.tokens = min(float64(o.MaxPerMinute), o.tokens+1) }

// NoRules is the matcher of an enforcer's engine: it judges no lines, its
// ledger only records what the enforcer accepted.
type NoRules struct{}

func (NoRules) Match(_ *pipeline.Event, hits []pipeline.Hit) []pipeline.Hit { return hits }
func (NoRules) Policies() []*pipeline.Policy                                { return nil }
