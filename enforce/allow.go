package enforce

import (
	"encoding/json"
	"net/netip"
	"slices"
	"time"
)

// AllowEntry is an address or range the firewall's administrator
// allowlisted at run time (stockade enforce allow add): never banned here
// while it lasts, whichever origin asks; persisted with the enforcer's
// memory.
type AllowEntry struct {
	Prefix  netip.Prefix `json:"prefix"`
	Until   time.Time    `json:"until,omitzero"` // zero: until deleted
	Comment string       `json:"comment,omitempty"`
	At      time.Time    `json:"at"`
}

const (
	kindAllow = "allow\x00"
	// GuardRuntime is the guard set the runtime allowlist fills.
	GuardRuntime = "allow (run time)"
	maxAllow     = 10000
)

// AllowAdd adds or replaces an entry. It returns the prefixes now in the
// runtime allowlist, for the guard.
func (e *Enforcer) AllowAdd(a AllowEntry) ([]netip.Prefix, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	a.Prefix = a.Prefix.Masked()
	if _, had := e.allow[a.Prefix]; !had && len(e.allow) >= maxAllow {
		return nil, false
	}
	e.allow[a.Prefix] = a
	v, _ := json.Marshal(a)
	e.qdirty[kindAllow+a.Prefix.String()] = v
	return e.allowed(), true
}

// AllowDel removes an entry; false when there was none.
func (e *Enforcer) AllowDel(p netip.Prefix) ([]netip.Prefix, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	p = p.Masked()
	if _, ok := e.allow[p]; !ok {
		return nil, false
	}
	delete(e.allow, p)
	e.qdirty[kindAllow+p.String()] = nil
	return e.allowed(), true
}

// AllowList lists the entries in force, oldest first.
func (e *Enforcer) AllowList() []AllowEntry {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	out := make([]AllowEntry, 0, len(e.allow))
	for _, a := range e.allow {
		if a.Until.IsZero() || a.Until.After(now) {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b AllowEntry) int { return a.At.Compare(b.At) })
	return out
}

// Allowed is the runtime allowlist's prefixes, for the guard.
func (e *Enforcer) Allowed() []netip.Prefix {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.allowed()
}

// expireAllow drops the entries past their time; it reports whether any
// went. e.mu is held.
func (e *Enforcer) expireAllow(now time.Time) bool {
	gone := false
	for p, a := range e.allow {
		if !a.Until.IsZero() && !a.Until.After(now) {
			delete(e.allow, p)
			e.qdirty[kindAllow+p.String()] = nil
			gone = true
		}
	}
	return gone
}

func (e *Enforcer) allowed() []netip.Prefix {
	out := make([]netip.Prefix, 0, len(e.allow))
	for p := range e.allow {
		out = append(out, p)
	}
	return out
}

func (e *Enforcer) restoreAllow(key string, v []byte, now time.Time) bool {
	var a AllowEntry
	if err := json.Unmarshal(v, &a); err != nil || !a.Prefix.IsValid() || key != kindAllow+a.Prefix.String() {
		return false
	}
	if !a.Until.IsZero() && !a.Until.After(now) {
		e.qdirty[key] = nil
		return true
	}
	e.allow[a.Prefix] = a
	return true
}
