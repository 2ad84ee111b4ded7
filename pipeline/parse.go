package pipeline

import (
	"net/netip"
	"unsafe"
)

// Parser turns one log line (without its line terminator) into an Event.
// Implementations are pure: no I/O, no goroutines, no global state. A parser
// may keep per-source state (the syslog year inference does), so one Parser
// serves one source.
//
// Parse resets nothing: the caller hands it a cleared Event. Strings set on
// ev may alias line (UnsafeString); the caller keeps line unchanged until it
// is done with ev.
//
// Parse returns nil for an event, ErrSkip for a well-formed line that carries
// nothing to judge (a non-alert eve.json record, a fail2ban log line that is
// not about an address), or a *BadLine with a bounded reason. It returns
// ErrSkip before it writes ev: a reader need not clear the event again
// after a skipped line (nine lines in ten of an eve.json).
type Parser interface {
	Parse(line []byte, ev *Event) error
}

// BadLine is a line that could not be parsed. Reason is one of a small,
// fixed set of strings per parser ("bad timestamp", "no header", ...): it
// becomes a metric label and a summary row, so never put line content in it.
type BadLine struct{ Reason string }

func (b *BadLine) Error() string { return "bad line: " + b.Reason }

// Bad returns a *BadLine. Parsers declare their reasons once as package
// variables (var errNoTime = pipeline.Bad("bad timestamp")) so the miss path
// does not allocate.
func Bad(reason string) *BadLine { return &BadLine{Reason: reason} }

type skipError struct{}

func (skipError) Error() string { return "skipped" }

// ErrSkip marks a well-formed line that is deliberately not an event.
var ErrSkip error = skipError{}

// UnsafeString returns a string sharing b's memory. Use it only for strings
// that will not outlive b's contents (see Event).
func UnsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// Canonical returns a with any IPv4-mapped IPv6 form (::ffff:203.0.113.7)
// unmapped and the zone dropped, so one host is always one target.
func Canonical(a netip.Addr) netip.Addr {
	return a.Unmap().WithZone("")
}

// ParseAddr parses an IPv4 or IPv6 address from text, canonical. It accepts
// nothing else (no ports, no brackets).
func ParseAddr(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return Canonical(a), true
}
