package enforce

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

// Fate is what became of a deferred ban: a bounded metric label.
type Fate string

const (
	FateApplied    Fate = "applied"    // tokens came back in time
	FateExpired    Fate = "expired"    // its expiry passed while it waited
	FateSuperseded Fate = "superseded" // a newer decision of its origin, or a ban already in force, made it moot
	FateRefused    Fate = "refused"    // the policy now refuses it (allowlist, active bans)
	FateDropped    Fate = "dropped"    // the origin's queue was full: the oldest go first
)

// Fates lists every fate, for metrics with all series present.
var Fates = []Fate{FateApplied, FateExpired, FateSuperseded, FateRefused, FateDropped}

// A ban refused only for its origin's rate waits in the origin's queue,
// first in first out, and is applied as tokens refill while it is still
// valid: a burst beyond the rate (or a replay flood that used the tokens up
// before the ids were remembered) delays bans, it does not lose them.
type deferred struct {
	seq    uint64
	d      pipeline.Decision
	target netip.Prefix
}

func deferredKey(origin string, seq uint64) string {
	return fmt.Sprintf("%s%s\x00%016x", kindDeferred, origin, seq)
}

// Keys of the enforcer's memory as persisted: kind, then the kind's key.
const (
	kindSeen     = "seen\x00"
	kindDeferred = "deferred\x00"
)

// deferBan queues d for o, dropping the oldest when the queue is full.
func (e *Enforcer) deferBan(p *plan, o *origin, d *pipeline.Decision, target netip.Prefix) Reason {
	for len(o.queue) > 0 && len(o.queue) >= o.MaxDeferred {
		e.unqueue(o, 0)
		e.fates[FateDropped].Add(1)
	}
	e.seq++
	q := &deferred{seq: e.seq, d: *d, target: target}
	o.queue = append(o.queue, q)
	v, _ := json.Marshal(d)
	e.qdirty[deferredKey(o.Name, q.seq)] = v
	p.undo = append(p.undo, func() {
		if i := slices.Index(o.queue, q); i >= 0 {
			e.unqueue(o, i)
		}
	})
	return Deferred
}

func (e *Enforcer) unqueue(o *origin, i int) {
	e.qdirty[deferredKey(o.Name, o.queue[i].seq)] = nil
	o.queue = slices.Delete(o.queue, i, i+1)
}

// retry applies what each origin's tokens now allow of its queue, in
// order; a ban no longer valid leaves the queue with its fate.
func (e *Enforcer) retry(p *plan, now time.Time) {
	for _, name := range e.names {
		o := e.origins[name]
		for len(o.queue) > 0 {
			q := o.queue[0]
			var f Fate
			if e.mem.newer(o.Name, q.target, &q.d) {
				f = FateSuperseded
			} else {
				switch r := e.ban(p, o, &q.d, q.target, now, true); r {
				case RefusedRate:
					// No token yet: f stays empty and the queue waits.
				case Accepted:
					f = FateApplied
				case RefusedExpired:
					f = FateExpired
				case AlreadyEnforced:
					f = FateSuperseded
				default:
					f = FateRefused
				}
			}
			if f == "" {
				break
			}
			e.unqueue(o, 0)
			p.fates = append(p.fates, f)
			p.undo = append(p.undo, func() {
				o.queue = slices.Insert(o.queue, 0, q)
				v, _ := json.Marshal(&q.d)
				e.qdirty[deferredKey(o.Name, q.seq)] = v
			})
		}
	}
}

// Deferred reports the bans waiting per origin, and how many met each fate.
func (e *Enforcer) Deferred() (map[string]int, map[Fate]uint64) {
	e.mu.Lock()
	per := make(map[string]int, len(e.origins))
	for n, o := range e.origins {
		per[n] = len(o.queue)
	}
	e.mu.Unlock()
	fates := make(map[Fate]uint64, len(e.fates))
	for f, c := range e.fates {
		fates[f] = c.Load()
	}
	return per, fates
}

// Remembered is how many origin-target pairs the enforcer remembers
// decisions of, and how many it forgot early for its bound.
func (e *Enforcer) Remembered() (int, uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.mem.entries), e.mem.evicted
}

// TakeMemory returns what changed of the enforcer's memory (decisions
// applied, bans deferred) since the last call, for the caller to persist
// beside the ledger: key → value, nil to delete.
func (e *Enforcer) TakeMemory() map[string][]byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string][]byte, len(e.mem.dirty)+len(e.qdirty))
	e.mem.take(out)
	for k, v := range e.qdirty {
		out[k] = v
	}
	clear(e.qdirty)
	return out
}

// KeepMemory hands back what a failed save could not persist.
func (e *Enforcer) KeepMemory(kept map[string][]byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for k, v := range kept {
		if s, ok := strings.CutPrefix(k, kindSeen); ok {
			e.mem.dirty[s] = struct{}{} // its value is taken afresh
		} else if _, newer := e.qdirty[k]; !newer {
			e.qdirty[k] = v
		}
	}
}

// RestoreMemory loads the persisted memory (TakeMemory's records) after a
// restart, before the first decision; it returns how many records did not
// decode. Deferred bans of origins no longer trusted are forgotten.
func (e *Enforcer) RestoreMemory(recs map[string][]byte) (bad int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	keys := make([]string, 0, len(recs))
	for k := range recs {
		keys = append(keys, k)
	}
	slices.Sort(keys) // each origin's queue in order
	for _, k := range keys {
		if s, ok := strings.CutPrefix(k, kindSeen); ok {
			if !e.mem.restore(s, recs[k], now) {
				bad++
			}
			continue
		}
		if k == kindAllow {
			e.allowSaved = recs[k]
			continue
		}
		if strings.HasPrefix(k, kindOverride) {
			if !e.restoreOverride(k, recs[k], now) {
				bad++
				e.qdirty[k] = nil
			}
			continue
		}
		if !e.restoreDeferred(k, recs[k]) {
			bad++
			e.qdirty[k] = nil
		}
	}
	return bad
}

func (e *Enforcer) restoreDeferred(k string, v []byte) bool {
	rest, ok := strings.CutPrefix(k, kindDeferred)
	i := strings.LastIndexByte(rest, 0)
	if !ok || i < 0 {
		return false
	}
	seq, err := strconv.ParseUint(rest[i+1:], 16, 64)
	if err != nil {
		return false
	}
	o := e.origins[rest[:i]]
	var d pipeline.Decision
	if o == nil || json.Unmarshal(v, &d) != nil || d.Origin != o.Name {
		return false
	}
	target, err := d.Prefix()
	if err != nil {
		return false
	}
	o.queue = append(o.queue, &deferred{seq: seq, d: d, target: target})
	e.seq = max(e.seq, seq)
	return true
}
