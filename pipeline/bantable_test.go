package pipeline

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"unsafe"
)

// TestBanSlotLayout: two slots a cache line, none across one.
func TestBanSlotLayout(t *testing.T) {
	if s := unsafe.Sizeof(banSlot{}); s != 32 {
		t.Fatalf("banSlot is %d bytes, want 32", s)
	}
}

// TestBanSlotTarget: a slot gives back the very prefix it was made of,
// for both families, a mapped IPv6 address apart from its IPv4 one, every
// length, and the zero Prefix.
func TestBanSlotTarget(t *testing.T) {
	addrs := []netip.Addr{
		netip.MustParseAddr("203.0.113.7"), netip.MustParseAddr("::ffff:203.0.113.7"),
		netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("0.0.0.0"), netip.MustParseAddr("::"),
	}
	seen := map[banSlot]netip.Prefix{}
	check := func(p netip.Prefix) {
		s := makeBanSlot(p)
		if got := s.target(); got != p {
			t.Fatalf("makeBanSlot(%v).target() = %v", p, got)
		}
		if q, ok := seen[s]; ok && q != p {
			t.Fatalf("%v and %v make the same slot", p, q)
		}
		seen[s] = p
	}
	check(netip.Prefix{})
	for _, a := range addrs {
		for bits := 0; bits <= a.BitLen(); bits++ {
			check(netip.PrefixFrom(a, bits))
		}
	}
}

// TestBanTableModel: the table answers as a Go map does through random
// sets, replacements and deletions over a few hundred targets (so that
// runs collide, grow and shrink), of both families and several lengths.
func TestBanTableModel(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	target := func() netip.Prefix {
		i := r.IntN(400)
		if i%3 == 0 {
			return netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(i >> 8), 15: byte(i)}), []int{128, 64, 48}[i/3%3])
		}
		return netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 51, byte(i >> 8), byte(i)}), []int{32, 24}[i%2])
	}
	var tab banTable
	model := map[netip.Prefix]*activeBan{}
	for step := range 50_000 {
		p := target()
		switch op := r.IntN(10); {
		case op < 4:
			b := &activeBan{}
			tab.set(p, b)
			model[p] = b
		case op < 7:
			tab.del(p)
			delete(model, p)
		default:
			if got, want := tab.get(p), model[p]; got != want {
				t.Fatalf("step %d: get(%v) = %p, want %p", step, p, got, want)
			}
		}
		if tab.len() != len(model) {
			t.Fatalf("step %d: len %d, want %d", step, tab.len(), len(model))
		}
		if step%5000 == 4999 {
			n := 0
			for p, b := range tab.all() {
				if model[p] != b {
					t.Fatalf("step %d: all() yields %v %p, want %p", step, p, b, model[p])
				}
				n++
			}
			if n != len(model) {
				t.Fatalf("step %d: all() yields %d, want %d", step, n, len(model))
			}
			if step == 24999 {
				for p := range model {
					tab.del(p)
					delete(model, p)
				}
				if tab.len() != 0 || len(tab.slots) > 64 {
					t.Fatalf("emptied: len %d, %d slots", tab.len(), len(tab.slots))
				}
			}
		}
	}
}

// TestBanTableCraftedCollisions: targets an attacker holding an IPv6 /48
// can pick so that a fixed mix of the address's two words is the same
// for all of them (hi ^ rotl(lo, 29) constant: one home for every one
// under such a hash) are spread by the table's seeded hash; no target
// probes far from its home.
func TestBanTableCraftedCollisions(t *testing.T) {
	const n = 20_000
	var tab banTable
	for i := range n {
		tab.set(netip.PrefixFrom(craftedAddr(i), 128), &activeBan{})
	}
	worst := farthest(tab.slots, func(s *banSlot) bool { return s.tag != 0 }, tab.home)
	if tab.len() != n || worst > 64 {
		t.Fatalf("%d targets, the farthest %d slots from its home", tab.len(), worst)
	}
}
