package enforce

// kindAllow is the record of the firewall's runtime allowlist
// (guard.Runtime, owned by the firewall's loop) in the enforcer's memory,
// so that it is saved with the rest, in the same transaction.
const kindAllow = "allow\x00"

// SaveAllow has the runtime allowlist (its JSON) saved with the next save.
func (e *Enforcer) SaveAllow(v []byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.qdirty[kindAllow] = v
}

// SavedAllow is the runtime allowlist RestoreMemory found, nil for none.
func (e *Enforcer) SavedAllow() []byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.allowSaved
}
