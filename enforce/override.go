package enforce

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

// Override is a local administrator's word over the fleet's: the target's
// bans were lifted here, and any ban of it (a new one, a redelivery, a
// captured one replayed, a deferred one coming due) is refused until Until.
type Override struct {
	Target netip.Prefix `json:"target"`
	Until  time.Time    `json:"until"`
	Reason string       `json:"reason"`
	At     time.Time    `json:"at"`
	// Origins are those whose bans were lifted.
	Origins []string `json:"origins,omitempty"`
}

const (
	kindOverride = "override\x00"
	// maxOverrides bounds the overrides in force: each is typed by an
	// administrator, and each ban judged is checked against them.
	maxOverrides = 10000
)

// BanInfo is one origin's ban in force on a target.
type BanInfo struct {
	Target  netip.Prefix
	Origin  string
	Rule    string // the sensor's rule; "" when not known (restored from the state)
	ID      string // the decision's
	Expires time.Time
}

type infoKey struct {
	target netip.Prefix
	origin string
}

type banNote struct{ rule, id string }

// Bans lists every origin's ban in force, by target then origin.
func (e *Enforcer) Bans() []BanInfo {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	var out []BanInfo
	for _, name := range e.names {
		for _, t := range e.eng.Ledger().ByRule(name, now) {
			until, _ := e.eng.Ledger().RuleExpiry(t, name)
			n := e.notes[infoKey{t, name}]
			out = append(out, BanInfo{Target: t, Origin: name, Rule: n.rule, ID: n.id, Expires: until})
		}
	}
	slices.SortFunc(out, func(a, b BanInfo) int {
		if c := a.Target.Addr().Compare(b.Target.Addr()); c != 0 {
			return c
		}
		if c := a.Target.Bits() - b.Target.Bits(); c != 0 {
			return c
		}
		return strings.Compare(a.Origin, b.Origin)
	})
	return out
}

// Overrides lists the overrides in force.
func (e *Enforcer) Overrides() []Override {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	out := make([]Override, 0, len(e.overrides))
	for _, o := range e.overrides {
		if o.Until.After(now) {
			out = append(out, o)
		}
	}
	slices.SortFunc(out, func(a, b Override) int { return a.At.Compare(b.At) })
	return out
}

// ErrNotBanned is Unban's answer for a target no origin bans here.
var ErrNotBanned = errors.New("not banned here")

// Unban lifts every origin's ban of target here and refuses its bans
// until the longest of them would have ended, or for dur when dur > 0 (a
// target not banned can be overridden ahead only with dur). The override
// is persisted with the enforcer's memory.
func (e *Enforcer) Unban(ctx context.Context, target netip.Prefix, reason string, dur time.Duration) (Override, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	target = target.Masked()
	ov := Override{Target: target, Reason: reason, At: now}
	var prev []time.Time
	for _, name := range e.names {
		if until, ok := e.eng.Ledger().RuleExpiry(target, name); ok && until.After(now) {
			ov.Origins = append(ov.Origins, name)
			prev = append(prev, until)
			if until.After(ov.Until) {
				ov.Until = until
			}
		}
	}
	if dur > 0 {
		ov.Until = now.Add(dur)
	}
	if !ov.Until.After(now) {
		return Override{}, fmt.Errorf("%s: %w (give a duration to refuse its bans ahead)", target, ErrNotBanned)
	}
	if _, had := e.overrides[target]; !had && len(e.overrides) >= maxOverrides {
		e.expireOverrides(now)
		if len(e.overrides) >= maxOverrides {
			return Override{}, fmt.Errorf("%d overrides in force: lift some first", maxOverrides)
		}
	}
	if len(ov.Origins) > 0 {
		if err := e.liftAll(ctx, target, ov.Origins, prev, reason, now); err != nil {
			return Override{}, err
		}
	}
	e.overrides[target] = ov
	v, _ := json.Marshal(ov)
	e.qdirty[kindOverride+target.String()] = v
	return ov, nil
}

// liftAll removes the origins' records on target and the kernel's
// element; nothing changes when the kernel refuses.
func (e *Enforcer) liftAll(ctx context.Context, target netip.Prefix, origins []string, prev []time.Time, reason string, now time.Time) error {
	x, _ := e.eng.Unban(target, "overridden here: "+reason, now)
	if err := e.sink.Write(ctx, []pipeline.Decision{x}); err != nil {
		for i, name := range origins {
			e.restore(target, name, prev[i], now)
		}
		return fmt.Errorf("the firewall did not take the unban: %w", err)
	}
	for _, name := range origins {
		delete(e.notes, infoKey{target, name})
	}
	e.recount(now)
	return nil
}

// Release ends the override on target (its bans are judged again from
// now on; the ones lifted stay lifted). It reports whether there was one.
func (e *Enforcer) Release(target netip.Prefix) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	target = target.Masked()
	if _, ok := e.overrides[target]; !ok {
		return false
	}
	delete(e.overrides, target)
	e.qdirty[kindOverride+target.String()] = nil
	return true
}

// overridden reports whether an override in force covers any of target.
// e.mu is held.
func (e *Enforcer) overridden(target netip.Prefix, now time.Time) bool {
	if len(e.overrides) == 0 {
		return false
	}
	if o, ok := e.overrides[target]; ok && o.Until.After(now) {
		return true
	}
	for _, o := range e.overrides {
		if o.Until.After(now) && o.Target.Overlaps(target) {
			return true
		}
	}
	return false
}

// expireOverrides forgets the overrides past their time. e.mu is held.
func (e *Enforcer) expireOverrides(now time.Time) {
	for t, o := range e.overrides {
		if !o.Until.After(now) {
			delete(e.overrides, t)
			e.qdirty[kindOverride+t.String()] = nil
		}
	}
}

// restoreOverride loads one persisted override; false when it does not
// decode.
func (e *Enforcer) restoreOverride(key string, v []byte, now time.Time) bool {
	var o Override
	if err := json.Unmarshal(v, &o); err != nil || !o.Target.IsValid() || key != kindOverride+o.Target.String() {
		return false
	}
	if !o.Until.After(now) {
		e.qdirty[key] = nil
		return true
	}
	e.overrides[o.Target] = o
	return true
}
