package pipeline

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// grow widens a range rule's new ban of child by density (Growth): while
// Members of the prefixes of child's length inside the next wider prefix
// are banned by the rule, that prefix is banned until the Members-th
// latest of their expiries, and so on up to the widest. Members are read
// from the ledger (the rule's active records), so growth survives a
// restart with the ledger and decides the same in replay as live.
func (e *Engine) grow(p *Policy, child netip.Prefix, ev *Event) {
	g := p.Range.Grow
	widest := g.Widest(child.Addr())
	st := &e.stats[p.ID]
	l := e.ledgerOf(p)
	for widest > 0 && child.Bits() > widest {
		parent, _ := child.Addr().Prefix(max(widest, child.Bits()-g.Step(child.Addr())))
		members, ends := membersOf(l, p, parent, child.Bits(), ev.Time)
		if len(ends) < g.Members {
			return
		}
		if e.AllowedPrefix(parent) || overlapsAny(p.Allow, parent) {
			st.Allowlisted++
			return
		}
		o := l.Ban(BanRequest{Target: parent, Policy: p, At: ev.Time, Until: ends[g.Members-1]})
		if o.Verdict == AlreadyBanned {
			return
		}
		x := e.decision(ActionBan, parent, p, ev, o, members)
		x.Reason = fmt.Sprintf("%s: %d of its /%ds banned at once (density)", cmp.Or(p.Description, p.Name), len(ends), child.Bits())
		if p.Simulate {
			st.Simulated++
			x.Simulated = true
		} else {
			st.Bans++
		}
		e.out = append(e.out, x)
		l.noteBan(parent, o, &e.out[len(e.out)-1])
		child = parent
	}
}

// membersOf lists the rule's active bans in l of prefixes of length bits inside
// parent at now (as evidence: "203.0.113.0/24 until 2025-11-08T23:00:00Z"),
// and their expiries, latest first.
func membersOf(l *Ledger, p *Policy, parent netip.Prefix, bits int, now time.Time) ([]string, []time.Time) {
	type member struct {
		target netip.Prefix
		until  time.Time
	}
	var ms []member
	for r := range l.ranges {
		if r.Bits() != bits || !parent.Contains(r.Addr()) {
			continue
		}
		if until, ok := l.RuleExpiry(r, p.Name); ok && until.After(now) {
			ms = append(ms, member{r, until})
		}
	}
	slices.SortFunc(ms, func(a, b member) int {
		return cmp.Or(b.until.Compare(a.until), comparePrefix(a.target, b.target))
	})
	ev := make([]string, len(ms))
	ends := make([]time.Time, len(ms))
	for i, m := range ms {
		ev[i] = m.target.String() + " until " + m.until.UTC().Format(time.RFC3339)
		ends[i] = m.until
	}
	return ev, ends
}
