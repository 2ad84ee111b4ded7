package daemon

import (
	"cmp"
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/stockade-ids/stockade/control"
	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/pipeline/guard"
	"github.com/stockade-ids/stockade/rules"
	"github.com/stockade-ids/stockade/sources/blocklist"
)

// The operator's requests (ban, unban, bans, history, import, allow):
// they run in the daemon's loop, which alone touches the engine, and each
// change is sent to the sinks and written to the audit log the way the
// rules' own decisions are.

// operator is the origin the audit log and the inventory give to what
// came through the control socket.
const operator = "operator"

func (d *Daemon) opBan(ctx context.Context, req control.Request) control.Reply {
	target, err := rules.ParsePrefix(req.Target)
	if err != nil {
		return control.Reply{Error: err.Error()}
	}
	dur := time.Hour
	if req.For != "" {
		if dur, err = rules.ParseDuration(req.For); err != nil || dur <= 0 {
			return control.Reply{Error: "--for: want a positive duration such as 10m, 1h or 7d"}
		}
	}
	if req.Rule != "" && !d.knownRule(req.Rule) {
		why := fmt.Sprintf("no rule %q is loaded; leave --rule out to ban under manual", req.Rule)
		d.audit.Refused(req.Target, req.Rule, why, operator, d.now())
		return control.Reply{Error: why}
	}
	now := d.now()
	res := d.eng.BanManual(pipeline.ManualBan{Target: target, Rule: req.Rule, Reason: "banned by the operator",
		Origin: operator, For: dur, Replace: req.Replace}, now)
	switch {
	case res.Protected != "":
		why := fmt.Sprintf("protected (%s)", res.Protected)
		d.audit.Refused(req.Target, req.Rule, why, operator, now)
		return control.Reply{Error: fmt.Sprintf("%s is, or holds, an allowlisted or protected address (%s): not banned", req.Target, protectedWords(res.Protected))}
	case res.Covered != nil:
		c := res.Covered
		by, _ := pipeline.TargetString(c.Target)
		return control.Reply{OK: true, Message: fmt.Sprintf("%s is already banned until %s (%s left) by %s on %s; nothing changed (--replace sets its ban to %s from now)",
			req.Target, c.Expires.UTC().Format(time.RFC3339), left(c.Expires, now), c.Rule, by, dur)}
	}
	d.emitAs(ctx, res.Decisions, operator)
	last := res.Decisions[len(res.Decisions)-1]
	return control.Reply{OK: true, Decision: &last, Decisions: res.Decisions}
}

// protectedWords says what a guard set is.
func protectedWords(set string) string {
	switch set {
	case "allow":
		return "the configuration's allowlist"
	case guard.RuntimeSet:
		return "the runtime allowlist: stockade allow list"
	case guard.Own:
		return "this host's own address"
	case guard.Special:
		return "loopback, link-local, multicast or another range no one may ban"
	}
	return set
}

func (d *Daemon) knownRule(name string) bool {
	if name == "manual" || strings.HasPrefix(name, "list:") {
		return true
	}
	for _, p := range d.eng.Matcher().Policies() {
		if p.Name == name {
			return true
		}
	}
	return false
}

func (d *Daemon) opUnban(ctx context.Context, req control.Request) control.Reply {
	now := d.now()
	const why = "unbanned by the operator"
	if req.All {
		if req.Target != "" {
			return control.Reply{Error: "unban --all takes no address"}
		}
		ds := d.eng.UnbanAll(req.Rule, why, now)
		d.emitAs(ctx, ds, operator)
		n := 0
		for _, x := range ds {
			if x.Action == pipeline.ActionUnban {
				n++
			}
		}
		return control.Reply{OK: true, Decisions: ds, Message: fmt.Sprintf("unbanned %d targets", n)}
	}
	target, err := rules.ParsePrefix(req.Target)
	if err != nil {
		return control.Reply{Error: err.Error()}
	}
	var ds []pipeline.Decision
	ok := false
	if req.Rule != "" {
		ds, ok = d.eng.LiftRule(target, req.Rule, why, now)
	} else {
		var x pipeline.Decision
		if x, ok = d.eng.Unban(target, why, now); ok {
			ds = []pipeline.Decision{x}
		}
	}
	if !ok {
		return control.Reply{Error: d.notBanned(req, target, now)}
	}
	d.emitAs(ctx, ds, operator)
	return control.Reply{OK: true, Decision: &ds[0], Decisions: ds}
}

// notBanned says why an unban found nothing: not banned at all, banned by
// another rule, or held by a range ban (which is what to unban).
func (d *Daemon) notBanned(req control.Request, target netip.Prefix, now time.Time) string {
	v, ok := d.eng.Ledger().Longest(target, now)
	if !ok {
		return req.Target + " is not banned"
	}
	by, _ := pipeline.TargetString(v.Target)
	if v.Target != target {
		return fmt.Sprintf("%s is not banned itself: the ban of %s by %s holds it until %s (unban %s)", req.Target, by, v.Rule, v.Expires.UTC().Format(time.RFC3339), by)
	}
	return fmt.Sprintf("%s has no ban by %s; it is banned by %s until %s", req.Target, req.Rule, v.Rule, v.Expires.UTC().Format(time.RFC3339))
}

func (d *Daemon) opBans(req control.Request) control.Reply {
	now := d.now()
	l := d.eng.Ledger()
	if req.Simulated {
		if l = d.eng.Simulated(); l == nil {
			return control.Reply{OK: true, Bans: []control.Ban{}}
		}
	}
	var filter netip.Prefix
	if req.Target != "" {
		var err error
		if filter, err = rules.ParsePrefix(req.Target); err != nil {
			return control.Reply{Error: err.Error()}
		}
	}
	var since time.Time
	if req.Since != "" {
		dur, err := rules.ParseDuration(req.Since)
		if err != nil || dur <= 0 {
			return control.Reply{Error: "--since: want a duration such as 1h or 7d"}
		}
		since = now.Add(-dur)
	}
	out := []control.Ban{}
	for _, v := range l.Inventory(now) {
		if filter.IsValid() && !v.Target.Overlaps(filter) || req.Rule != "" && v.Rule != req.Rule ||
			req.Origin != "" && v.Info.Origin != req.Origin || !since.IsZero() && v.Info.At.Before(since) {
			continue
		}
		t, _ := pipeline.TargetString(v.Target)
		out = append(out, control.Ban{Target: t, Rule: v.Rule, Pack: v.Info.Pack, Origin: v.Info.Origin,
			Offense: v.Info.Offense, Reason: v.Info.Reason, Source: v.Info.Source, At: v.Info.At, Expires: v.Expires,
			Left: int64(v.Expires.Sub(now) / time.Second), Evidence: v.Info.Evidence, Simulated: req.Simulated})
	}
	return control.Reply{OK: true, Bans: out}
}

func (d *Daemon) opHistory(req control.Request) control.Reply {
	target, err := rules.ParsePrefix(req.Target)
	if err != nil {
		return control.Reply{Error: err.Error()}
	}
	h := d.eng.Ledger().HistoryOf(target)
	if h == nil {
		h = []pipeline.HistoryEntry{}
	}
	return control.Reply{OK: true, History: h}
}

func (d *Daemon) opImport(ctx context.Context, req control.Request) control.Reply {
	name := cmp.Or(req.List, "import")
	if err := checkListName(name); err != nil {
		return control.Reply{Error: err.Error()}
	}
	dur := 24 * time.Hour
	if req.For != "" {
		var err error
		if dur, err = rules.ParseDuration(req.For); err != nil || dur <= 0 {
			return control.Reply{Error: "--for: want a positive duration such as 24h or 7d"}
		}
	}
	var ts []netip.Prefix
	for _, s := range req.Targets {
		p, err := rules.ParsePrefix(s)
		if err != nil {
			return control.Reply{Error: err.Error()}
		}
		ts = append(ts, p)
	}
	_, st := d.importList(ctx, pipeline.ListImport{Name: name, Targets: ts, For: dur, Reason: "imported into the list " + name})
	return control.Reply{OK: true, Import: &st, Message: fmt.Sprintf("list %s: %d banned, %d renewed, %d unchanged, %d already banned longer, %d protected (not banned)",
		name, st.Banned, st.Renewed, st.Unchanged, st.Covered, st.Protected)}
}

// importList applies a list and logs what the guard refused.
func (d *Daemon) importList(ctx context.Context, l pipeline.ListImport) ([]pipeline.Decision, pipeline.ImportStats) {
	now := d.now()
	ds, st := d.eng.ImportList(l, now)
	origin := pipeline.ListRule(l.Name)
	for _, s := range st.ProtectedSamples {
		target, why, _ := strings.Cut(s, " ")
		d.audit.Refused(target, origin, "protected "+why, origin, now)
	}
	d.emitAs(ctx, ds, origin)
	return ds, st
}

// checkListName keeps a list's name to what a rule name may be.
func checkListName(name string) error { return blocklist.CheckName(name) }

func (d *Daemon) opAllow(ctx context.Context, req control.Request) control.Reply {
	now := d.now()
	switch req.Action {
	case "list":
		return control.Reply{OK: true, Allow: d.allowList()}
	case "add", "del":
	default:
		return control.Reply{Error: fmt.Sprintf("allow: want add, del or list, not %q", req.Action)}
	}
	p, err := rules.ParsePrefix(req.Target)
	if err != nil {
		return control.Reply{Error: err.Error()}
	}
	if req.Action == "del" {
		if !d.runtime.Del(p) {
			return control.Reply{Error: fmt.Sprintf("%s is not on the runtime allowlist (stockade allow list; the configuration's allow: changes with a reload)", req.Target)}
		}
		d.allowDirty = true
		d.audit.Allow("del", p, "", time.Time{}, 0, operator)
		return control.Reply{OK: true, Message: "removed " + req.Target + " from the runtime allowlist"}
	}
	e := guard.Entry{Prefix: p, Comment: req.Comment, Added: now}
	if req.For != "" {
		dur, err := rules.ParseDuration(req.For)
		if err != nil || dur <= 0 {
			return control.Reply{Error: "--for: want a positive duration such as 1h or 7d"}
		}
		e.Expires = now.Add(dur)
	}
	if err := d.runtime.Add(e); err != nil {
		return control.Reply{Error: err.Error()}
	}
	d.allowDirty = true
	// At once, not at the loop's next turn: the reply says what was lifted.
	lifted := d.protect(ctx)
	d.audit.Allow("add", p, e.Comment, e.Expires, len(lifted), operator)
	msg := fmt.Sprintf("added %s to the runtime allowlist", req.Target)
	if len(lifted) > 0 {
		var ts []string
		for _, x := range lifted {
			ts = append(ts, x.Target.String())
		}
		msg += fmt.Sprintf("; lifted %d bans: %s", len(lifted), strings.Join(ts, " "))
	}
	return control.Reply{OK: true, Message: msg, Decisions: lifted}
}

// allowList is the runtime allowlist and the configuration's, marked.
func (d *Daemon) allowList() []guard.Entry {
	out := d.runtime.List()
	for i := range out {
		out[i].Source = "runtime"
	}
	for _, p := range d.guard.Get("allow") {
		out = append(out, guard.Entry{Prefix: p, Source: "config"})
	}
	if out == nil {
		out = []guard.Entry{}
	}
	return out
}

// expireAllow drops runtime allowlist entries that ran out.
func (d *Daemon) expireAllow(now time.Time) {
	for _, e := range d.runtime.Expire(now) {
		d.allowDirty = true
		d.audit.Allow("expire", e.Prefix, e.Comment, e.Expires, 0, "runtime")
	}
}

// left is a duration left, to the second.
func left(until, now time.Time) time.Duration {
	return max(0, until.Sub(now)).Truncate(time.Second)
}

// auditExpired logs the bans that ran out, when the engine makes no
// unban decisions of them (those are logged as they are sent).
func (d *Daemon) auditExpired(now time.Time) {
	if d.engCfg.EmitUnbans {
		return
	}
	d.eng.Lifted(func(t netip.Prefix, at time.Time) {
		s := pipeline.TargetOf(t)
		d.audit.Decision(&pipeline.Decision{Action: pipeline.ActionUnban, Target: s, Scope: s.Scope(), Reason: "ban expired", At: at, Origin: d.cfg.Origin}, "", now)
	})
}
