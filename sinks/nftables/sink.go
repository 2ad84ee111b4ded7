// Package nftables enforces decisions in the kernel through nftables sets,
// over netlink (github.com/google/nftables): no nft binary at run time.
//
// Two sets, IPv4 and IPv6, with flags interval and timeout hold addresses
// and CIDR ranges; every element carries the time left on its ban as its
// own kernel timeout, so bans run out in the kernel even while stockade is
// stopped. Our table (default "inet stockade") has a base chain per hook
// with policy accept and one rule per set: saddr @set counter drop.
//
// The sink keeps a model of the bans and keeps the kernel equal to it:
// every address gets the latest expiry among the bans covering it, cut
// into CIDR blocks (see partition), because interval sets refuse
// overlapping elements. The kernel is read only on Connect, on Reconcile,
// and when it disagrees with the model (a batch failed: someone deleted an
// element, an element ran out a millisecond before the model thought):
// then the sets are read back and the difference applied.
//
// What decisions do:
//   - A ban adds its target until its Expires; a target banned until later
//     stays so (longest wins), across restarts too, since Connect reads the
//     kernel back. Reconcile is the exception: there the ledger wins,
//     except over elements ReconcileAdopting adopts.
//   - An unban lifts exactly the target it names. A range covering it, or
//     bans inside it, are other targets and stay, as in the ledger. With
//     IPv6Prefix 64, any address of a /64 names the /64's ban.
//   - A decision that cannot be enforced is counted (Stats) and skipped.
//   - Kernel timeouts are capped at 10 years; Reconcile renews longer bans
//     at each start.
package nftables

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	nft "github.com/google/nftables"

	"github.com/stockade-ids/stockade/pipeline"
)

// Sink writes decisions into nftables sets. It implements pipeline.Sink;
// its methods are safe for concurrent use.
type Sink struct {
	cfg Config
	log *slog.Logger
	now func() time.Time

	mu     sync.Mutex
	conn   *nft.Conn
	table  *nft.Table
	chains []*nft.Chain
	fams   []*family // the sets this table serves: v4, v6 or both
	v4, v6 *family
	// dirty: the kernel may differ from the model (a write failed half-way);
	// the next write reads the sets back first.
	dirty     bool
	loaded    bool // the model was read from the kernel once
	closed    bool
	lastSweep time.Time
	stats     Stats
	// rulesAdded counts drop rules ensure put (back) in our chains.
	rulesAdded uint64

	// epoch counts the reads of our sets that made them whole (sync): a
	// check whose listing one overlapped has nothing left to do.
	epoch uint64
	// checking serializes Repair; rconn is the connection it lists the
	// sets on, the sink's lock free meanwhile (nil: dial one).
	checking sync.Mutex
	rconn    *nft.Conn
	// txLimit caps the entries of a transaction once the socket refused
	// one as too large (0: txEntries).
	txLimit int
	// fresh is what connect listed, kept for Open's reconcile when
	// keepListing (see takeFresh) until a write or a sync of ours makes
	// it stale: a set of a million bans takes the kernel minutes to
	// list, and Open listed it three times.
	keepListing bool
	fresh       []listing

	watch      *watcher // follows others' changes to our table (watch.go)
	deferWatch bool     // Open starts the watch after its reconcile
	ports      ports    // our netlink port IDs, to tell our changes from theirs
}

// Stats counts what Write did with decisions, for metrics.
type Stats struct {
	Bans         uint64 // ban decisions that changed the model (new or longer)
	Unbans       uint64 // unban decisions that lifted a ban
	Kept         uint64 // bans already covered until as late, unbans of nothing
	Expired      uint64 // ban decisions already over when written
	BadTarget    uint64 // decisions with a target or action that cannot be enforced
	WrongFamily  uint64 // IPv6 decisions for an ip table, IPv4 for ip6
	Resyncs      uint64 // times the sets were read back because the kernel disagreed
	Batches      uint64 // netlink batches sent (of at most ChunkSize entries)
	Transactions uint64 // transactions sent (several batches each)
	Listings     uint64 // sets listed back from the kernel
	Relisted     uint64 // checks read again: writes overlapped a listing that showed drift
	// Restores counts the times another program deleted or flushed our
	// table, chains, rules or sets (or elements of them) and the sink put
	// them back; Restored the set elements it put back.
	Restores, Restored uint64
	Active             int // bans in the model
}

// Counters is what the drop rules dropped.
type Counters struct {
	IPv4, IPv6 Dropped
}

// Dropped is one drop rule's counter (summed over chains).
type Dropped struct {
	Packets, Bytes uint64
}

const (
	// syncTolerance: an element read back within this of its wanted
	// expiry is left alone.
	syncTolerance = time.Second
	// syncAttempts bounds the read-back-and-fix rounds of one call: an
	// element can run out between reading and writing, once or twice.
	syncAttempts = 3
	sweepEvery   = time.Minute
	// maxBan caps kernel timeouts: the kernel refuses one of about 290
	// years. Longer bans are renewed by Reconcile at every start.
	maxBan = 10 * 365 * 24 * time.Hour
)

var errNotConnected = errors.New("nftables: not connected (call Connect)")

// New validates cfg; it touches nothing until Connect.
func New(cfg Config, log *slog.Logger) (*Sink, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Sink{cfg: cfg, log: log, now: time.Now}
	if cfg.Now != nil {
		s.now = cfg.Now
	}
	s.table = &nft.Table{Name: cfg.Table, Family: s.tableFamily()}
	// Set IDs only name a set within one batch. Given here, because the
	// library otherwise draws them from a global counter without a lock,
	// which two sinks in one process race on.
	if cfg.wantV4() {
		s.v4 = newFamily(false, 32)
		s.v4.guard = cfg.Guard
		s.v4.set = &nft.Set{Table: s.table, ID: 1, Name: cfg.SetV4, KeyType: nft.TypeIPAddr, Interval: true, HasTimeout: true}
		s.fams = append(s.fams, s.v4)
	}
	if cfg.wantV6() {
		s.v6 = newFamily(true, cfg.IPv6Prefix)
		s.v6.guard = cfg.Guard
		s.v6.set = &nft.Set{Table: s.table, ID: 2, Name: cfg.SetV6, KeyType: nft.TypeIP6Addr, Interval: true, HasTimeout: true}
		s.fams = append(s.fams, s.v6)
	}
	policy := nft.ChainPolicyAccept
	for _, name := range cfg.Chains {
		hook := nft.ChainHookInput
		if name == "forward" {
			hook = nft.ChainHookForward
		}
		s.chains = append(s.chains, &nft.Chain{
			Name: name, Table: s.table, Type: nft.ChainTypeFilter,
			Hooknum: hook, Priority: nft.ChainPriorityRef(nft.ChainPriority(cfg.Priority)), Policy: &policy,
		})
	}
	return s, nil
}

// Connect creates our table, sets, chains and rules (set-only: checks that
// the sets exist and fit), then loads the model. On the first Connect the
// model is what the sets hold, so that a ban from before a restart is not
// shortened before Reconcile runs; on a later one (after an error) the
// model is kept and pushed back into the kernel. Calling it again is
// harmless.
func (s *Sink) Connect(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	s.closed = false
	if err := s.connect(ctx); err != nil {
		if s.conn != nil {
			_ = s.conn.CloseLasting()
			s.conn = nil
		}
		return err
	}
	s.startWatch()
	return nil
}

func (s *Sink) connect(ctx context.Context) error {
	if s.conn == nil {
		c, err := s.dial()
		if err != nil {
			return err
		}
		s.conn = c
	}
	if err := s.ensure(); err != nil {
		return err
	}
	s.lastSweep = s.now()
	if s.loaded {
		return s.sync(ctx)
	}
	var lists []listing
	batches := s.stats.Batches
	for _, f := range s.fams {
		have, span, err := s.readSpan(f)
		if err != nil {
			return err
		}
		lists = append(lists, listing{have, span})
		bans := make([]ban, 0, len(have))
		for _, e := range have {
			for _, p := range rangePrefixes(e) {
				bans = append(bans, ban{p, e.expires})
			}
		}
		f.reset(bans)
		// Normally nothing: this rewrites elements stockade would not have
		// made (ranges that are not CIDR blocks, IPv6 narrower than
		// IPv6Prefix).
		now := s.now()
		dels, adds := diff(have, f.elements(now), now, 0)
		if err := s.apply(ctx, f, plan(dels, adds, s.cfg.ChunkSize)); err != nil {
			s.dirty = true
		}
	}
	if s.keepListing && s.stats.Batches == batches {
		// Nothing was written since the listing (a family's rewrite
		// would have made it stale).
		s.fresh = lists
	}
	s.loaded = true
	if s.dirty {
		return s.sync(ctx)
	}
	return nil
}

// Write applies decisions. A decision that cannot be enforced (a bad
// target, an unknown action, IPv6 for an ip table) is counted in Stats,
// logged and skipped; it never fails the batch, because retrying would not
// make it any better and would hold up the decisions behind it. Write
// returns an error only when the kernel may not hold what the decisions
// asked: retrying the same decisions is then safe (they are idempotent).
//
// Remaining time is measured on the wall clock: decisions replayed from
// old logs are over and skipped.
func (s *Sink) Write(ctx context.Context, ds []pipeline.Decision) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ready() {
		return errNotConnected
	}
	now := s.now()
	if s.dirty {
		if err := s.sync(ctx); err != nil {
			return err
		}
	}
	changes := s.model(ds, now)
	if now.Sub(s.lastSweep) > sweepEvery {
		for _, f := range s.fams {
			f.sweep(now)
		}
		s.lastSweep = now
	}
	for _, f := range s.fams {
		c := changes[f]
		if c == nil {
			continue
		}
		dels, adds := f.diff(c)
		if len(dels)+len(adds) == 0 {
			continue
		}
		if err := s.apply(ctx, f, plan(dels, adds, s.cfg.ChunkSize)); err != nil {
			s.log.Warn("nftables: the kernel disagrees with the model, reading the sets back", "set", f.set.Name, "err", err)
			s.dirty = true
			s.stats.Resyncs++
			// sync pushes the whole model, the other family's edits too.
			return s.sync(ctx)
		}
	}
	return nil
}

// model applies ds to the families' models and returns each family's
// change; decisions that cannot be enforced here are counted and logged.
func (s *Sink) model(ds []pipeline.Decision, now time.Time) map[*family]*change {
	changes := make(map[*family]*change, len(s.fams))
	var bad int
	var firstBad error
	for i := range ds {
		d := &ds[i]
		f, p, err := s.target(d)
		if err != nil {
			if f == nil && p.IsValid() {
				s.stats.WrongFamily++
			} else {
				s.stats.BadTarget++
			}
			if bad++; firstBad == nil {
				firstBad = err
			}
			continue
		}
		c := changes[f]
		if c == nil {
			c = newChange(now)
			changes[f] = c
		}
		switch d.Action {
		case pipeline.ActionBan:
			if !d.Expires.After(now) {
				s.stats.Expired++
			} else if f.ban(c, p, capExpiry(d.Expires, now)) {
				s.stats.Bans++
			} else {
				s.stats.Kept++
			}
		case pipeline.ActionUnban:
			// A ban made before its range held a protected address was
			// widened; the unban of the same address names it still.
			if f.unban(c, p) || f.unban(c, f.aggregate(p)) {
				s.stats.Unbans++
			} else {
				s.stats.Kept++
			}
		}
	}
	if bad > 0 {
		s.log.Warn("nftables: skipped decisions that cannot be enforced", "count", bad, "first", firstBad)
	}
	return changes
}

// target resolves the family and the (widened) prefix a decision names.
// For a decision of a family we do not serve, f is nil and p valid.
func (s *Sink) target(d *pipeline.Decision) (f *family, p netip.Prefix, err error) {
	if d.Action != pipeline.ActionBan && d.Action != pipeline.ActionUnban {
		return nil, netip.Prefix{}, fmt.Errorf("decision %s: unknown action %q", d.ID, d.Action)
	}
	p, err = d.Prefix()
	if err != nil {
		return nil, netip.Prefix{}, fmt.Errorf("decision %s: %w", d.ID, err)
	}
	f = s.v4
	if p.Addr().Is6() {
		f = s.v6
	}
	if f == nil {
		return nil, p, fmt.Errorf("decision %s: %s does not go in a %s table", d.ID, d.Target, s.cfg.Family)
	}
	return f, f.widen(p), nil
}

// Reconcile makes our sets hold exactly the ledger's active bans, each
// with the time it has left at now: elements the ledger no longer holds go,
// missing bans come back, timeouts are corrected. The ledger wins over the
// kernel here, in both directions; nothing outside our sets is touched.
// now is the ledger's clock; remaining times are applied from the wall
// clock.
func (s *Sink) Reconcile(ctx context.Context, active []pipeline.ActiveBan, now time.Time) error {
	_, err := s.ReconcileAdopting(ctx, active, now, nil)
	return err
}

// ReconcileAdopting is Reconcile that keeps what the kernel holds beyond
// the ledger when keep accepts it, and returns it for the ledger to
// record. A ban decided while the state could not be saved (a full disk)
// reached the kernel before the commit that failed; after a crash the
// kernel is the only one that remembers it, and removing it would free an
// attacker early. So an element of our sets that no active ban covers
// (after IPv6 widening) and that still has time left is adopted: it stays
// with the timeout it has (not a new full ban), and is returned as a ban
// of the whole element (an address or a CIDR range, as partition cut it:
// a piece of a lost range ban, a widened /64) until when it runs out, on
// the ledger's clock. keep is asked about each one first and must refuse
// whatever must not be banned (allowlisted and own addresses): a refused
// element is removed as Reconcile would. keep nil adopts nothing.
//
// Never adopted, always removed: elements without a timeout. stockade
// gives every element one, so such an element was added by hand, and set
// only mode says to keep hand-made elements in another set. An element
// with a timeout is taken for ours: in our sets nobody else's can be told
// apart, and only root can add one.
func (s *Sink) ReconcileAdopting(ctx context.Context, active []pipeline.ActiveBan, now time.Time, keep func(netip.Prefix) bool) (adopted []pipeline.ActiveBan, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ready() {
		return nil, errNotConnected
	}
	fresh := s.takeFresh()
	wall := s.now()
	per := make(map[*family][]ban, len(s.fams))
	for _, a := range active {
		if !a.Until.After(now) || !a.Target.IsValid() {
			continue
		}
		p := a.Target.Masked()
		if p.Addr().Is4In6() {
			if p.Bits() < 96 {
				continue
			}
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		f := s.v4
		if p.Addr().Is6() {
			f = s.v6
		}
		if f == nil {
			s.stats.WrongFamily++
			continue
		}
		per[f] = append(per[f], ban{p.Masked(), capExpiry(wall.Add(a.Until.Sub(now)), wall)})
	}
	if keep != nil {
		for i, f := range s.fams {
			var have []element
			if fresh != nil {
				have = fresh[i].have
			}
			found, err := s.adoptable(f, per[f], keep, have)
			if err != nil {
				return nil, err
			}
			for _, b := range found {
				per[f] = append(per[f], b)
				adopted = append(adopted, pipeline.ActiveBan{Target: b.p, Until: now.Add(b.expires.Sub(wall))})
			}
		}
	}
	for _, f := range s.fams {
		f.reset(per[f])
	}
	// Read the sets again, unless Open's connect just did: anything may
	// have been added by hand since, and the ledger is the authority.
	_, err = s.syncCountFrom(ctx, fresh)
	return adopted, err
}

// takeFresh returns what connect listed for Open, nil when it is not
// kept or the sets may have changed since (a write or a sync of ours),
// and forgets it: whatever comes next reads the kernel.
func (s *Sink) takeFresh() []listing {
	l := s.fresh
	s.fresh, s.keepListing = nil, false
	return l
}

// adoptable reads f's set (have, when not nil, is what it holds) and
// returns the elements with time left that none of bans covers and keep
// accepts, each as the ban it stands for.
func (s *Sink) adoptable(f *family, bans []ban, keep func(netip.Prefix) bool, have []element) ([]ban, error) {
	var err error
	for attempt := range syncAttempts {
		if have != nil {
			break
		}
		if attempt > 0 || s.conn == nil {
			// As in sync: a failed request can leave answers unread.
			s.redial()
		}
		if s.conn == nil {
			err = errNotConnected
			continue
		}
		// ensure: the table may have been removed since Connect.
		if err = s.ensure(); err == nil {
			if have, err = s.read(f); err == nil {
				break
			}
		}
	}
	if err != nil {
		return nil, err
	}
	known := make(map[netip.Prefix]bool, len(bans))
	var lens [129]bool
	for _, b := range bans {
		w := f.widen(b.p)
		known[w], lens[w.Bits()] = true, true
	}
	covered := func(p netip.Prefix) bool {
		for b := 0; b <= p.Bits(); b++ {
			if lens[b] {
				if k, _ := p.Addr().Prefix(b); known[k] {
					return true
				}
			}
		}
		return false
	}
	now := s.now()
	var out []ban
	refused, firstRefused := 0, netip.Prefix{}
	defer func() {
		if refused > 0 {
			s.log.Warn("nftables: removing bans the ledger lost that must not be banned", "set", f.set.Name, "count", refused, "first", firstRefused)
		}
	}()
	for _, e := range have {
		if e.expires == never || !e.expires.After(now.Add(syncTolerance)) {
			continue
		}
		for _, p := range rangePrefixes(e) {
			w := f.widen(p)
			if covered(w) {
				continue
			}
			if !keep(w) {
				if refused++; !firstRefused.IsValid() {
					firstRefused = w
				}
				continue
			}
			out = append(out, ban{w, e.expires})
			// A second piece of the same widened block is the same ban.
			known[w], lens[w.Bits()] = true, true
		}
	}
	return out, nil
}

func capExpiry(t, now time.Time) time.Time {
	if t.Sub(now) > maxBan {
		return now.Add(maxBan)
	}
	return t
}

// sync reads our sets back and applies the difference from the model,
// recreating the table first if someone removed it.
func (s *Sink) sync(ctx context.Context) error {
	_, err := s.syncCount(ctx)
	return err
}

// syncCount is sync that says how many set elements and drop rules it
// had to add back.
func (s *Sink) syncCount(ctx context.Context) (added int, err error) {
	return s.syncCountFrom(ctx, nil)
}

// syncCountFrom is syncCount whose first round takes fresh, when not nil,
// for what the sets hold.
func (s *Sink) syncCountFrom(ctx context.Context, fresh []listing) (added int, err error) {
	rules := s.rulesAdded
	defer func() { added += int(s.rulesAdded - rules) }()
	for attempt := range syncAttempts {
		if attempt > 0 {
			s.stats.Resyncs++
		}
		if err = ctx.Err(); err != nil {
			return added, err
		}
		if s.conn == nil {
			if s.redial(); s.conn == nil {
				err = errNotConnected
				continue
			}
		}
		var n int
		n, err = s.syncOnce(ctx, fresh)
		fresh = nil
		added += n
		if err == nil {
			s.dirty = false
			return added, nil
		}
		// A request that failed half-way can leave answers unread on the
		// socket; the next one would take them for its own.
		s.redial()
	}
	return added, fmt.Errorf("nftables: could not make the kernel sets match the bans: %w", err)
}

func (s *Sink) syncOnce(ctx context.Context, fresh []listing) (added int, err error) {
	s.epoch++
	s.fresh = nil
	if err := s.ensure(); err != nil {
		return 0, err
	}
	for i, f := range s.fams {
		var l listing
		if fresh != nil {
			l = fresh[i]
		} else if l.have, l.span, err = s.readSpan(f); err != nil {
			return added, err
		}
		have, span := l.have, l.span
		now := s.now()
		dels, adds := diff(have, f.elements(now), now, readTolerance(span))
		if err := s.apply(ctx, f, plan(dels, adds, s.cfg.ChunkSize)); err != nil {
			return added, err
		}
		added += len(adds)
	}
	return added, nil
}

// Counters reads the drop rules' counters. In set-only mode the rules are
// the admin's: every rule of the table that looks up one of our sets and
// has a counter is summed.
func (s *Sink) Counters(ctx context.Context) (Counters, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out Counters
	if !s.ready() || s.conn == nil {
		return out, errNotConnected
	}
	if err := ctx.Err(); err != nil {
		return out, err
	}
	chains := s.chains
	if s.cfg.SetOnly {
		all, err := s.conn.ListChainsOfTableFamily(s.table.Family)
		if err != nil {
			return out, fmt.Errorf("nftables: list chains: %w", err)
		}
		chains = chains[:0:0]
		for _, ch := range all {
			if ch.Table.Name == s.table.Name {
				chains = append(chains, ch)
			}
		}
	}
	for _, ch := range chains {
		rules, err := s.conn.GetRules(s.table, ch)
		if err != nil {
			return out, fmt.Errorf("nftables: list chain %s: %w", ch.Name, err)
		}
		for _, r := range rules {
			for _, f := range s.fams {
				ctr := ruleCounter(r, f.set.Name, !s.cfg.SetOnly)
				if ctr == nil {
					continue
				}
				d := &out.IPv4
				if f.v6 {
					d = &out.IPv6
				}
				d.Packets += ctr.Packets
				d.Bytes += ctr.Bytes
			}
		}
	}
	return out, nil
}

// Stats returns the decision counts so far.
func (s *Sink) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	for _, f := range s.fams {
		st.Active += f.nbans
	}
	return st
}

// Close releases the netlink socket and stops following changes. The
// table and its elements stay: bans keep running out in the kernel while
// stockade is stopped.
func (s *Sink) Close(context.Context) error {
	s.stopWatch()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.rconn != nil {
		_ = s.rconn.CloseLasting()
		s.rconn = nil
	}
	if s.conn == nil {
		return nil
	}
	err := s.conn.CloseLasting()
	s.conn = nil
	return err
}

// ready: Connect succeeded once and Close was not called since. The
// connection itself may be down; the next write redials.
func (s *Sink) ready() bool { return s.loaded && !s.closed }
