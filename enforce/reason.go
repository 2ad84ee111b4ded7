package enforce

import "github.com/stockade-ids/stockade/sources/bus"

// Reason is why a decision was refused, or what became of it: a bounded
// metric label.
type Reason string

const (
	Accepted           Reason = "accepted"
	AlreadyEnforced    Reason = "already_enforced" // an equal or longer ban is in force
	Lifted             Reason = "lifted"           // an allowed unban
	RefusedUnsigned    Reason = bus.RefusedUnsigned
	RefusedForged      Reason = "forged"
	RefusedUnknown     Reason = "unknown_origin"
	RefusedWrongKey    Reason = "wrong_key" // signed, but not by the key trusted for its origin
	RefusedMalformed   Reason = "malformed"
	RefusedExpired     Reason = "expired"
	RefusedUnban       Reason = "unban_not_allowed"
	RefusedAllowlisted Reason = "allowlisted"
	RefusedSpecial     Reason = "private_or_reserved"
	RefusedTooBroad    Reason = "too_broad"
	RefusedRate        Reason = "rate_limited" // a deferred ban still waiting; a new one over the rate is Deferred
	Deferred           Reason = "deferred"     // over the origin's rate: applied when its tokens refill, if still valid
	RefusedDuplicate   Reason = "duplicate"    // applied already (a replay, or a redelivery after a lost ack)
	RefusedStale       Reason = "stale"        // older than a decision applied for its origin and target
	RefusedActive      Reason = "too_many_active"
	RefusedOverride    Reason = "overridden" // the firewall's administrator lifted the target's bans here (Unban)
)

// Reasons lists every reason, for metrics with all series present.
var Reasons = []Reason{Accepted, AlreadyEnforced, Lifted, RefusedUnsigned, RefusedForged, RefusedUnknown,
	RefusedWrongKey, RefusedMalformed, RefusedExpired, RefusedUnban, RefusedAllowlisted, RefusedSpecial,
	RefusedTooBroad, RefusedRate, RefusedActive, Deferred, RefusedDuplicate, RefusedStale, RefusedOverride}

// Refused reports whether r refuses the decision.
func (r Reason) Refused() bool {
	return r != Accepted && r != AlreadyEnforced && r != Lifted && r != Deferred
}
