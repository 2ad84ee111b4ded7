// Package guard knows which addresses stockade must never ban: the
// allowlist, the host's own addresses, the fleet's own infrastructure (bus
// servers, brokers, peers of the embedded server) and the special ranges
// where a ban does nothing but harm (link-local, multicast, broadcast, the
// NAT64 prefix, loopback, unspecified). The allowlist always wins: a range
// that holds a protected address is not banned either, and a ban widened
// to a range falls back to the address itself (Narrow).
//
// A Guard is consulted for every hit the engine judges, so reads take no
// lock: writers publish an immutable snapshot through an atomic pointer.
// It imports nothing of sources, rules or sinks.
package guard

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
)

// Names of the sets this package fills itself; callers name theirs (e.g.
// "allow", "fleet", "bus").
const (
	Special = "special" // the never-banned ranges (Protects reports it for them)
	Own     = "own"     // the host's addresses, followed live by Watch
)

var (
	broadcast = netip.MustParseAddr("255.255.255.255")
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	// specialRanges are what Protects' fast checks test, as prefixes, for
	// Overlaps.
	specialRanges = []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/32"), netip.MustParsePrefix("127.0.0.0/8"),
		netip.MustParsePrefix("169.254.0.0/16"), netip.MustParsePrefix("224.0.0.0/4"),
		netip.MustParsePrefix("255.255.255.255/32"),
		netip.MustParsePrefix("::/128"), netip.MustParsePrefix("::1/128"),
		netip.MustParsePrefix("fe80::/10"), netip.MustParsePrefix("ff00::/8"), nat64,
	}
)

// IsSpecial reports whether a is in a range no one may ban, whatever the
// policy: unspecified, loopback, link-local (with or without a zone),
// multicast, the IPv4 broadcast address and the NAT64 prefix 64:ff9b::/96
// (a ban there cuts off every IPv4 host behind the local NAT64).
func IsSpecial(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsUnspecified() || a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsMulticast() ||
		a == broadcast || a.Is6() && nat64.Contains(a.WithZone(""))
}

// OverlapsSpecial reports whether p holds a special address.
func OverlapsSpecial(p netip.Prefix) bool {
	for _, s := range specialRanges {
		if s.Overlaps(p) {
			return true
		}
	}
	return false
}

// Guard holds the protected sets. The zero value is not usable; a nil
// *Guard protects the special ranges only.
type Guard struct {
	mu      sync.Mutex
	sets    map[string][]netip.Prefix
	changed chan struct{}
	snap    atomic.Pointer[snapshot]
}

// smallSet is up to how many entries a plain scan beats a map lookup.
const smallSet = 24

type entry struct {
	p   netip.Prefix
	set string
}

// snapshot is what readers see; it never changes once published.
type snapshot struct {
	ranges []entry               // every entry when few, else those wider than one address
	hosts  map[netip.Addr]string // single addresses when many
	gen    uint64                // see Generation
	// in4 and in6 are ranges split by family, each in ranges' order, as
	// masks and networks: Why asks for every hit a rule finds, and a
	// mask and a compare cost a few instructions where Prefix.Contains
	// checks the family, the zone and the bits first.
	in4 []net4
	in6 []net6
}

// net4 is an IPv4 range of ranges[i].
type net4 struct {
	net, mask uint32
	i         int
}

// net6 is an IPv6 range of ranges[i].
type net6 struct {
	hi, lo, mhi, mlo uint64
	i                int
}

// index fills in4 and in6 from ranges.
func (s *snapshot) index() {
	for i, e := range s.ranges {
		bits := e.p.Bits()
		if a := e.p.Addr(); a.Is4() {
			b := a.As4()
			mask := ^uint32(0) << (32 - bits) // a shift of 32 is 0: /0
			s.in4 = append(s.in4, net4{net: binary.BigEndian.Uint32(b[:]) & mask, mask: mask, i: i})
		} else {
			b := a.As16()
			mhi, mlo := ^uint64(0), ^uint64(0)
			if bits < 64 {
				mhi, mlo = ^uint64(0)<<(64-bits), 0
			} else {
				mlo = ^uint64(0) << (128 - bits)
			}
			hi, lo := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
			s.in6 = append(s.in6, net6{hi: hi & mhi, lo: lo & mlo, mhi: mhi, mlo: mlo, i: i})
		}
	}
}

// within returns the index in ranges of the first range holding a (an
// address without a zone, IPv4 unmapped), or -1.
func (s *snapshot) within(a netip.Addr) int {
	if a.Is4() {
		b := a.As4()
		v := binary.BigEndian.Uint32(b[:])
		for _, n := range s.in4 {
			if v&n.mask == n.net {
				return n.i
			}
		}
		return -1
	}
	b := a.As16()
	hi, lo := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
	for _, n := range s.in6 {
		if hi&n.mhi == n.hi && lo&n.mlo == n.lo {
			return n.i
		}
	}
	return -1
}

// New returns an empty guard.
func New() *Guard {
	g := &Guard{sets: map[string][]netip.Prefix{}, changed: make(chan struct{})}
	g.snap.Store(&snapshot{})
	return g
}

// Set replaces the named set. A change closes the channel Changed
// returned, so that bans of newly protected addresses can be lifted.
func (g *Guard) Set(name string, ps []netip.Prefix) {
	norm := make([]netip.Prefix, 0, len(ps))
	for _, p := range ps {
		if !p.IsValid() {
			continue
		}
		a := p.Addr()
		bits := p.Bits()
		if a.Is4In6() && bits >= 96 {
			a, bits = a.Unmap(), bits-96
		}
		norm = append(norm, netip.PrefixFrom(a.WithZone(""), bits).Masked())
	}
	slices.SortFunc(norm, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	norm = slices.Compact(norm)
	g.mu.Lock()
	defer g.mu.Unlock()
	if slices.Equal(g.sets[name], norm) {
		return
	}
	if len(norm) == 0 {
		delete(g.sets, name)
	} else {
		g.sets[name] = norm
	}
	g.publish()
	close(g.changed)
	g.changed = make(chan struct{})
}

// Get returns the named set.
func (g *Guard) Get(name string) []netip.Prefix {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.sets[name])
}

// Changed returns a channel closed at the next change of any set.
func (g *Guard) Changed() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.changed
}

func (g *Guard) publish() {
	s := &snapshot{gen: g.snap.Load().gen + 1}
	n := 0
	for _, ps := range g.sets {
		n += len(ps)
	}
	names := make([]string, 0, len(g.sets))
	for name := range g.sets {
		names = append(names, name)
	}
	slices.Sort(names)
	if n > smallSet {
		s.hosts = make(map[netip.Addr]string, n)
	}
	for _, name := range names {
		for _, p := range g.sets[name] {
			if s.hosts != nil && p.IsSingleIP() {
				if _, ok := s.hosts[p.Addr()]; !ok {
					s.hosts[p.Addr()] = name
				}
				continue
			}
			s.ranges = append(s.ranges, entry{p, name})
		}
	}
	s.index()
	g.snap.Store(s)
}

// Generation numbers the guard's sets: it changes whenever they do, so
// that an answer of Protects remembered with it is still the answer
// while it stays the same.
func (g *Guard) Generation() uint64 {
	if g == nil {
		return 0
	}
	return g.snap.Load().gen
}

// Protects reports whether a must never be banned.
func (g *Guard) Protects(a netip.Addr) bool {
	_, ok := g.Why(a)
	return ok
}

// Why reports which set protects a (Special for the special ranges).
func (g *Guard) Why(a netip.Addr) (string, bool) {
	if IsSpecial(a) {
		return Special, true
	}
	if g == nil {
		return "", false
	}
	a = a.Unmap().WithZone("")
	s := g.snap.Load()
	if i := s.within(a); i >= 0 {
		return s.ranges[i].set, true
	}
	if s.hosts != nil {
		if name, ok := s.hosts[a]; ok {
			return name, true
		}
	}
	return "", false
}

// Overlaps reports whether banning p would ban a protected address.
func (g *Guard) Overlaps(p netip.Prefix) bool {
	_, ok := g.WhyPrefix(p)
	return ok
}

// WhyPrefix reports which set holds an address of p.
func (g *Guard) WhyPrefix(p netip.Prefix) (string, bool) {
	if !p.IsValid() {
		return "", false
	}
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	p = netip.PrefixFrom(p.Addr().WithZone(""), p.Bits()).Masked()
	if p.IsSingleIP() {
		return g.Why(p.Addr())
	}
	if OverlapsSpecial(p) {
		return Special, true
	}
	if g == nil {
		return "", false
	}
	s := g.snap.Load()
	for i := range s.ranges {
		if s.ranges[i].p.Overlaps(p) {
			return s.ranges[i].set, true
		}
	}
	for a, name := range s.hosts {
		if p.Contains(a) {
			return name, true
		}
	}
	return "", false
}

// Narrow returns wide, a range a ban of p was widened to (IPv6
// aggregation), unless wide holds a protected address: then p itself.
func (g *Guard) Narrow(wide, p netip.Prefix) netip.Prefix {
	if wide == p || !g.Overlaps(wide) {
		return wide
	}
	return p
}
