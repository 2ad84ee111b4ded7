package pipeline

import (
	"cmp"
	"fmt"
	"net/netip"
	"time"
)

// ManualBan is a ban no log line decided: an operator's, or an imported
// list's.
type ManualBan struct {
	Target netip.Prefix
	Rule   string // "manual" when empty
	Pack   string // "manual" when empty
	Reason string
	Origin string // who asked: "operator", "list:NAME"
	For    time.Duration
	// Replace sets the target's ban to exactly For from now, shorter or
	// longer than what was there, under Rule alone: the records of other
	// rules go (an operator who says "ten minutes" means it).
	Replace bool
}

// ManualResult is what BanManual did.
type ManualResult struct {
	// Decisions to send, in order: the ban; for a replace of an active
	// ban, an unban first (a firewall keeps the longer of two timeouts).
	Decisions []Decision
	// Protected names the guard's set that holds an address of the
	// target (allow, own, fleet, special): nothing was done.
	Protected string
	// Covered is the active ban that already lasts at least as long
	// (its target may be a range holding Target): nothing was done.
	Covered *BanView
}

// BanManual applies m at now.
func (e *Engine) BanManual(m ManualBan, now time.Time) ManualResult {
	t := m.Target.Masked()
	m.Rule, m.Pack = cmp.Or(m.Rule, "manual"), cmp.Or(m.Pack, "manual")
	if why, ok := e.protectedBy(t); ok {
		return ManualResult{Protected: why}
	}
	p := &Policy{Name: m.Rule, Pack: m.Pack, Ban: m.For, Threshold: 1}
	ev := &Event{Time: now, Source: "control"}
	var out []Decision
	var o Outcome
	if m.Replace {
		if _, was := e.ledger.Active(t, now); was {
			out = append(out, e.unbanDecision(t, "replaced by the operator", now))
		}
		o.Expires = now.Add(m.For)
		e.ledger.Replace(t, m.Rule, now, o.Expires)
		o.Duration, o.Offense = m.For, e.ledger.Offenses(t)
	} else {
		o = e.ledger.Ban(BanRequest{Target: t, Policy: p, At: now})
		if o.Verdict == AlreadyBanned {
			v, _ := e.ledger.Longest(t, now)
			return ManualResult{Covered: &v}
		}
	}
	x := e.decision(ActionBan, t, p, ev, o, nil)
	x.Reason = cmp.Or(m.Reason, "banned by the operator")
	action := verdictAction(o.Verdict)
	if m.Replace {
		action = "replace"
	}
	out = append(out, x)
	e.ledger.Note(t, &out[len(out)-1], action, m.Origin)
	return ManualResult{Decisions: out}
}

// protectedBy names what protects an address of t, if anything does.
func (e *Engine) protectedBy(t netip.Prefix) (string, bool) {
	if why, ok := e.guard.WhyPrefix(t); ok {
		return why, true
	}
	if overlapsAny(e.allow, t) {
		return "allow", true
	}
	return "", false
}

// Longest is the active record on t, or on a range holding it, that runs
// out last.
func (l *Ledger) Longest(t netip.Prefix, now time.Time) (BanView, bool) {
	var best BanView
	found := false
	consider := func(target netip.Prefix, b *activeBan) {
		for _, r := range b.records {
			if r.expires.After(now) && (!found || r.expires.After(best.Expires)) {
				best, found = BanView{Target: target, Rule: r.rule, Expires: r.expires, Info: infoOf(r)}, true
			}
		}
	}
	if b := l.bans.get(t); b != nil {
		consider(t, b)
	}
	for r := range l.ranges {
		if r.Bits() < t.Bits() && r.Contains(t.Addr()) {
			if b := l.bans.get(r); b != nil {
				consider(r, b)
			}
		}
	}
	return best, found
}

func (e *Engine) unbanDecision(t netip.Prefix, reason string, now time.Time) Decision {
	s := TargetOf(t)
	return Decision{
		ID:     decisionID(e.cfg.Origin, ActionUnban, s, "", now, 0),
		Action: ActionUnban, Target: s, Scope: s.Scope(), Reason: reason,
		At: now, Expires: now, Origin: e.cfg.Origin, Source: "control", Evidence: []string{},
	}
}

// UnbanAll lifts every active ban at now, or with rule set every record of
// that rule, and returns the decisions to send. A target that another
// rule still bans gets an unban and a ban until that rule's expiry: the
// firewall's timeout must shrink to what is left.
func (e *Engine) UnbanAll(rule, reason string, now time.Time) []Decision {
	var out []Decision
	for _, t := range e.ledger.Banned(now, rule) {
		if rule == "" {
			if x, ok := e.Unban(t, reason, now); ok {
				out = append(out, x)
			}
			continue
		}
		out = append(out, e.liftRule(t, rule, reason, now)...)
	}
	return out
}

// reissue is the ban decision of what is left on a target after one
// rule's record was lifted.
func (e *Engine) reissue(v BanView, now time.Time) Decision {
	s := TargetOf(v.Target)
	return Decision{
		ID:     decisionID(e.cfg.Origin, ActionBan, s, v.Rule, now, v.Info.Offense),
		Action: ActionBan, Target: s, Scope: s.Scope(), Rule: v.Rule, Pack: v.Info.Pack,
		Reason: fmt.Sprintf("still banned by %s", v.Rule), At: now,
		Duration: int64(v.Expires.Sub(now) / time.Second), Expires: v.Expires,
		Offense: v.Info.Offense, Origin: e.cfg.Origin, Source: "control", Evidence: []string{},
	}
}

// ListImport is a list of targets to ban under one name: `stockade bans
// import FILE --origin NAME`, or a blocklist source's refresh.
type ListImport struct {
	Name    string // the rule and origin are "list:" + Name
	Targets []netip.Prefix
	For     time.Duration
	Reason  string
	// Prune lifts the list's bans of targets no longer on it (a refresh
	// of the whole list; an import only adds).
	Prune bool
}

// ImportStats is what an import did.
type ImportStats struct {
	Banned    int `json:"banned"`
	Renewed   int `json:"renewed"`
	Unchanged int `json:"unchanged"`
	Covered   int `json:"covered"` // a longer ban holds them already
	Protected int `json:"protected"`
	Removed   int `json:"removed"`
	// ProtectedSamples names a few targets the guard kept, and why.
	ProtectedSamples []string `json:"protected_samples,omitempty"`
}

// ListRule is the rule name a list's bans are recorded under.
func ListRule(name string) string { return "list:" + name }

// ImportList bans a list's targets for l.For from now. A target the list
// banned already is renewed once half its time is gone (a refresh keeps it
// banned without a decision each time); a protected target (allowlisted,
// own, fleet, special, or a range holding one) is never banned: the guard
// decides, as for every ban.
func (e *Engine) ImportList(l ListImport, now time.Time) ([]Decision, ImportStats) {
	rule := ListRule(l.Name)
	p := &Policy{Name: rule, Pack: "blocklist", Ban: l.For, Threshold: 1}
	reason := cmp.Or(l.Reason, "on the list "+l.Name)
	var out []Decision
	var st ImportStats
	on := make(map[netip.Prefix]struct{}, len(l.Targets))
	for _, t := range l.Targets {
		t = t.Masked()
		on[t] = struct{}{}
		if why, ok := e.protectedBy(t); ok {
			st.Protected++
			if len(st.ProtectedSamples) < 5 {
				s, _ := TargetString(t)
				st.ProtectedSamples = append(st.ProtectedSamples, fmt.Sprintf("%s (%s)", s, why))
			}
			continue
		}
		o, verdict := e.importOne(t, p, now)
		switch verdict {
		case "unchanged":
			st.Unchanged++
			continue
		case "covered":
			st.Covered++
			continue
		case "renew":
			st.Renewed++
		default:
			st.Banned++
		}
		x := e.decision(ActionBan, t, p, &Event{Time: now, Source: "list:" + l.Name}, o, nil)
		x.Reason = reason
		out = append(out, x)
		// A list's bans say nothing their rule does not (list:NAME is
		// the origin, the pack, the reason): the history keeps when, and
		// the inventory says the rest (ListInfo). A list of 200,000
		// entries saves a third less.
		e.ledger.note(t, HistoryEntry{At: now, Action: verdict, Rule: rule, Expires: x.Expires})
	}
	if l.Prune {
		for _, t := range e.ledger.Banned(now, rule) {
			if _, still := on[t]; still {
				continue
			}
			st.Removed++
			out = append(out, e.liftRule(t, rule, "no longer on the list "+l.Name, now)...)
		}
	}
	return out, st
}

// importOne bans t under a list's policy, or renews the list's record on
// it; the verdict says which ("ban", "renew"), or why nothing was done
// ("unchanged", "covered").
func (e *Engine) importOne(t netip.Prefix, p *Policy, now time.Time) (Outcome, string) {
	until := now.Add(p.Ban)
	if exp, ok := e.ledger.RuleExpiry(t, p.Name); ok && exp.After(now) {
		if exp.After(now.Add(p.Ban / 2)) {
			return Outcome{}, "unchanged"
		}
		e.ledger.renew(t, p.Name, until)
		return Outcome{Verdict: Extended, Duration: p.Ban, Expires: until, Offense: e.ledger.Offenses(t)}, "renew"
	}
	o := e.ledger.Ban(BanRequest{Target: t, Policy: p, At: now})
	if o.Verdict == AlreadyBanned {
		return o, "covered"
	}
	return o, "ban"
}

// liftRule lifts rule's record on t: an unban, and when another rule
// still bans t, a ban until that rule's expiry.
func (e *Engine) liftRule(t netip.Prefix, rule, reason string, now time.Time) []Decision {
	e.ledger.UnbanRule(t, rule)
	x := e.unbanDecision(t, reason, now)
	x.Rule = rule
	e.ledger.Note(t, &x, "unban", "")
	out := []Decision{x}
	if v, ok := e.ledger.Longest(t, now); ok && v.Target == t {
		out = append(out, e.reissue(v, now))
	}
	return out
}

// LiftRule lifts rule's record on target (see liftRule); false when the
// rule has no active record on it.
func (e *Engine) LiftRule(target netip.Prefix, rule, reason string, now time.Time) ([]Decision, bool) {
	target = target.Masked()
	if exp, ok := e.ledger.RuleExpiry(target, rule); !ok || !exp.After(now) {
		return nil, false
	}
	return e.liftRule(target, rule, reason, now), true
}

// Lifted calls fn for each ban the last Process or Tick lifted because
// it ran out (whether or not EmitUnbans made decisions of them): the
// audit log's "Unban … ban expired".
func (e *Engine) Lifted(fn func(target netip.Prefix, at time.Time)) {
	for _, it := range e.lifted {
		fn(it.target, it.at)
	}
}
