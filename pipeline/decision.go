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

// MaxDecisionBytes is the most bytes of JSON a decision travels in
// between stockades, over NATS or Kafka (their default max_payload and
// message.max.bytes): the sinks fit a decision into it, cutting its
// evidence, and a bus source takes decisions up to it.
const MaxDecisionBytes = 1 << 20

// MaxLine is the longest line, its end of line included, that stockade's
// readers of logs take (sources.MaxLine); a longer one is counted as bad
// and skipped. A decisions file is such a log: the jsonl sink fits each
// decision into a line of it.
const MaxLine = 64 << 10

// Decision is the contract between stockade and everything that enforces or
// records its verdicts (files, nftables, NATS and Kafka consumers). Its JSON
// form is stable: fields are only ever added.
type Decision struct {
	// ID is deterministic: the same decision replayed twice has the same id,
	// so idempotent sinks (JetStream de-duplication, Kafka consumers) drop
	// the copy.
	ID       string    `json:"id"`
	Action   Action    `json:"action"`
	Target   Target    `json:"target"` // "203.0.113.7" or "2001:db8::/64"
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

// Target is what a decision bans, as the prefix the engine, nftables and
// the firewall work with (a single address is a /32 or /128), so that none
// of them parses it back from text. Its text, and so its JSON, is what
// decisions have always carried: a bare address for a single host, CIDR
// notation for a range.
type Target struct{ netip.Prefix }

// TargetOf is the target of p.
func TargetOf(p netip.Prefix) Target { return Target{p} }

// String is the target's text form: "203.0.113.7" or "2001:db8::/64"; ""
// for the zero Target.
func (t Target) String() string {
	s, _ := TargetString(t.Prefix)
	return s
}

// Scope is ScopeIP for a single address, ScopeRange for a range.
func (t Target) Scope() Scope {
	if t.IsSingleIP() {
		return ScopeIP
	}
	return ScopeRange
}

// AppendText implements encoding.TextAppender.
func (t Target) AppendText(b []byte) ([]byte, error) {
	switch {
	case !t.IsValid():
		return b, nil
	case t.IsSingleIP():
		return t.Addr().AppendText(b)
	}
	return t.Masked().AppendText(b)
}

// MarshalText implements encoding.TextMarshaler.
func (t Target) MarshalText() ([]byte, error) { return t.AppendText(nil) }

// UnmarshalText implements encoding.TextUnmarshaler with ParseTarget; ""
// is the zero Target, which Decision.Prefix refuses.
func (t *Target) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*t = Target{}
		return nil
	}
	p, err := ParseTarget(string(b))
	if err != nil {
		return err
	}
	*t = Target{p}
	return nil
}

// TargetString renders a prefix the way decisions carry it: a bare address
// for a single host, CIDR notation for a range.
func TargetString(p netip.Prefix) (string, Scope) {
	if !p.IsValid() {
		return "", ScopeIP
	}
	if p.IsSingleIP() {
		return p.Addr().String(), ScopeIP
	}
	return p.Masked().String(), ScopeRange
}

// Prefix is the decision's target, or an error for a decision that names
// none.
func (d *Decision) Prefix() (netip.Prefix, error) {
	if !d.Target.IsValid() {
		return netip.Prefix{}, fmt.Errorf("decision %s names no target", d.ID)
	}
	return d.Target.Prefix, nil
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
func decisionID(origin string, action Action, target Target, rule string, at time.Time, offense int) string {
	// One message hashed at once, on the stack when it fits: the bytes
	// the id has always been the hash of (each field then a zero byte,
	// the time and the offense big-endian), without a Digest to allocate
	// and feed eight times.
	var buf [192]byte
	m := append(buf[:0], origin...)
	m = append(m, 0)
	m = append(m, action...)
	m = append(m, 0)
	m, _ = target.AppendText(m)
	m = append(m, 0)
	m = append(m, rule...)
	m = append(m, 0)
	m = binary.BigEndian.AppendUint64(m, uint64(at.UnixNano()))
	m = binary.BigEndian.AppendUint64(m, uint64(offense))
	sum := sha256.Sum256(m)
	var x [32]byte
	hex.Encode(x[:], sum[:16])
	return string(x[:])
}

// MustTarget is ParseTarget's Target of s, for literals (tests, tables);
// it panics when s is not a target.
func MustTarget(s string) Target {
	p, err := ParseTarget(s)
	if err != nil {
		panic(err)
	}
	return Target{p}
}
