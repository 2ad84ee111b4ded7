package pipeline

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// An admin asks two things of the ledger that a firewall does not: what is
// banned right now and why (fail2ban-client's banned list, cscli decisions
// list), and what was ever decided about one address (cscli alerts list
// --ip). The ledger keeps, beside each rule's record, what the decision that
// made it said (BanInfo), and beside each target's offense count, its last
// MaxHistory decisions (HistoryEntry). Both are persisted with the target.

// BanInfo is what a ban's decision said, kept with the rule's record.
type BanInfo struct {
	Pack     string    `json:"pack,omitempty"`
	Origin   string    `json:"origin,omitempty"` // who asked: a sensor, "operator", "list:NAME"
	Reason   string    `json:"reason,omitempty"`
	Source   string    `json:"source,omitempty"`
	At       time.Time `json:"at"`
	Offense  int       `json:"offense,omitempty"`
	Evidence []string  `json:"evidence,omitempty"`
}

// HistoryEntry is one decision about a target.
type HistoryEntry struct {
	// Target is set in replies that gather the history of several
	// targets (an address and the ranges holding it); the ledger keeps
	// each target's apart, without it.
	Target string    `json:"target,omitempty"`
	At     time.Time `json:"at"`
	// ban, extend, replace, renew (a list's), unban. A ban's end is its
	// Expires unless an unban comes first: expiries are not entries.
	Action  string    `json:"action"`
	Rule    string    `json:"rule,omitempty"`
	Origin  string    `json:"origin,omitempty"`
	Reason  string    `json:"reason,omitempty"`
	Expires time.Time `json:"expires,omitzero"`
	Offense int       `json:"offense,omitempty"`
}

// MaxHistory bounds the decisions kept per target: a returning attacker
// banned every ten minutes for a year keeps its last 16, not 50,000
// (about 2 kB).
const MaxHistory = 16

// note appends e to t's history, creating it if need be.
func (l *Ledger) note(t netip.Prefix, e HistoryEntry) {
	l.logOf(t).add(e)
	l.touch(t)
}

// Note records what decision x (a ban, or an unban) said about its target:
// the ban's details go with the rule's record for the inventory, and a line
// goes to the target's history. origin names who asked when that is not
// the sensor the decision carries (an operator, a list).
func (l *Ledger) Note(t netip.Prefix, x *Decision, action, origin string) {
	var b *activeBan
	if x.Action == ActionBan {
		b = l.bans.get(t)
	}
	l.noteIn(t, b, nil, x, action, origin)
}

// noteBan is Note for the decision of a ban whose Outcome o Ban just
// returned: what Ban found for the target is not looked up again.
func (l *Ledger) noteBan(t netip.Prefix, o Outcome, x *Decision) {
	l.noteIn(t, o.ban, o.ban.hist, x, verdictAction(o.Verdict), "")
}

// noteIn is Note with t's ban b (nil: none, or x is no ban) and its log h
// (nil: looked up, made if need be).
func (l *Ledger) noteIn(t netip.Prefix, b *activeBan, h *offenseLog, x *Decision, action, origin string) {
	origin = cmp.Or(origin, x.Origin)
	if b != nil {
		var info *BanInfo
		for i := range b.records {
			if r := &b.records[i]; r.rule == x.Rule && r.expires.Equal(x.Expires) {
				if info == nil {
					info = b.newInfo()
					*info = BanInfo{Pack: x.Pack, Origin: origin, Reason: x.Reason, Source: x.Source, At: x.At, Offense: x.Offense, Evidence: x.Evidence}
				}
				r.info = info
			}
		}
	}
	e := HistoryEntry{At: x.At, Action: action, Rule: x.Rule, Origin: origin, Reason: x.Reason, Offense: x.Offense}
	if x.Action == ActionBan {
		e.Expires = x.Expires
	}
	if h == nil {
		h = l.logOf(t)
	}
	h.add(e)
	l.touch(t)
}

// newInfo is a BanInfo to fill for one of b's records: the one allocated
// with b the first time, a new one after.
func (b *activeBan) newInfo() *BanInfo {
	if b.infoTaken {
		return &BanInfo{}
	}
	b.infoTaken = true
	return &b.info
}

// BanView is one rule's active record on a target, as `stockade bans`
// lists it.
type BanView struct {
	Target  netip.Prefix
	Rule    string
	Expires time.Time
	Info    BanInfo
}

// Inventory lists every active record at now, by target then rule. A
// target banned by two rules has two rows: lifting one leaves the other.
func (l *Ledger) Inventory(now time.Time) []BanView {
	var out []BanView
	for t, b := range l.bans.all() {
		for _, r := range b.records {
			if !r.expires.After(now) {
				continue
			}
			v := BanView{Target: t, Rule: r.rule, Expires: r.expires, Info: infoOf(r)}
			if r.info == nil {
				v.Info.At, v.Info.Offense = l.lastOf(t, r.rule)
			}
			out = append(out, v)
		}
	}
	slices.SortFunc(out, func(a, b BanView) int {
		if c := comparePrefix(a.Target, b.Target); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Rule, b.Rule); c != 0 {
			return c
		}
		return a.Expires.Compare(b.Expires)
	})
	return out
}

// infoOf is what r's decision said, or for a list's ban what its rule
// says (see ImportList).
func infoOf(r record) BanInfo {
	if r.info != nil {
		return *r.info
	}
	if name, ok := strings.CutPrefix(r.rule, "list:"); ok {
		return BanInfo{Pack: "blocklist", Origin: r.rule, Reason: "on the list " + name, Source: r.rule}
	}
	return BanInfo{}
}

// lastOf is when rule last banned t, by the history, and the offense
// count then.
func (l *Ledger) lastOf(t netip.Prefix, rule string) (time.Time, int) {
	h := l.history[t]
	if h == nil {
		return time.Time{}, 0
	}
	var at time.Time
	for i := range h.events {
		if e := h.entry(i); e.Rule == rule && e.Action != "unban" && e.At.After(at) {
			at = e.At
		}
	}
	return at, h.n
}

// History returns t's decisions, oldest first (at most MaxHistory).
func (l *Ledger) History(t netip.Prefix) []HistoryEntry {
	if h := l.history[t]; h != nil {
		return h.eventsInOrder()
	}
	return nil
}

// Replace makes rule's record the only one on target, running out at
// expires, whatever was there (longer or shorter): an operator's `ban
// --replace`. It reports whether target was banned before.
func (l *Ledger) Replace(target netip.Prefix, rule string, at, expires time.Time) bool {
	b := l.bans.get(target)
	was := b != nil && b.until.After(at)
	if b == nil {
		b = newActiveBan()
		l.bans.set(target, b)
	}
	b.records = append(b.records[:0], record{rule: rule, expires: expires})
	b.until = expires
	if !target.IsSingleIP() {
		l.ranges[target] = struct{}{}
	}
	l.record(target, rule, at)
	l.pushExpiry(target, b, expires)
	l.touch(target)
	return was
}

// Banned lists the targets with an active record at now, sorted; with
// rule set, those with an active record of that rule.
func (l *Ledger) Banned(now time.Time, rule string) []netip.Prefix {
	var out []netip.Prefix
	for t, b := range l.bans.all() {
		if !b.until.After(now) {
			continue
		}
		if rule == "" {
			out = append(out, t)
			continue
		}
		for _, r := range b.records {
			if r.rule == rule && r.expires.After(now) {
				out = append(out, t)
				break
			}
		}
	}
	slices.SortFunc(out, comparePrefix)
	return out
}

// renew moves rule's record on t to run out at expires.
func (l *Ledger) renew(t netip.Prefix, rule string, expires time.Time) {
	b := l.bans.get(t)
	if b == nil {
		return
	}
	for i := range b.records {
		if b.records[i].rule == rule {
			b.records[i].expires = expires
		}
	}
	if expires.After(b.until) {
		b.until = expires
	}
	l.pushExpiry(t, b, expires)
	l.touch(t)
}

// HistoryOf returns the history of a and of every range holding it, by
// time, each entry naming its target.
func (l *Ledger) HistoryOf(t netip.Prefix) []HistoryEntry {
	var out []HistoryEntry
	for p, h := range l.history {
		if p == t || p.Bits() < t.Bits() && p.Contains(t.Addr()) || t.Bits() < p.Bits() && t.Contains(p.Addr()) {
			s, _ := TargetString(p)
			for _, e := range h.eventsInOrder() {
				e.Target = s
				out = append(out, e)
			}
		}
	}
	slices.SortStableFunc(out, func(a, b HistoryEntry) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		return cmp.Compare(a.Target, b.Target)
	})
	return out
}
