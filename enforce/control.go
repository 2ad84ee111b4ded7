package enforce

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"time"

	"github.com/stockade-ids/stockade/control"
	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/pipeline/guard"
	"github.com/stockade-ids/stockade/rules"
)

// SocketPath is where the firewall's control socket is.
func (c *Config) SocketPath() string {
	switch c.Socket {
	case "-":
		return ""
	case "":
		return filepath.Join(c.StateDir, "stockade-enforce.sock")
	}
	return c.Socket
}

// control answers one request in the firewall's loop: status, bans,
// unban (a local override), allow add|del|list, reload, check, ping.
func (e *Firewall) control(ctx context.Context, req control.Request) control.Reply {
	switch req.Op {
	case "ping":
		return control.Reply{OK: true, Message: "pong"}
	case "status":
		return control.Reply{OK: true, Firewall: e.status()}
	case "bans":
		return e.bansReply(req)
	case "unban":
		return e.unban(ctx, req)
	case "allow":
		return e.allowOp(req)
	case "reload":
		if err := e.reload(ctx); err != nil {
			e.log.Error("reload refused: the previous allowlist and fleet stay in force", "err", err, "by", "control socket")
			return control.Reply{Error: "reload refused, the previous configuration stays: " + err.Error()}
		}
		return control.Reply{OK: true, Message: "reloaded"}
	case "check":
		if e.deps.Check == nil {
			return control.Reply{Error: "no configuration file to check"}
		}
		if err := e.deps.Check(); err != nil {
			return control.Reply{Error: err.Error()}
		}
		return control.Reply{OK: true, Message: "configuration OK"}
	}
	return control.Reply{Error: fmt.Sprintf("unknown request %q (a firewall answers status, bans, unban, allow, reload, check)", req.Op)}
}

func (e *Firewall) status() *control.FirewallStatus {
	total, per := e.enf.Active()
	waiting, _ := e.enf.Deferred()
	st := &control.FirewallStatus{Name: e.cfg.Name, Since: e.since, ActiveBans: total, Bus: "kafka",
		Overrides: len(e.enf.Overrides()), Allowed: len(e.runtime.List()), Verdicts: map[string]uint64{}}
	if e.cfg.NATS != nil {
		st.Bus = "nats"
	}
	if t := e.enf.lastApply.Load(); t != 0 {
		st.LastApply = time.Unix(0, t)
	}
	for _, o := range e.enf.pol.Origins {
		st.Origins = append(st.Origins, control.OriginStatus{Name: o.Name, Active: per[o.Name], Deferred: waiting[o.Name], MayUnban: o.MayUnban})
	}
	for r, n := range e.enf.Counts() {
		if n > 0 {
			st.Verdicts[string(r)] = n
		}
	}
	if e.report != nil {
		st.AcksWaiting = e.report.sink.Depth()
	}
	return st
}

// bansReply lists the bans in force, each origin's, with the overrides;
// Target filters: an address (the bans holding it) or a range (those in
// it); Origin and Rule filter too.
func (e *Firewall) bansReply(req control.Request) control.Reply {
	var filter netip.Prefix
	if req.Target != "" {
		p, err := pipeline.ParseTarget(req.Target)
		if err != nil {
			return control.Reply{Error: err.Error()}
		}
		filter = p
	}
	now := time.Now()
	rep := control.Reply{OK: true}
	for _, b := range e.enf.Bans() {
		if filter.IsValid() && !filter.Overlaps(b.Target) || req.Rule != "" && b.Rule != req.Rule || req.Origin != "" && b.Origin != req.Origin {
			continue
		}
		rep.Bans = append(rep.Bans, control.Ban{Target: pipeline.TargetOf(b.Target).String(), Rule: b.Rule, Origin: b.Origin,
			ID: b.ID, Expires: b.Expires, Left: int64(b.Expires.Sub(now) / time.Second)})
	}
	for _, o := range e.enf.Overrides() {
		if filter.IsValid() && !filter.Overlaps(o.Target) {
			continue
		}
		rep.Overrides = append(rep.Overrides, control.Override{Target: pipeline.TargetOf(o.Target).String(), Reason: o.Reason,
			At: o.At, Until: o.Until, Left: int64(o.Until.Sub(now) / time.Second), Origins: o.Origins})
	}
	return rep
}

// unban overrides the fleet here: the target's bans are lifted, and its
// bans refused until they would have ended (or For); logged and reported
// on the bus.
func (e *Firewall) unban(ctx context.Context, req control.Request) control.Reply {
	target, err := pipeline.ParseTarget(req.Target)
	if err != nil {
		return control.Reply{Error: err.Error()}
	}
	if strings.TrimSpace(req.Reason) == "" {
		return control.Reply{Error: "unban on a firewall overrides the fleet: say why (--reason); it is kept and reported on the bus"}
	}
	var dur time.Duration
	if req.For != "" {
		if dur, err = rules.ParseDuration(req.For); err != nil || dur <= 0 {
			return control.Reply{Error: fmt.Sprintf("--for %q: want a duration such as 1h or 7d", req.For)}
		}
	}
	ov, err := e.enf.Unban(ctx, target, req.Reason, dur)
	if err != nil {
		return control.Reply{Error: err.Error()}
	}
	t := pipeline.TargetOf(ov.Target).String()
	e.log.Warn("Unban (local override)", "target", t, "reason", ov.Reason, "until", ov.Until.Format(time.RFC3339),
		"origins", strings.Join(ov.Origins, ","))
	e.report.report([]Ack{{Firewall: e.cfg.Name, Target: t, Action: "override", Verdict: VerdictOverridden,
		Reason: ov.Reason, At: ov.At, Until: ov.Until}})
	e.save()
	msg := fmt.Sprintf("unbanned %s here until %s", t, ov.Until.Format(time.RFC3339))
	if len(ov.Origins) == 0 {
		msg = fmt.Sprintf("%s was not banned; its bans are refused here until %s", t, ov.Until.Format(time.RFC3339))
	}
	return control.Reply{OK: true, Message: msg}
}

// allowOp is allow add|del|list: the runtime allowlist, whose additions
// lift the bans they cover at once (the guard's change does).
func (e *Firewall) allowOp(req control.Request) control.Reply {
	switch req.Action {
	case "list", "":
		return control.Reply{OK: true, Allow: e.allowList()}
	case "add", "del":
	default:
		return control.Reply{Error: fmt.Sprintf("allow %q: want add, del or list", req.Action)}
	}
	p, err := pipeline.ParseTarget(req.Target)
	if err != nil {
		return control.Reply{Error: err.Error()}
	}
	t := pipeline.TargetOf(p).String()
	if req.Action == "del" {
		if !e.runtime.Del(p) {
			return control.Reply{Error: t + " is not in the runtime allowlist (policy.allow changes with a reload)"}
		}
		e.log.Warn("allowlist: removed", "target", t)
		e.saveAllow()
		return control.Reply{OK: true, Message: "removed " + t}
	}
	a := guard.Entry{Prefix: p, Comment: req.Comment, Added: time.Now()}
	if req.For != "" {
		d, err := rules.ParseDuration(req.For)
		if err != nil || d <= 0 {
			return control.Reply{Error: fmt.Sprintf("--for %q: want a duration such as 1h or 7d", req.For)}
		}
		a.Expires = a.Added.Add(d)
	}
	if err := e.runtime.Add(a); err != nil { // the guard's change lifts what it covers
		return control.Reply{Error: err.Error()}
	}
	e.log.Warn("allowlist: added", "target", t, "comment", req.Comment, "expires", a.Expires)
	e.saveAllow()
	return control.Reply{OK: true, Message: "allowed " + t}
}

// allowList is the runtime allowlist and the configuration's, marked.
func (e *Firewall) allowList() []guard.Entry {
	out := e.runtime.List()
	for i := range out {
		out[i].Source = "runtime"
	}
	for _, s := range e.cfg.Protected.Allow {
		if p, err := pipeline.ParseTarget(s); err == nil {
			out = append(out, guard.Entry{Prefix: p, Source: "config"})
		}
	}
	return out
}

// saveAllow has the runtime allowlist saved, now.
func (e *Firewall) saveAllow() {
	v, _ := e.runtime.MarshalJSON()
	e.enf.SaveAllow(v)
	e.save()
}

// expireAllow drops the runtime allowlist's entries that ran out.
func (e *Firewall) expireAllow() {
	gone := e.runtime.Expire(time.Now())
	for _, a := range gone {
		e.log.Warn("allowlist: expired", "target", pipeline.TargetOf(a.Prefix).String(), "comment", a.Comment)
	}
	if len(gone) > 0 {
		v, _ := e.runtime.MarshalJSON()
		e.enf.SaveAllow(v)
	}
}
