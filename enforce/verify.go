package enforce

import (
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/pipeline/sign"
	"github.com/stockade-ids/stockade/sources/bus"
	"github.com/stockade-ids/stockade/sources/decision"
)

// Verifier holds decisions to a policy for a reader that does not enforce
// them but acts on them: a correlator, whose fleet bans every firewall
// trusts. Without it, anyone able to publish on the bus chose whom the
// fleet banned: the correlator signs what it decides, so it must believe
// no more than a firewall would. The checks are the enforcer's: the
// signature, the key trusted for the origin, strict decoding, the
// allowlist and the target rules, unbans only from origins allowed them,
// and each origin's rate of bans. What the Verifier does not apply is what
// needs a ledger (active bans, the longest ban in force) or says whether a
// ban is still to be enforced (expiry): a ban that has run its course is
// still evidence that a sensor banned.
type Verifier struct {
	pol Policy
	now func() time.Time

	mu      sync.Mutex
	origins map[string]*origin
	// warm are the origins' rate buckets for warm-up deliveries (see
	// VerifyDelivery), clocked by when each record was stored.
	warm map[string]*origin
}

// VerifyRefusals are the reasons Verify refuses for, for metrics with all
// series present.
var VerifyRefusals = []Reason{RefusedUnsigned, RefusedForged, RefusedUnknown, RefusedWrongKey, RefusedMalformed,
	RefusedUnban, RefusedAllowlisted, RefusedSpecial, RefusedTooBroad, RefusedRate}

// NewVerifier makes a verifier of pol.
func NewVerifier(pol Policy) (*Verifier, error) {
	pol.setDefaults()
	if err := pol.Validate(); err != nil {
		return nil, err
	}
	v := &Verifier{pol: pol, now: time.Now, origins: map[string]*origin{}, warm: map[string]*origin{}}
	for _, o := range pol.Origins {
		v.origins[o.Name] = &origin{Origin: o, tokens: float64(o.MaxPerMinute)}
		v.warm[o.Name] = &origin{Origin: o, tokens: float64(o.MaxPerMinute)}
	}
	return v, nil
}

// SetClock replaces the wall clock (tests).
func (v *Verifier) SetClock(now func() time.Time) { v.now = now }

// Verify judges one message, filling d; it returns Accepted or why the
// decision is refused.
func (v *Verifier) Verify(m *Message, d *pipeline.Decision) Reason {
	return v.verify(m, d, v.origins, time.Time{})
}

// verify is Verify taking each origin's rate from buckets, at stored (the
// wall clock when zero).
func (v *Verifier) verify(m *Message, d *pipeline.Decision, buckets map[string]*origin, stored time.Time) Reason {
	if r := openMessage(m, d); r != "" {
		return r
	}
	o := buckets[d.Origin]
	if o == nil {
		return RefusedUnknown
	}
	if m.Signer != o.Key {
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
		return Accepted
	case pipeline.ActionBan:
	default:
		return RefusedMalformed
	}
	if r := v.pol.checkTarget(target); r != "" {
		return r
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	now := stored
	if now.IsZero() {
		now = v.now()
	} else if now.Before(o.filled) {
		now = o.filled // records a little out of order refill nothing
	}
	if !o.take(now) {
		return RefusedRate
	}
	return Accepted
}

// openMessage verifies m's signature and decodes it strictly into d; it
// returns "" or why the message is refused.
func openMessage(m *Message, d *pipeline.Decision) Reason {
	// The signature first: nothing in an unverified message is believed,
	// not even the origin it names.
	if err := sign.Verify(m.Signer, m.Data, m.Sig); err != nil {
		if errors.Is(err, sign.ErrUnsigned) {
			return RefusedUnsigned
		}
		return RefusedForged
	}
	// Strictly: what is believed must be what every reader of the signed
	// bytes reads (see decision.Strict).
	if decision.Strict(m.Data) != nil || json.Unmarshal(m.Data, d) != nil {
		return RefusedMalformed
	}
	return ""
}

// VerifyDelivery is Verify of a message from the bus, as the bus.Verifier
// of a correlator's source of decisions: "" when accepted, else the Reason.
//
// A warm-up delivery (a record read again to rebuild what a Kafka
// partition's previous holder counted, bus.Delivery.WarmUp) is held to
// everything but the live rate: a day of an origin's bans arrives at
// once, which the live bucket would refuse, emptying it for the bans that
// follow. Its rate is that of a bucket of its own, clocked by when each
// record was stored: what the previous holder let through at its pace
// passes, a burst it refused does not.
func (v *Verifier) VerifyDelivery(d *bus.Delivery, x *pipeline.Decision) string {
	m := &Message{Data: d.Data, Signer: d.Signer, Sig: d.Sig}
	var r Reason
	if d.WarmUp && !d.Stored.IsZero() {
		r = v.verify(m, x, v.warm, d.Stored)
	} else {
		r = v.verify(m, x, v.origins, time.Time{})
	}
	if r != Accepted {
		return string(r)
	}
	return ""
}
