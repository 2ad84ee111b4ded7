package nftables

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	nft "github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// ruleTag marks our drop rules (a rule comment), so that Connect finds them
// again instead of adding copies, and Counters knows which to read.
func ruleTag(set string) string { return "stockade drop @" + set }

func (s *Sink) dial() (*nft.Conn, error) {
	opts := []nft.ConnOption{nft.AsLasting(), nft.WithSockOptions(s.notePort, bigDumps)}
	if s.cfg.NetNS != 0 {
		opts = append(opts, nft.WithNetNSFd(s.cfg.NetNS))
	}
	c, err := nft.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("nftables: netlink: %w", err)
	}
	return c, nil
}

// bigDumps makes the kernel fill each message of a dump up to 32 KiB
// instead of one page. The kernel sizes dump messages by the largest buffer
// any recvmsg on the socket offered, and the netlink library reads with one
// page. Page-sized messages are costly here: the rbtree behind an interval
// set is walked from its first element again for every message, so reading
// n elements costs about n²/(elements per message). One reply read with a
// large buffer right after dialing raises the size for the socket's life.
func bigDumps(c *netlink.Conn) error {
	req := netlink.Message{
		Header: netlink.Header{
			Type:  netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_GETGEN),
			Flags: netlink.Request,
		},
		Data: []byte{unix.AF_UNSPEC, unix.NFNETLINK_V0, 0, 0},
	}
	if _, err := c.Send(req); err != nil {
		return fmt.Errorf("nftables: netlink: %w", err)
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return fmt.Errorf("nftables: netlink: %w", err)
	}
	buf := make([]byte, 32<<10)
	var rerr error
	if err := rc.Read(func(fd uintptr) bool {
		_, _, _, _, rerr = unix.Recvmsg(int(fd), buf, nil, 0)
		return rerr != unix.EAGAIN
	}); err != nil {
		return fmt.Errorf("nftables: netlink: %w", err)
	}
	if rerr != nil {
		return fmt.Errorf("nftables: netlink: %w", rerr)
	}
	return nil
}

// redial replaces the connection after a failed batch: a batch that failed
// half-way may leave acknowledgements unread on the socket, and the next
// request would read them as its own answer.
func (s *Sink) redial() {
	s.dirty = true
	if s.conn != nil {
		_ = s.conn.CloseLasting()
	}
	c, err := s.dial()
	if err != nil {
		s.conn = nil
		return
	}
	s.conn = c
}

func (s *Sink) tableFamily() nft.TableFamily {
	switch s.cfg.Family {
	case "ip":
		return nft.TableFamilyIPv4
	case "ip6":
		return nft.TableFamilyIPv6
	}
	return nft.TableFamilyINet
}

// ensure creates (or, set-only, checks) the table, sets, chains and rules.
// Every step is idempotent: the kernel accepts a table, set or chain that
// exists as it is, and rules are compared before anything is added.
func (s *Sink) ensure() error {
	if s.cfg.SetOnly {
		return s.checkSets()
	}
	c := s.conn
	c.AddTable(s.table)
	for _, f := range s.fams {
		if err := c.AddSet(f.set, nil); err != nil {
			return fmt.Errorf("nftables: set %s: %w", f.set.Name, err)
		}
	}
	for _, ch := range s.chains {
		c.AddChain(ch)
	}
	if err := c.Flush(); err != nil {
		s.redial()
		return fmt.Errorf("nftables: create table %s %s (a set or chain of that name with other flags or hook is refused): %w",
			s.cfg.Family, s.cfg.Table, err)
	}
	if err := s.checkSets(); err != nil {
		return err
	}
	for _, ch := range s.chains {
		have, err := c.GetRules(s.table, ch)
		if err != nil {
			return fmt.Errorf("nftables: list chain %s: %w", ch.Name, err)
		}
		want := s.rules(ch)
		if sameRules(have, want) {
			continue
		}
		// Our own chain: anything else in it is an older layout of ours.
		// Re-adding resets the counters, which only a config change causes.
		if len(have) > 0 {
			c.FlushChain(ch)
		}
		for _, r := range want {
			c.AddRule(r)
		}
		s.rulesAdded += uint64(len(want))
	}
	if err := c.Flush(); err != nil {
		s.redial()
		return fmt.Errorf("nftables: add drop rules: %w", err)
	}
	return nil
}

func sameRules(have, want []*nft.Rule) bool {
	if len(have) != len(want) {
		return false
	}
	for i := range have {
		if !bytes.Equal(have[i].UserData, want[i].UserData) {
			return false
		}
	}
	return true
}

// rules are "[meta nfproto ipv4] ip saddr @banned4 counter drop" and its
// IPv6 twin; the nfproto match is needed in an inet table only.
func (s *Sink) rules(ch *nft.Chain) []*nft.Rule {
	var out []*nft.Rule
	for _, f := range s.fams {
		var ex []expr.Any
		proto, off, n := byte(unix.NFPROTO_IPV4), uint32(12), uint32(4)
		if f.v6 {
			proto, off, n = unix.NFPROTO_IPV6, 8, 16
		}
		if s.cfg.Family == "inet" {
			ex = append(ex,
				&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}})
		}
		ex = append(ex,
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: n},
			&expr.Lookup{SourceRegister: 1, SetName: f.set.Name, SetID: f.set.ID},
			&expr.Counter{},
			&expr.Verdict{Kind: expr.VerdictDrop})
		out = append(out, &nft.Rule{
			Table: s.table, Chain: ch, Exprs: ex,
			UserData: userdata.AppendString(nil, userdata.TypeComment, ruleTag(f.set.Name)),
		})
	}
	return out
}

// checkSets makes sure each set takes addresses and ranges with their own
// timeouts: without interval the kernel refuses ranges, without timeout
// every element would be permanent.
func (s *Sink) checkSets() error {
	if _, err := s.conn.ListTableOfFamily(s.cfg.Table, s.tableFamily()); err != nil {
		return fmt.Errorf("nftables: table %s %s: %w", s.cfg.Family, s.cfg.Table, err)
	}
	for _, f := range s.fams {
		got, err := s.conn.GetSetByName(s.table, f.set.Name)
		if err != nil {
			return fmt.Errorf("nftables: set %s in table %s %s: %w", f.set.Name, s.cfg.Family, s.cfg.Table, err)
		}
		var missing []string
		if got.KeyType.Name != f.set.KeyType.Name {
			missing = append(missing, "type "+f.set.KeyType.Name)
		}
		if !got.Interval {
			missing = append(missing, "flags interval")
		}
		if !got.HasTimeout {
			missing = append(missing, "flags timeout")
		}
		if got.IsMap || got.Concatenation {
			missing = append(missing, "a plain set (not a map or concatenation)")
		}
		if len(missing) > 0 {
			return fmt.Errorf("nftables: set %s: needs %v", f.set.Name, missing)
		}
	}
	return nil
}

// read returns what the kernel holds in f's set. Expiries are rebuilt
// from the time left, which the kernel measures while it writes the dump:
// against the middle of the dump, they are off by at most half its
// duration (a quarter of a second for 100,000 elements).
func (s *Sink) read(f *family) ([]element, error) {
	els, _, err := s.readSpan(f)
	return els, err
}

// readSpan is read, and how long the kernel took to list the set. Each
// element's time left is as of the moment its part of the listing was
// made, somewhere in that span; the expiry read is as of its middle, so
// off by up to half of it either way: 200,000 elements took 5.8 s here.
func (s *Sink) readSpan(f *family) ([]element, time.Duration, error) {
	s.stats.Listings++
	return readSpanOn(s.conn, f.set, s.now)
}

// readSpanOn is readSpan of set on connection c, now the sink's clock.
func readSpanOn(c *nft.Conn, set *nft.Set, now func() time.Time) ([]element, time.Duration, error) {
	start := now()
	els, err := c.GetSetElements(set)
	if err != nil {
		return nil, 0, fmt.Errorf("nftables: list set %s: %w", set.Name, err)
	}
	span := now().Sub(start)
	return parseElements(els, start.Add(span/2)), span, nil
}

// readTolerance is how far an element read back in span may be from its
// wanted expiry and be left alone: syncTolerance, and the half of the
// listing's span the read cannot place it within. With one second only, a
// set of 200,000 elements, listed in 5.8 s, was found three-quarters
// "changed" at every check and rewritten, 55 s under the sink's lock.
func readTolerance(span time.Duration) time.Duration { return syncTolerance + max(span, 0)/2 }

// parseElements pairs interval starts with their ends. The kernel lists an
// interval as a start element carrying the timeout and an end element (the
// first address after it, flagged IntervalEnd) carrying none; an end whose
// start expired may linger until the kernel's garbage collection runs, and
// is ignored. A start without an end runs to the next start or the last
// address.
func parseElements(els []nft.SetElement, now time.Time) []element {
	var starts []nft.SetElement
	var ends []netip.Addr
	for _, e := range els {
		a, ok := netip.AddrFromSlice(e.Key)
		if !ok {
			continue
		}
		if e.IntervalEnd {
			ends = append(ends, a)
		} else {
			starts = append(starts, e)
		}
	}
	slices.SortFunc(ends, netip.Addr.Compare)
	slices.SortFunc(starts, func(a, b nft.SetElement) int { return bytes.Compare(a.Key, b.Key) })
	out := make([]element, 0, len(starts))
	for i, st := range starts {
		from, _ := netip.AddrFromSlice(st.Key)
		e := element{from: from, expires: never}
		if st.Timeout != 0 {
			e.expires = now.Add(st.Expires)
		}
		var next netip.Addr
		if i+1 < len(starts) {
			next, _ = netip.AddrFromSlice(starts[i+1].Key)
		}
		j, _ := slices.BinarySearchFunc(ends, from, netip.Addr.Compare)
		for j < len(ends) && !from.Less(ends[j]) {
			j++
		}
		switch {
		case j < len(ends) && (!next.IsValid() || !next.Less(ends[j])):
			e.to = ends[j].Prev()
		case next.IsValid():
			e.to, e.open = next.Prev(), true
		default:
			e.to, e.open = lastAddr(from), true
		}
		out = append(out, e)
	}
	return out
}

func lastAddr(a netip.Addr) netip.Addr {
	if a.Is4() {
		return netip.AddrFrom4([4]byte{255, 255, 255, 255})
	}
	return netip.AddrFrom16([16]byte{0: 255, 1: 255, 2: 255, 3: 255, 4: 255, 5: 255, 6: 255, 7: 255,
		8: 255, 9: 255, 10: 255, 11: 255, 12: 255, 13: 255, 14: 255, 15: 255})
}

// txEntries is how many set entries a transaction carries at first: a
// few batches of at most ChunkSize, sent in one message that the socket's
// default send buffer (208 KiB) takes. The kernel's cost per transaction
// grows with the set: 200,000 intervals added 256 at a time took 5.7 s
// here, 1,536 at a time 2.2 s; 400,000, 35 s against 5.3 s.
const txEntries = 3072

// apply sends the operations, several batches per transaction (Flush).
// A failed transaction changes nothing (the kernel applies it whole or not
// at all) but the ones before it stay applied.
func (s *Sink) apply(ctx context.Context, f *family, batches [][]op) error {
	for len(batches) > 0 {
		if err := ctx.Err(); err != nil {
			s.dirty = true
			return err
		}
		limit := cmp.Or(s.txLimit, txEntries)
		n, entries := 0, 0
		for ; n < len(batches); n++ {
			e := 0
			for _, o := range batches[n] {
				e += o.e.entries()
			}
			if n > 0 && entries+e > limit {
				break
			}
			entries += e
		}
		err := s.applyTx(f, batches[:n])
		if err != nil && n > 1 && errors.Is(err, unix.EMSGSIZE) {
			// The socket took less than a transaction this size; the
			// kernel got nothing. Smaller ones from now on.
			s.txLimit = max(entries/2, 1)
			s.log.Debug("nftables: transactions made smaller", "entries", s.txLimit)
			continue
		}
		if err != nil {
			s.redial()
			return fmt.Errorf("nftables: set %s: %w", f.set.Name, err)
		}
		batches = batches[n:]
	}
	return nil
}

// applyTx sends batches in one transaction.
func (s *Sink) applyTx(f *family, batches [][]op) error {
	s.fresh = nil // what connect listed is stale now
	now := s.now()
	for _, b := range batches {
		var dels, adds []nft.SetElement
		for _, o := range b {
			if o.del {
				dels = appendElement(dels, o.e, 0)
				continue
			}
			timeout := time.Duration(0) // no timeout: the element is permanent
			if !o.e.expires.Equal(never) {
				left := o.e.expires.Sub(now)
				if left <= 0 {
					continue
				}
				// Rounded up: a timeout of 0 would make the element permanent.
				timeout = left.Truncate(time.Millisecond) + time.Millisecond
			}
			adds = appendElement(adds, o.e, timeout)
		}
		if len(dels) > 0 {
			if err := s.conn.SetDeleteElements(f.set, dels); err != nil {
				return err
			}
		}
		if len(adds) > 0 {
			if err := s.conn.SetAddElements(f.set, adds); err != nil {
				return err
			}
		}
		s.stats.Batches++
	}
	s.stats.Transactions++
	return s.conn.Flush()
}

func appendElement(dst []nft.SetElement, e element, timeout time.Duration) []nft.SetElement {
	dst = append(dst, nft.SetElement{Key: e.from.AsSlice(), Timeout: timeout})
	if !e.open {
		dst = append(dst, nft.SetElement{Key: e.to.Next().AsSlice(), IntervalEnd: true})
	}
	return dst
}
