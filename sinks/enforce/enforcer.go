package enforce

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
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

	counts    map[Reason]*atomic.Uint64
	lastApply atomic.Int64 // unix ns when the sink last took a decision
}

type origin struct {
	Origin
	tokens float64
	filled time.Time
	active int
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
		origins: map[string]*origin{}, counts: map[Reason]*atomic.Uint64{}}
	for _, r := range Reasons {
		e.counts[r] = new(atomic.Uint64)
	}
	for _, o := range pol.Origins {
		e.origins[o.Name] = &origin{Origin: o, tokens: float64(o.MaxPerMinute)}
	}
	e.recount(e.now())
	return e, nil
}

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

// recount sets each origin's active count from the ledger.
func (e *Enforcer) recount(now time.Time) {
	for n, o := range e.origins {
		o.active = len(e.eng.Ledger().ByRule(n, now))
	}
}

// Tick drops expired records (the kernel expires its elements by itself)
// and refreshes the active counts; call it every few seconds.
func (e *Enforcer) Tick() {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	e.eng.Tick(now)
	e.recount(now)
}

// Judge decides the fate of one message: data is a decision's JSON as
// published, signer and sig its signature headers.
func (e *Enforcer) Judge(ctx context.Context, data []byte, signer, sig string) (Reason, error) {
	r, err := e.judge(ctx, data, signer, sig)
	if err == nil {
		e.counts[r].Add(1)
	}
	return r, err
}

func (e *Enforcer) judge(ctx context.Context, data []byte, signer, sig string) (Reason, error) {
	// The signature first: nothing in an unverified message is believed,
	// not even the origin it names.
	if err := sign.Verify(signer, data, sig); err != nil {
		if errors.Is(err, sign.ErrUnsigned) {
			return RefusedUnsigned, nil
		}
		return RefusedForged, nil
	}
	var d pipeline.Decision
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&d); err != nil {
		return RefusedMalformed, nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	o := e.origins[d.Origin]
	if o == nil {
		return RefusedUnknown, nil
	}
	if signer != o.Key {
		return RefusedWrongKey, nil
	}
	target, err := pipeline.ParseTarget(d.Target)
	if err != nil {
		return RefusedMalformed, nil
	}
	now := e.now()
	switch d.Action {
	case pipeline.ActionUnban:
		if !o.MayUnban {
			return RefusedUnban, nil
		}
		return e.lift(ctx, o, target, now)
	case pipeline.ActionBan:
	default:
		return RefusedMalformed, nil
	}
	if !d.Expires.After(now) {
		return RefusedExpired, nil
	}
	if r := e.pol.checkTarget(target); r != "" {
		return r, nil
	}
	dur := min(d.Expires.Sub(now), o.MaxDuration)
	if until, ok := e.eng.Ledger().Active(target, now); ok && !now.Add(dur).After(until) {
		return AlreadyEnforced, nil
	}
	if e.eng.Ledger().Covered(target, now.Add(dur)) {
		return AlreadyEnforced, nil
	}
	if o.active >= o.MaxActive {
		return RefusedActive, nil
	}
	if !o.take(now) {
		return RefusedRate, nil
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
		return AlreadyEnforced, nil
	}
	x.ID, x.Rule, x.Origin = d.ID, d.Rule, d.Origin
	if err := e.sink.Write(ctx, []pipeline.Decision{x}); err != nil {
		// Not in force: forget it so that the redelivery applies it.
		e.eng.Ledger().UnbanRule(target, o.Name)
		if had {
			e.restore(target, o.Name, prev, now)
		}
		o.refund()
		return "", fmt.Errorf("enforce %s: %w", d.Target, err)
	}
	e.lastApply.Store(time.Now().UnixNano())
	if !had {
		o.active++
	}
	return Accepted, nil
}

// restore puts back a record taken out to be replaced.
func (e *Enforcer) restore(target netip.Prefix, rule string, until, now time.Time) {
	e.eng.Ledger().Ban(pipeline.BanRequest{Target: target, Policy: &pipeline.Policy{Name: rule, Ban: until.Sub(now), Threshold: 1}, At: now})
}

// lift removes o's record on target; the firewall follows what is left.
func (e *Enforcer) lift(ctx context.Context, o *origin, target netip.Prefix, now time.Time) (Reason, error) {
	ok, until := e.eng.Ledger().UnbanRule(target, o.Name)
	if !ok {
		return AlreadyEnforced, nil
	}
	o.active = max(0, o.active-1)
	t, scope := pipeline.TargetString(target)
	ds := []pipeline.Decision{{Action: pipeline.ActionUnban, Target: t, Scope: scope, At: now, Expires: now, Origin: o.Name}}
	if until.After(now) {
		// Another origin still bans it, perhaps for less long: the kernel
		// element is replaced by one that ends with the longest left.
		ds = append(ds, pipeline.Decision{Action: pipeline.ActionBan, Target: t, Scope: scope, At: now,
			Duration: int64(until.Sub(now) / time.Second), Expires: until, Reason: "remaining bans"})
	}
	if err := e.sink.Write(ctx, ds); err != nil {
		return "", fmt.Errorf("lift %s: %w", t, err)
	}
	return Lifted, nil
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
