package pipeline

import (
	"cmp"
	"net/netip"
	"time"
)

// Verdict says what the ledger did with a ban request.
type Verdict uint8

const (
	Banned        Verdict = iota // a new ban: emit it
	Extended                     // a longer ban replaces a shorter one: emit it
	AlreadyBanned                // covered by an active ban: emit nothing
)

// record is one rule's ban on a target. A target keeps one record per rule so
// that a short ban expiring never lifts a longer one (fail2ban's recidive
// bug: sshd's unban removing recidive's week-long ban).
type record struct {
	rule    string
	expires time.Time
	info    *BanInfo // what the ban's decision said; nil until noted
}

type activeBan struct {
	// records and its first array come first: a rule asking again to
	// ban a target it holds (an alert flood's common case) reads them
	// and nothing else, in the ban's first cache line (see banPad).
	records []record
	one     [1]record // records' first array: most targets have one rule's ban
	until   time.Time // the latest expiry among records (or later)
	// hist is the target's offense log once a ban looked it up, so that
	// the next ban of the target does not look it up again (a rule
	// asking to ban a target another rule holds is the common case of
	// an alert flood). It is always the log l.history holds for the
	// target: a log is never dropped, and whoever replaces one (a
	// restore) drops the ban's copy (see forgetHistory).
	hist *offenseLog
	// info is the first BanInfo noted for a record, allocated with the
	// ban: most bans hold one record, noted once. Once taken it is never
	// written again (infoTaken): saved state and the inventory share it.
	info      BanInfo
	infoTaken bool
	// gone is set when the ban leaves the ledger's map (lifted, or
	// replaced by a restore): its expiry items then look the target up.
	gone bool
	_    [banPad]byte
}

// banPad makes an activeBan 256 bytes, a size the allocator hands out at
// multiples of 64 bytes: its first cache line is then a line of its own
// (TestActiveBanLayout).
const banPad = 30

func newActiveBan() *activeBan {
	b := &activeBan{}
	b.records = b.one[:0]
	return b
}

// Ledger holds the active bans and each target's offense history.
type Ledger struct {
	bans    banTable
	history map[netip.Prefix]*offenseLog
	expiry  expiryHeap
	ranges  map[netip.Prefix]struct{} // active bans on ranges, for covering lookups

	track bool
	dirty map[netip.Prefix]struct{}
}

func (l *Ledger) touch(t netip.Prefix) {
	if l.track {
		l.dirty[t] = struct{}{}
	}
}

// pushExpiry schedules a look at b, t's ban, at at.
func (l *Ledger) pushExpiry(t netip.Prefix, b *activeBan, at time.Time) {
	l.expiry.push(expiryItem{target: t, at: at, ban: b})
}

// dropBan takes t's ban b out of the table.
func (l *Ledger) dropBan(t netip.Prefix, b *activeBan) {
	b.gone = true
	l.bans.del(t)
	delete(l.ranges, t)
}

func NewLedger() *Ledger {
	return &Ledger{
		history: make(map[netip.Prefix]*offenseLog),
		ranges:  make(map[netip.Prefix]struct{}),
	}
}

// BanRequest asks the ledger to ban Target under Policy at event time At.
type BanRequest struct {
	Target netip.Prefix
	Policy *Policy
	At     time.Time
	// Until, when set, is when the ban ends instead of the policy's
	// (escalated) length: a grown range ban lasts as long as its members.
	// A rule's own record is then extended when Until is later.
	Until time.Time
}

// Outcome is what Ban decided; Duration and Offense are set for Banned and
// Extended.
type Outcome struct {
	Verdict  Verdict
	Offense  int
	Duration time.Duration
	Expires  time.Time
	// ban is what Ban found or made for the target, with its offense log
	// (ban.hist), so that noting the ban's decision (noteBan) looks
	// neither up again.
	ban *activeBan
}

const maxBanTimes = 16

func (l *Ledger) record(t netip.Prefix, rule string, at time.Time) int {
	return l.logOf(t).record(rule, at)
}

// logOf is t's offense log, made if need be.
func (l *Ledger) logOf(t netip.Prefix) *offenseLog {
	h := l.history[t]
	if h == nil {
		h = newOffenseLog()
		l.history[t] = h
	}
	return h
}

// histOf is t's offense log (nil if none), looked up once per ban b.
func (l *Ledger) histOf(t netip.Prefix, b *activeBan) *offenseLog {
	if b != nil && b.hist != nil {
		return b.hist
	}
	h := l.history[t]
	if b != nil {
		b.hist = h
	}
	return h
}

// logFor is t's offense log, made if need be, kept with its ban b.
func (l *Ledger) logFor(t netip.Prefix, b *activeBan) *offenseLog {
	if b.hist == nil {
		b.hist = l.logOf(t)
	}
	return b.hist
}

// forgetHistory drops the copy a ban of t holds of t's offense log: the
// log is about to be replaced.
func (l *Ledger) forgetHistory(t netip.Prefix) {
	if b := l.bans.get(t); b != nil {
		b.hist = nil
	}
}

// escalationCount is the n a policy's escalation uses for its next ban,
// by the target's log h (nil: no ban yet).
func escalationCount(h *offenseLog, p *Policy) int {
	if h == nil {
		return 1
	}
	if p.Escalate.PerRule {
		return h.ruleCount(p.Name) + 1
	}
	return h.n + 1
}

// OffensesWithin counts target's bans decided in (now-window, now].
func (l *Ledger) OffensesWithin(t netip.Prefix, window time.Duration, now time.Time) int {
	h := l.history[t]
	if h == nil {
		return 0
	}
	cutoff := now.Add(-window).UnixNano()
	n := 0
	for _, at := range h.times {
		if at > cutoff && at <= now.UnixNano() {
			n++
		}
	}
	return n
}

// Covered reports whether an active ban on a range containing t lasts at
// least until `until`: then banning t alone would add nothing.
func (l *Ledger) Covered(t netip.Prefix, until time.Time) bool {
	for r := range l.ranges {
		if r.Bits() < t.Bits() && r.Contains(t.Addr()) {
			if b := l.bans.get(r); b != nil && !b.until.Before(until) {
				return true
			}
		}
	}
	return false
}

// Ban applies the ledger's rules: a target already banned by this rule, or
// banned by any rule until at least as late as this ban would last, is not
// banned again; otherwise the ban is recorded, the offense counted and its
// duration escalated from the target's history.
func (l *Ledger) Ban(r BanRequest) Outcome {
	b := l.bans.get(r.Target)
	own := -1
	if b != nil {
		// Checked first: the rule banning again a target it has banned
		// (an alert that bans at once, repeated) is the common case. A
		// ban that has run out has no record that is still on (until
		// is never earlier than a record's end), so the check below
		// can wait.
		// By reference: a copy of the record would read its info too,
		// past the ban's first cache line.
		for i := range b.records {
			if rec := &b.records[i]; rec.rule == r.Policy.Name && rec.expires.After(r.At) {
				if !r.Until.After(rec.expires) {
					return Outcome{Verdict: AlreadyBanned}
				}
				own = i
			}
		}
	}
	if own >= 0 {
		return l.extend(r, b, own)
	}
	if b != nil && !b.until.After(r.At) {
		// Run out but not yet swept by Expire: as good as absent.
		b.records, b.until = b.records[:0], time.Time{}
	}
	var h *offenseLog
	n := 1
	if r.Policy.Escalate != nil {
		// Duration reads it only then: spare the history's lookup
		// otherwise.
		h = l.histOf(r.Target, b)
		n = escalationCount(h, r.Policy)
	}
	d := r.Policy.Duration(n)
	if !r.Until.IsZero() {
		d = r.Until.Sub(r.At)
	}
	expires := r.At.Add(d)
	if b != nil && len(b.records) > 0 {
		if !expires.After(b.until) {
			return Outcome{Verdict: AlreadyBanned}
		}
	}
	if len(l.ranges) > 0 && l.Covered(r.Target, expires) {
		return Outcome{Verdict: AlreadyBanned}
	}
	v := Banned
	if b == nil {
		b = newActiveBan()
		l.bans.set(r.Target, b)
	} else if len(b.records) > 0 {
		v = Extended
	}
	b.records = append(b.records, record{rule: r.Policy.Name, expires: expires})
	if expires.After(b.until) {
		b.until = expires
	}
	if h == nil {
		h = l.logFor(r.Target, b)
	}
	offense := h.record(r.Policy.Name, r.At)
	if !r.Target.IsSingleIP() {
		l.ranges[r.Target] = struct{}{}
	}
	l.pushExpiry(r.Target, b, expires)
	l.touch(r.Target)
	return Outcome{Verdict: v, Offense: offense, Duration: d, Expires: expires, ban: b}
}

// extend moves the rule's own record on the target (at index i) to
// r.Until: a grown range ban whose members last longer now.
func (l *Ledger) extend(r BanRequest, b *activeBan, i int) Outcome {
	b.records[i].expires = r.Until
	if r.Until.After(b.until) {
		b.until = r.Until
	}
	offense := l.logFor(r.Target, b).record(r.Policy.Name, r.At)
	l.pushExpiry(r.Target, b, r.Until)
	l.touch(r.Target)
	return Outcome{Verdict: Extended, Offense: offense, Duration: r.Until.Sub(r.At), Expires: r.Until, ban: b}
}

// Expire drops records that have run out at now and returns the targets
// whose last record went (no ban is left on them).
func (l *Ledger) Expire(now time.Time) []netip.Prefix {
	var lifted []netip.Prefix
	for _, it := range l.expire(now, nil) {
		lifted = append(lifted, it.target)
	}
	return lifted
}

// expire is Expire that also says when each lifted ban fell due, in the
// order they did (by time, then target), appended to lifted.
func (l *Ledger) expire(now time.Time, lifted []expiryItem) []expiryItem {
	for len(l.expiry) > 0 && !l.expiry[0].at.After(now) {
		it := l.expiry.pop()
		b := it.ban
		if b == nil || b.gone {
			// The ban the item was pushed for is no longer the
			// target's: look up whether another is.
			if b = l.bans.get(it.target); b == nil {
				continue
			}
		}
		kept := b.records[:0]
		var until time.Time
		for _, rec := range b.records {
			if rec.expires.After(now) {
				kept = append(kept, rec)
				if rec.expires.After(until) {
					until = rec.expires
				}
			}
		}
		b.records, b.until = kept, until
		l.touch(it.target)
		if len(kept) == 0 {
			l.dropBan(it.target, b)
			lifted = append(lifted, it)
		}
	}
	return lifted
}

// Unban lifts every record on target at once (an operator's decision).
// It reports whether target was banned.
func (l *Ledger) Unban(target netip.Prefix) bool {
	b := l.bans.get(target)
	ok := b != nil
	if ok {
		l.dropBan(target, b)
	}
	delete(l.ranges, target)
	l.touch(target)
	return ok
}

// RuleExpiry reports when rule's record on target runs out, if it has one.
func (l *Ledger) RuleExpiry(target netip.Prefix, rule string) (time.Time, bool) {
	if b := l.bans.get(target); b != nil {
		for _, rec := range b.records {
			if rec.rule == rule {
				return rec.expires, true
			}
		}
	}
	return time.Time{}, false
}

// UnbanRule lifts rule's record on target and leaves the others. It
// reports whether a record went, and until when target stays banned by
// the rest (zero: no ban is left).
func (l *Ledger) UnbanRule(target netip.Prefix, rule string) (bool, time.Time) {
	b := l.bans.get(target)
	if b == nil {
		return false, time.Time{}
	}
	kept := b.records[:0]
	var until time.Time
	found := false
	for _, rec := range b.records {
		if rec.rule == rule {
			found = true
			continue
		}
		kept = append(kept, rec)
		if rec.expires.After(until) {
			until = rec.expires
		}
	}
	if !found {
		return false, b.until
	}
	b.records, b.until = kept, until
	if len(kept) == 0 {
		l.dropBan(target, b)
	}
	l.touch(target)
	return true, until
}

// Active reports whether target is banned at now, and until when.
func (l *Ledger) Active(target netip.Prefix, now time.Time) (time.Time, bool) {
	b := l.bans.get(target)
	if b == nil || !b.until.After(now) {
		return time.Time{}, false
	}
	return b.until, true
}

// ActiveBan is one target's ban as a firewall needs it: until when, and the
// rule whose record lasts longest.
type ActiveBan struct {
	Target netip.Prefix
	Until  time.Time
	Rule   string
}

// ActiveBans lists the bans in force at now, in no particular order: what
// a firewall must hold after a restart (nftables reconcile).
func (l *Ledger) ActiveBans(now time.Time) []ActiveBan {
	out := make([]ActiveBan, 0, l.bans.len())
	for t, b := range l.bans.all() {
		if !b.until.After(now) {
			continue
		}
		ab := ActiveBan{Target: t, Until: b.until}
		for _, r := range b.records {
			if r.expires.Equal(b.until) {
				ab.Rule = r.rule
			}
		}
		out = append(out, ab)
	}
	return out
}

// EachActive calls fn with every active record at now: its target, rule
// and expiry. One pass over the bans serves every rule at once, where a
// ByRule per rule goes over them all for each (with 200,000 bans and
// sixty rules, 4.5 s of a daemon's status).
func (l *Ledger) EachActive(now time.Time, fn func(target netip.Prefix, rule string, expires time.Time)) {
	for t, b := range l.bans.all() {
		for _, r := range b.records {
			if r.expires.After(now) {
				fn(t, r.rule, r.expires)
			}
		}
	}
}

// ByRule lists the targets with an active record of rule at now.
func (l *Ledger) ByRule(rule string, now time.Time) []netip.Prefix {
	var out []netip.Prefix
	for t, b := range l.bans.all() {
		for _, r := range b.records {
			if r.rule == rule && r.expires.After(now) {
				out = append(out, t)
				break
			}
		}
	}
	return out
}

// Offenses is the number of bans ever decided against target.
func (l *Ledger) Offenses(target netip.Prefix) int {
	if h := l.history[target]; h != nil {
		return h.n
	}
	return 0
}

// Len is the number of targets with an active ban.
func (l *Ledger) Len() int { return l.bans.len() }

type expiryItem struct {
	target netip.Prefix
	at     time.Time
	// ban is the target's ban the item was pushed for: expire finds it
	// without the map (a cache miss a ban) while it is the target's.
	ban *activeBan
}

type expiryHeap []expiryItem

func (h expiryHeap) Len() int { return len(h) }
func (h expiryHeap) Less(i, j int) bool {
	// Ties by target: expiries falling due together come out in one
	// order, however the heap was built (a parallel replay merges its
	// workers' unbans by the same key).
	return h.less(&h[i], &h[j])
}

func (h expiryHeap) less(a, b *expiryItem) bool {
	// By at's nanoseconds, not Time.Compare: the heap's items are a
	// cache line each (64 bytes) only without a copy of them.
	if an, bn := a.at.UnixNano(), b.at.UnixNano(); an != bn {
		return an < bn
	}
	return comparePrefix(a.target, b.target) < 0
}

// push and pop are container/heap's, without boxing each item in an
// interface (an allocation per ban and per expiry).
func (h *expiryHeap) push(it expiryItem) {
	*h = append(*h, it)
	s := *h
	for j := len(s) - 1; j > 0; {
		i := (j - 1) / 2
		if i == j || !s.less(&s[j], &s[i]) {
			break
		}
		s[i], s[j] = s[j], s[i]
		j = i
	}
}

// pop is bottom-up (Floyd's): the hole at the top goes down the smaller
// children to a leaf, one comparison a level, and the last item climbs
// back from there, which is seldom far; container/heap's sift-down does
// two comparisons and a swap of two items at every level of a heap that
// holds every ban.
func (h *expiryHeap) pop() expiryItem {
	s := *h
	n := len(s) - 1
	top, last := s[0], s[n]
	s[n] = expiryItem{} // the ban it points at is no longer held by the heap
	s = s[:n]
	*h = s
	if n == 0 {
		return top
	}
	i := 0
	for {
		j := 2*i + 1
		if j >= n {
			break
		}
		if j2 := j + 1; j2 < n && s.less(&s[j2], &s[j]) {
			j = j2
		}
		s[i] = s[j]
		i = j
	}
	for i > 0 {
		p := (i - 1) / 2
		if !s.less(&last, &s[p]) {
			break
		}
		s[i] = s[p]
		i = p
	}
	s[i] = last
	return top
}

func (h expiryHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)   { *h = append(*h, x.(expiryItem)) }
func (h *expiryHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return cmp.Compare(a.Bits(), b.Bits())
}
