package suricata

import (
	"math/bits"
	"strings"

	"github.com/stockade-ids/stockade/pipeline"
)

// Seeds and primes of the fingerprint mix. They are constants, not a
// per-process random seed, because the fingerprint must agree across
// processes and restarts (a replay compares against what a live run saw).
const (
	fpSeed   = 0x27d4eb2f165667c5
	fpPrime1 = 0x9e3779b185ebca87
	fpPrime2 = 0xc2b2ae3d27d4eb4f
)

func fpRound(h, w uint64) uint64 {
	return bits.RotateLeft64(h^(w*fpPrime2), 31) * fpPrime1
}

// fingerprint identifies one alert independently of the file it was logged
// in. proto is protoKey of the protocol as written.
//
// The time enters only as its offset within its 15-minute block, in
// microseconds. fast.log timestamps have no zone and are read in a
// configured one, while eve.json carries its own offset: when the configured
// zone is wrong the two copies of an alert differ by a whole number of
// quarter hours, because every zone offset in use is a multiple of 15
// minutes. The offset within the quarter hour is the same in both, so the
// fingerprint is too; the engine's dedup window absorbs the shift.
//
// Ports only count for protocols that have them: for ICMP fast.log writes the
// type and code where the ports go, while eve.json writes no ports at all.
func fingerprint(ev *pipeline.Event, proto uint64) uint64 {
	sec := ev.Time.Unix() % 900
	if sec < 0 {
		sec += 900
	}
	usec := uint64(sec)*1e6 + uint64(ev.Time.Nanosecond()/1000)

	var ports uint64
	if hasPorts(proto) {
		ports = uint64(uint16(ev.SrcPort))<<16 | uint64(uint16(ev.DstPort))
	}
	src, dst := ev.SrcAddr.As16(), ev.DstAddr.As16()

	h := uint64(fpSeed)
	h = fpRound(h, uint64(uint32(ev.GID))<<32|uint64(uint32(ev.SID)))
	h = fpRound(h, uint64(uint32(ev.Rev))<<32|ports)
	h = fpRound(h, proto)
	h = fpRound(h, be64(src[:8]))
	h = fpRound(h, be64(src[8:]))
	h = fpRound(h, be64(dst[:8]))
	h = fpRound(h, be64(dst[8:]))
	h = fpRound(h, usec)
	// Final avalanche (xxhash64's), so that nearby inputs (sid 1 and 2)
	// spread over the whole range.
	h ^= h >> 33
	h *= fpPrime2
	h ^= h >> 29
	h *= 0x165667b19e3779f9
	h ^= h >> 32
	// The top bits group the fingerprint in the engine's table (see
	// pipeline.Event.Fingerprint): the offset in the quarter hour in steps
	// of 2^18 µs (262 ms), 0 to 3433, so that alerts logged one after
	// another, and an alert's two copies, share a group.
	h = usec>>18<<fpHashBits | h&(1<<fpHashBits-1)
	if h == 0 {
		// Zero means "no fingerprint" to the engine.
		h = 1
	}
	return h
}

// fpHashBits are the bits of a fingerprint below its group: see
// pipeline.Event.Fingerprint. 900e6 µs >> 18 < 1<<12.
const fpHashBits = 52

func be64(b []byte) uint64 {
	_ = b[7]
	return uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 |
		uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7])
}

func hasPorts(proto uint64) bool {
	switch proto {
	case 6, 17, 33, 132, 136: // TCP, UDP, DCCP, SCTP, UDP-Lite
		return true
	}
	return false
}

// protocol is one IANA protocol Suricata may name. Suricata's spelling has
// changed between versions (IPV6-ICMP from /etc/protocols, IPv6-ICMP from
// its own table since 7), so names match case-insensitively and Proto gets
// the uppercase form, whichever file and version wrote it.
type protocol struct {
	name string
	num  uint64
}

// The most frequent first: lookup is a linear scan.
var protocols = [...]protocol{
	{"TCP", 6}, {"UDP", 17}, {"ICMP", 1}, {"IPV6-ICMP", 58}, {"SCTP", 132},
	{"GRE", 47}, {"ESP", 50}, {"AH", 51}, {"IGMP", 2}, {"UDPLITE", 136},
	{"DCCP", 33}, {"PIM", 103}, {"VRRP", 112}, {"OSPF", 89}, {"OSPFIGP", 89},
	{"HOPOPT", 0}, {"IP-IN-IP", 4}, {"IPENCAP", 4}, {"IP-ENCAP", 4}, {"IPV4", 4},
	{"IPV6", 41}, {"IPV6-ROUTE", 43}, {"IPV6-FRAG", 44}, {"IPV6-NONXT", 59},
	{"IPV6-OPTS", 60}, {"RSVP", 46}, {"EIGRP", 88}, {"IPIP", 94}, {"ETHERIP", 97},
	{"ENCAP", 98}, {"IPCOMP", 108}, {"L2TP", 115}, {"IS-IS", 124}, {"ISIS", 124},
	{"MOBILITY", 135}, {"MOBILITY-HEADER", 135}, {"MPLS-IN-IP", 137},
	{"HIP", 139}, {"SHIM6", 140}, {"WESP", 141}, {"ROHC", 142}, {"ETHERNET", 143},
	{"EGP", 8}, {"IGP", 9}, {"PUP", 12}, {"ST", 5},
}

// parseProto reads a protocol as Suricata writes it: a name, a number (a
// Lua fast.log script writes {6}), or fast.log's PROTO:003 for protocols
// without a name. It returns the Proto to store (the canonical name, or the
// number's digits without leading zeros; both alias b or a constant) and the
// key the fingerprint uses. ok is false for an empty or absurd token.
func parseProto(b []byte) (name string, key uint64, ok bool) {
	if len(b) == 0 || len(b) > 32 {
		return "", 0, false
	}
	digits := b
	if len(digits) > 6 && string(digits[:6]) == "PROTO:" {
		digits = digits[6:]
	}
	if n, ok := atoi(digits); ok && len(digits) <= 3 {
		for len(digits) > 1 && digits[0] == '0' {
			digits = digits[1:]
		}
		return pipeline.UnsafeString(digits), uint64(n), true
	}
	s := pipeline.UnsafeString(b)
	for i := range protocols {
		if len(protocols[i].name) == len(s) && strings.EqualFold(protocols[i].name, s) {
			return protocols[i].name, protocols[i].num, true
		}
	}
	// A name we do not know: both files of one Suricata write it the same
	// way, so a hash of its folded spelling, kept apart from the numbers,
	// still matches the two copies.
	h := uint64(14695981039346656037)
	for _, c := range b {
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		h = (h ^ uint64(c)) * 1099511628211
	}
	return s, h | 1<<63, true
}
