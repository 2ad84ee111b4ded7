package nftables

import (
	"cmp"
	"net/netip"
	"slices"
	"time"

	nft "github.com/google/nftables"
	"go4.org/netipx"

	"github.com/stockade-ids/stockade/pipeline/guard"
)

// never marks an element without a kernel timeout (one the admin added by
// hand): it sorts after every real expiry, so "longest wins" keeps it.
var never = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// ban is one target's ban as decisions named it, after IPv6 aggregation.
type ban struct {
	p       netip.Prefix
	expires time.Time
}

// element is one interval of a kernel set: [from, to], both inclusive.
// Elements stockade makes are always CIDR blocks; open means the kernel
// holds no end element (the interval runs to the last address, or the set
// was edited by hand).
type element struct {
	from, to netip.Addr
	open     bool
	expires  time.Time
}

func prefixElement(p netip.Prefix, expires time.Time) element {
	to := netipx.PrefixLastIP(p)
	return element{from: p.Addr(), to: to, open: !to.Next().IsValid(), expires: expires}
}

// entries is what the element costs in a netlink message.
func (e element) entries() int {
	if e.open {
		return 1
	}
	return 2
}

// family is the model of one set: the bans, grouped so that a change
// touches only its group. A group's key is a prefix that contains every ban
// of the group; keys are disjoint, so groups never share an element and a
// group's elements can be recomputed on their own. Most groups hold one
// ban; a range ban absorbs the groups inside it.
type family struct {
	set *nft.Set // where the kernel keeps this family's elements
	v6  bool
	agg int // bans are widened to at most this many bits
	// guard keeps widening off protected addresses (nil: the special
	// ranges only).
	guard  *guard.Guard
	groups map[netip.Prefix]*group
	lens   [129]int // groups per key length: where find looks
	nbans  int
	// moved collects the keys of the groups edits touch while tracking
	// is on: what a check that lists the set, the sink's lock free, must
	// leave to the next one (see Sink.Repair).
	tracking bool
	moved    []netip.Prefix
}

type group struct {
	bans []ban
}

func newFamily(v6 bool, agg int) *family {
	return &family{v6: v6, agg: agg, groups: make(map[netip.Prefix]*group)}
}

// widen applies IPv6 aggregation: 2001:db8::1 becomes 2001:db8::/64,
// unless the /64 holds a protected address (the allowlist, the host's or
// the fleet's own): then the ban stays 2001:db8::1, since widening must
// never ban what the address itself could not be.
func (f *family) widen(p netip.Prefix) netip.Prefix {
	return f.guard.Narrow(f.aggregate(p), p)
}

// aggregate is the range a ban of p is widened to, protected or not.
func (f *family) aggregate(p netip.Prefix) netip.Prefix {
	if p.Bits() > f.agg {
		p, _ = p.Addr().Prefix(f.agg)
	}
	return p
}

// find returns the group whose key contains p.
func (f *family) find(p netip.Prefix) (netip.Prefix, *group) {
	for b := 0; b <= p.Bits(); b++ {
		if f.lens[b] == 0 {
			continue
		}
		k, _ := p.Addr().Prefix(b)
		if g := f.groups[k]; g != nil {
			return k, g
		}
	}
	return netip.Prefix{}, nil
}

// inside lists the group keys strictly inside p: a new range ban absorbs
// them. Either every sub-prefix of a length in use is looked up or every
// group is scanned, whichever is cheaper; only range bans pay for this.
func (f *family) inside(p netip.Prefix) []netip.Prefix {
	var out []netip.Prefix
	lookups := 0
	for b := p.Bits() + 1; b <= p.Addr().BitLen(); b++ {
		if f.lens[b] == 0 {
			continue
		}
		if b-p.Bits() > 30 {
			lookups = len(f.groups) + 1
			break
		}
		lookups += 1 << (b - p.Bits())
	}
	if lookups == 0 {
		return nil
	}
	if lookups > len(f.groups) {
		for k := range f.groups {
			if k.Bits() > p.Bits() && p.Contains(k.Addr()) {
				out = append(out, k)
			}
		}
		return out
	}
	for b := p.Bits() + 1; b <= p.Addr().BitLen(); b++ {
		if f.lens[b] == 0 {
			continue
		}
		k, _ := p.Addr().Prefix(b)
		for range 1 << (b - p.Bits()) {
			if f.groups[k] != nil {
				out = append(out, k)
			}
			k = netip.PrefixFrom(netipx.PrefixLastIP(k).Next(), b)
		}
	}
	return out
}

func (f *family) addGroup(k netip.Prefix, g *group) {
	f.groups[k] = g
	f.lens[k.Bits()]++
}

func (f *family) dropGroup(k netip.Prefix) {
	f.nbans -= len(f.groups[k].bans)
	delete(f.groups, k)
	f.lens[k.Bits()]--
}

// change remembers, for every group a batch of edits touches, the
// elements the kernel held before the first edit.
type change struct {
	now    time.Time
	before map[netip.Prefix][]element
}

func newChange(now time.Time) *change {
	return &change{now: now, before: make(map[netip.Prefix][]element)}
}

func (f *family) touch(c *change, k netip.Prefix) {
	if f.tracking {
		f.moved = append(f.moved, k)
	}
	if c == nil {
		return
	}
	if _, ok := c.before[k]; ok {
		return
	}
	var els []element
	if g := f.groups[k]; g != nil {
		// What the kernel may hold: elements that ran out within linger
		// too (see diff).
		els = partition(g.bans, c.now.Add(-linger), nil)
	}
	c.before[k] = els
}

// ban records p until expires; a ban already longer is kept (longest
// wins). It reports whether the model changed.
func (f *family) ban(c *change, p netip.Prefix, expires time.Time) bool {
	if k, g := f.find(p); g != nil {
		for i := range g.bans {
			if g.bans[i].p == p {
				if !expires.After(g.bans[i].expires) {
					return false
				}
				f.touch(c, k)
				g.bans[i].expires = expires
				return true
			}
		}
		f.touch(c, k)
		g.bans = append(g.bans, ban{p, expires})
		f.nbans++
		return true
	}
	f.touch(c, p)
	g := &group{bans: []ban{{p, expires}}}
	for _, k := range f.inside(p) {
		f.touch(c, k)
		g.bans = append(g.bans, f.groups[k].bans...)
		f.dropGroup(k)
	}
	f.nbans += len(g.bans)
	f.addGroup(p, g)
	return true
}

// unban lifts the ban on exactly p. A range that covers p, or bans inside
// p, are other targets and stay, as they do in the ledger.
func (f *family) unban(c *change, p netip.Prefix) bool {
	k, g := f.find(p)
	if g == nil {
		return false
	}
	i := slices.IndexFunc(g.bans, func(b ban) bool { return b.p == p })
	if i < 0 {
		return false
	}
	f.touch(c, k)
	g.bans = slices.Delete(g.bans, i, i+1)
	f.nbans--
	if len(g.bans) == 0 {
		f.dropGroup(k)
	}
	return true
}

// sweep forgets bans that are over. The kernel dropped their elements on
// its own, and what remains partitions the same way (see partition), so
// nothing is sent.
func (f *family) sweep(now time.Time) {
	for k, g := range f.groups {
		kept := g.bans[:0]
		for _, b := range g.bans {
			if b.expires.After(now.Add(-linger)) {
				kept = append(kept, b)
			}
		}
		f.nbans -= len(g.bans) - len(kept)
		g.bans = kept
		if len(kept) == 0 {
			f.dropGroup(k)
		}
	}
}

// reset replaces the whole model (Reconcile, or what the kernel held on
// Connect). Duplicates after widening keep the longest ban.
func (f *family) reset(bans []ban) {
	f.groups = make(map[netip.Prefix]*group, len(bans))
	f.lens = [129]int{}
	f.nbans = 0
	for i := range bans {
		bans[i].p = f.widen(bans[i].p)
	}
	// Wider prefixes first, so that no ban ever has to absorb groups.
	slices.SortFunc(bans, func(a, b ban) int {
		if c := cmp.Compare(a.p.Bits(), b.p.Bits()); c != 0 {
			return c
		}
		return a.p.Addr().Compare(b.p.Addr())
	})
	for _, b := range bans {
		f.ban(nil, b.p, b.expires)
	}
}

// elements is what the kernel must hold at now, sorted.
func (f *family) elements(now time.Time) []element {
	var out []element
	for _, g := range f.groups {
		out = partition(g.bans, now, out)
	}
	sortElements(out)
	return out
}

// apart returns els without the elements that overlap one of moved (both
// sorted by their first address; moved is sorted in place).
func apart(els []element, moved []netip.Prefix) []element {
	if len(moved) == 0 {
		return els
	}
	slices.SortFunc(moved, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	// Keys are disjoint but a range ban absorbs the keys inside it, so
	// moved may nest: merge into disjoint ranges, first addresses sorted.
	type span struct{ from, to netip.Addr }
	var spans []span
	for _, k := range moved {
		to := netipx.PrefixLastIP(k)
		if n := len(spans); n > 0 && !spans[n-1].to.Less(k.Addr()) {
			if spans[n-1].to.Less(to) {
				spans[n-1].to = to
			}
			continue
		}
		spans = append(spans, span{k.Addr(), to})
	}
	out := make([]element, 0, len(els))
	for _, e := range els {
		// The first span that does not end before e starts overlaps e
		// when it starts before e ends.
		i, _ := slices.BinarySearchFunc(spans, e.from, func(s span, a netip.Addr) int {
			if s.to.Less(a) {
				return -1
			}
			return 1
		})
		if i < len(spans) && !e.to.Less(spans[i].from) {
			continue
		}
		out = append(out, e)
	}
	return out
}

// diff turns the edits recorded in c into kernel operations.
func (f *family) diff(c *change) (dels, adds []element) {
	var before, after []element
	for k, els := range c.before {
		before = append(before, els...)
		if g := f.groups[k]; g != nil {
			after = partition(g.bans, c.now, after)
		}
	}
	sortElements(before)
	sortElements(after)
	return diff(before, after, c.now, 0)
}

func sortElements(els []element) {
	slices.SortFunc(els, func(a, b element) int { return a.from.Compare(b.from) })
}

// partition computes the kernel elements for the bans of one group alive
// at now, appended to dst.
//
// Every address gets the latest expiry among the bans that cover it, and
// each run of addresses with the same expiry becomes CIDR blocks: a /24
// banned for an hour holding a /32 banned for a day becomes the /32 (a day)
// and the eight blocks around it (an hour). Giving the whole /24 the later
// expiry instead would ban 255 addresses for 23 hours nobody asked for; the
// split costs at most two elements per bit of the hole.
//
// Elements are CIDR blocks rather than merged ranges so that a restart can
// read them back as bans, and an admin reads them as such in nft list.
//
// Pieces depend only on bans with an expiry at least their own, so the
// elements still alive at a later time are exactly those partition computes
// then, with the bans that ran out left out: the kernel's own expiry and
// the model never disagree about what is left.
func partition(bans []ban, now time.Time, dst []element) []element {
	if len(bans) == 1 {
		if bans[0].expires.After(now) {
			dst = append(dst, prefixElement(bans[0].p, bans[0].expires))
		}
		return dst
	}
	alive := make([]ban, 0, len(bans))
	for _, b := range bans {
		if b.expires.After(now) {
			alive = append(alive, b)
		}
	}
	// Prefixes are nested or disjoint: sorted by address, then wider first,
	// a stack walk sees each one after every prefix that contains it.
	slices.SortFunc(alive, func(a, b ban) int {
		if c := a.p.Addr().Compare(b.p.Addr()); c != 0 {
			return c
		}
		return cmp.Compare(a.p.Bits(), b.p.Bits())
	})
	type node struct {
		p     netip.Prefix
		eff   time.Time // latest expiry covering this prefix
		owner int       // index of the node whose expiry this prefix gets
	}
	nodes := make([]node, len(alive))
	holes := make(map[int][]netip.Prefix)
	var stack []int
	for i, b := range alive {
		for len(stack) > 0 && !nodes[stack[len(stack)-1]].p.Contains(b.p.Addr()) {
			stack = stack[:len(stack)-1]
		}
		nodes[i] = node{p: b.p, eff: b.expires, owner: i}
		if len(stack) > 0 {
			parent := nodes[stack[len(stack)-1]]
			if !b.expires.After(parent.eff) {
				// Covered until at least as late: part of the parent's run.
				nodes[i].eff, nodes[i].owner = parent.eff, parent.owner
			} else {
				holes[parent.owner] = append(holes[parent.owner], b.p)
			}
		}
		stack = append(stack, i)
	}
	for i, n := range nodes {
		if n.owner != i {
			continue
		}
		hs := holes[i]
		if len(hs) == 0 {
			dst = append(dst, prefixElement(n.p, n.eff))
			continue
		}
		var sb netipx.IPSetBuilder
		sb.AddPrefix(n.p)
		for _, h := range hs {
			sb.RemovePrefix(h)
		}
		set, _ := sb.IPSet()
		for _, p := range set.Prefixes() {
			dst = append(dst, prefixElement(p, n.eff))
		}
	}
	return dst
}

// same reports whether the kernel's element a can stay for the wanted b.
// tol absorbs the milliseconds between reading an expiry back from the
// kernel and now, so that a restart does not rewrite every element.
func same(a, b element, tol time.Duration) bool {
	if a.from != b.from || a.to != b.to || a.open != b.open {
		return false
	}
	d := a.expires.Sub(b.expires)
	return d <= tol && d >= -tol
}

// linger is how long after its expiry an element may still be in the
// kernel: its timeout is rounded up to the millisecond and then to the
// jiffy, and starts when the kernel gets the batch.
const linger = 250 * time.Millisecond

// diff compares what the kernel holds with what it should hold, both
// sorted and each without overlaps. An element whose expiry changes is
// deleted and added again: older kernels do not update a timeout in place.
//
// Elements over at now are gone from the kernel, or about to be: deleting
// one that is gone fails the whole batch, so they are left to the kernel.
// Except when the same interval comes back within linger of its expiry:
// an add of an element still there would be a silent no-op on older
// kernels, leaving a ban that ends in a moment, so it is deleted too; if it
// was gone, the batch fails and the sets are read back (see Sink.sync).
func diff(have, want []element, now time.Time, tol time.Duration) (dels, adds []element) {
	i, j := 0, 0
	for i < len(have) || j < len(want) {
		switch {
		case j == len(want) || i < len(have) && have[i].from.Less(want[j].from):
			if have[i].expires.After(now) {
				dels = append(dels, have[i])
			}
			i++
		case i == len(have) || want[j].from.Less(have[i].from):
			adds = append(adds, want[j])
			j++
		default:
			if !same(have[i], want[j], tol) {
				if have[i].expires.After(now.Add(-linger)) {
					dels = append(dels, have[i])
				}
				adds = append(adds, want[j])
			}
			i++
			j++
		}
	}
	return dels, adds
}

// op is one element to delete or add.
type op struct {
	del bool
	e   element
}

// plan cuts operations into netlink batches of at most chunk entries.
// Deletes and adds that overlap (an extension, a split, a merge) form a
// cluster that stays in one batch, deletes first, so that no address is
// ever unbanned in between. Only a cluster larger than a batch is cut, and
// then its deletes go before its adds.
func plan(dels, adds []element, chunk int) [][]op {
	all := make([]op, 0, len(dels)+len(adds))
	for _, e := range dels {
		all = append(all, op{del: true, e: e})
	}
	for _, e := range adds {
		all = append(all, op{e: e})
	}
	slices.SortStableFunc(all, func(a, b op) int { return a.e.from.Compare(b.e.from) })

	var batches [][]op
	var cur []op
	n := 0
	flush := func() {
		if len(cur) > 0 {
			batches = append(batches, cur)
			cur, n = nil, 0
		}
	}
	for i := 0; i < len(all); {
		j, end, size := i+1, all[i].e.to, all[i].e.entries()
		for j < len(all) && !end.Less(all[j].e.from) {
			if end.Less(all[j].e.to) {
				end = all[j].e.to
			}
			size += all[j].e.entries()
			j++
		}
		cluster := all[i:j]
		i = j
		slices.SortStableFunc(cluster, func(a, b op) int {
			switch {
			case a.del == b.del:
				return 0
			case a.del:
				return -1
			}
			return 1
		})
		if n+size > chunk {
			flush()
		}
		if size <= chunk {
			cur, n = append(cur, cluster...), n+size
			continue
		}
		for _, o := range cluster {
			if n+o.e.entries() > chunk {
				flush()
			}
			cur, n = append(cur, o), n+o.e.entries()
		}
	}
	flush()
	return batches
}

// rangePrefixes reads an element back as the bans it stands for.
func rangePrefixes(e element) []netip.Prefix {
	return netipx.IPRangeFrom(e.from, e.to).Prefixes()
}
