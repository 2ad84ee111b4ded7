package pipeline

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"time"
)

// Action is what a decision asks of a firewall.
type Action string

const (
	ActionBan   Action = "ban"
	ActionUnban Action = "unban"
)

// Scope says whether Target is one address or a range.
type Scope string

const (
	ScopeIP    Scope = "ip"
	ScopeRange Scope = "range"
)

// Decision is the contract between stockade and everything that enforces or
// records its verdicts (files, nftables, NATS and Kafka consumers). Its JSON
// form is stable: fields are only ever added.
type Decision struct {
	// ID is deterministic: the same decision replayed twice has the same id,
	// so idempotent sinks (JetStream de-duplication, Kafka consumers) drop
	// the copy.
	ID       string    `json:"id"`
	Action   Action    `json:"action"`
	Target   string    `json:"target"` // "203.0.113.7" or "2001:db8::/64"
	Scope    Scope     `json:"scope"`
	Rule     string    `json:"rule"`
	Pack     string    `json:"pack"`
	Reason   string    `json:"reason"`
	At       time.Time `json:"at"` // event time of the line that decided it
	Duration int64     `json:"duration_s"`
	Expires  time.Time `json:"expires"`
	Offense  int       `json:"offense"` // 1 for this target's first ban
	Origin   string    `json:"origin"`  // the sensor that decided
	Source   string    `json:"source"`  // the log the deciding line came from
	Evidence []string  `json:"evidence"`
	// Provenance lists the decisions of other sensors this one was built
	// from (a correlator's fleet ban), so that a firewall or an auditor can
	// see who asked for it.
	Provenance []Provenance `json:"provenance,omitempty"`
	// Simulated marks a decision of a rule in mode: simulate; it is
	// logged and listed, never enforced nor sent.
	Simulated bool `json:"simulated,omitempty"`
}

// Provenance names one decision another was built from.
type Provenance struct {
	ID     string `json:"id"`
	Origin string `json:"origin"`
	// Signer is the public key whose signature the correlator verified;
	// empty for a decision read from a file, which carries no signature.
	Signer string `json:"signer,omitempty"`
}

// TargetString renders a prefix the way decisions carry it: a bare address
// for a single host, CIDR notation for a range.
func TargetString(p netip.Prefix) (string, Scope) {
	if p.IsSingleIP() {
		return p.Addr().String(), ScopeIP
	}
	return p.Masked().String(), ScopeRange
}

// Prefix parses the decision's target back into a prefix (a single address
// becomes a /32 or /128), canonicalising IPv4-mapped IPv6.
func (d *Decision) Prefix() (netip.Prefix, error) {
	return ParseTarget(d.Target)
}

// ParseTarget parses "203.0.113.7", "::ffff:203.0.113.7" or "2001:db8::/64".
func ParseTarget(s string) (netip.Prefix, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		a = Canonical(a)
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("target %q is neither an address nor a CIDR", s)
	}
	a := p.Addr()
	bits := p.Bits()
	if a.Is4In6() {
		if bits < 96 {
			return netip.Prefix{}, fmt.Errorf("target %q: an IPv4-mapped range needs at least /96", s)
		}
		a, bits = a.Unmap(), bits-96
	}
	return netip.PrefixFrom(a.WithZone(""), bits).Masked(), nil
}

// decisionID hashes what makes a decision unique. Hex of 128 bits: short
// enough for a message id, long enough never to collide.
func decisionID(origin string, action Action, target, rule string, at time.Time, offense int) string {
	h := sha256.New()
	var buf [16]byte
	for _, s := range []string{origin, string(action), target, rule} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	binary.BigEndian.PutUint64(buf[:8], uint64(at.UnixNano()))
	binary.BigEndian.PutUint64(buf[8:], uint64(offense))
	h.Write(buf[:])
	sum := h.Sum(nil)
	return hex.EncodeToString(sum[:16])
}
