package guard

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// Runtime is the allowlist an operator changes while the daemon runs
// (`stockade allow add|del|list`), beside the configuration's: its entries
// may run out (--for) and carry a comment, it is persisted with the state,
// and it fills the guard's Runtime set, so that it protects exactly as the
// configuration's allowlist does. It is not safe for concurrent use: the
// daemon's loop owns it.
type Runtime struct {
	g       *Guard
	entries map[netip.Prefix]Entry
}

// RuntimeSet is the guard set the runtime allowlist fills.
const RuntimeSet = "allow-runtime"

// MaxRuntime bounds the runtime allowlist: past it, add is refused (a
// script gone wrong must not grow the guard without end).
const MaxRuntime = 65536

// Entry is one runtime allowlist entry.
type Entry struct {
	Prefix  netip.Prefix `json:"prefix"`
	Comment string       `json:"comment,omitempty"`
	Added   time.Time    `json:"added"`
	Expires time.Time    `json:"expires,omitzero"` // zero: until deleted
	// Source is "runtime" or "config" in `allow list`'s reply; the
	// state does not keep it.
	Source string `json:"source,omitempty"`
}

// NewRuntime is an empty runtime allowlist filling g's RuntimeSet.
func NewRuntime(g *Guard) *Runtime {
	return &Runtime{g: g, entries: map[netip.Prefix]Entry{}}
}

// Add adds e (replacing an entry of the same prefix) and publishes the set.
func (r *Runtime) Add(e Entry) error {
	p, ok := canonical(e.Prefix)
	if !ok {
		return fmt.Errorf("%v is not an address or a range", e.Prefix)
	}
	e.Prefix = p
	if _, there := r.entries[p]; !there && len(r.entries) >= MaxRuntime {
		return fmt.Errorf("the runtime allowlist holds %d entries already: put ranges in the configuration's allow list", MaxRuntime)
	}
	r.entries[p] = e
	r.publish()
	return nil
}

// Del removes p's entry; false when there was none.
func (r *Runtime) Del(p netip.Prefix) bool {
	p, _ = canonical(p)
	if _, ok := r.entries[p]; !ok {
		return false
	}
	delete(r.entries, p)
	r.publish()
	return true
}

// List returns the entries by address.
func (r *Runtime) List() []Entry {
	out := make([]Entry, 0, len(r.entries))
	for _, e := range r.entries {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b Entry) int { return comparePrefix(a.Prefix, b.Prefix) })
	return out
}

// Expire removes the entries that ran out at now and returns them.
func (r *Runtime) Expire(now time.Time) []Entry {
	var gone []Entry
	for p, e := range r.entries {
		if !e.Expires.IsZero() && !e.Expires.After(now) {
			gone = append(gone, e)
			delete(r.entries, p)
		}
	}
	if len(gone) > 0 {
		slices.SortFunc(gone, func(a, b Entry) int { return comparePrefix(a.Prefix, b.Prefix) })
		r.publish()
	}
	return gone
}

// MarshalJSON is the entries, for the state.
func (r *Runtime) MarshalJSON() ([]byte, error) { return json.Marshal(r.List()) }

// Load replaces the entries with saved ones, dropping those that ran out
// by now.
func (r *Runtime) Load(data []byte, now time.Time) error {
	var es []Entry
	if err := json.Unmarshal(data, &es); err != nil {
		return err
	}
	clear(r.entries)
	for _, e := range es {
		if p, ok := canonical(e.Prefix); ok && (e.Expires.IsZero() || e.Expires.After(now)) {
			e.Prefix = p
			r.entries[p] = e
		}
	}
	r.publish()
	return nil
}

func (r *Runtime) publish() {
	ps := make([]netip.Prefix, 0, len(r.entries))
	for p := range r.entries {
		ps = append(ps, p)
	}
	r.g.Set(RuntimeSet, ps)
}

func canonical(p netip.Prefix) (netip.Prefix, bool) {
	if !p.IsValid() {
		return netip.Prefix{}, false
	}
	a, bits := p.Addr(), p.Bits()
	if a.Is4In6() && bits >= 96 {
		a, bits = a.Unmap(), bits-96
	}
	return netip.PrefixFrom(a.WithZone(""), bits).Masked(), true
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}
