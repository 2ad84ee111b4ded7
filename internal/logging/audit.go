package logging

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

// Audit writes one line per ban, unban, refusal and allowlist change, in
// the words admins and their tools grep fail2ban's log for:
//
//	level=NOTICE msg="[sshd] Ban 203.0.113.7" target=203.0.113.7 rule=sshd origin=host1 reason=... until=...
//	level=NOTICE msg="[sshd] Unban 203.0.113.7" reason="ban expired"
//	level=WARN   msg="[manual] Refused 192.0.2.10" reason="protected (allow)"
//	level=NOTICE msg="Allow add 198.51.100.0/24" comment=office
//
// A rule in mode: simulate logs "Simulated ban", which a grep for "Ban "
// does not find.
//
// A flood must not fill the disk (64,000 bans in 22 minutes is what a
// scan of a /16 makes): within one second, the first PerSecond lines are
// written one by one; beyond, each kind is counted and one summary line
// per second says how many were not written (`stockade bans` and
// `history` still list every one). Allowlist changes are never
// suppressed: they are an operator's, and rare.
type Audit struct {
	log       *slog.Logger
	perSecond int

	mu         sync.Mutex
	sec        int64 // the unix second being counted
	n          int   // lines written in it
	suppressed map[string]int
}

// DefaultPerSecond is how many audit lines a second writes one by one.
const DefaultPerSecond = 50

// NewAudit writes to log, perSecond lines a second at most (0: the
// default; negative: no limit).
func NewAudit(log *slog.Logger, perSecond int) *Audit {
	if perSecond == 0 {
		perSecond = DefaultPerSecond
	}
	return &Audit{log: log, perSecond: perSecond, suppressed: map[string]int{}}
}

// admit reports whether a line of kind may be written at now, counting
// it otherwise; a new second first writes the last one's summary.
func (a *Audit) admit(kind string, now time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if s := now.Unix(); s != a.sec {
		a.flushLocked()
		a.sec, a.n = s, 0
	}
	if a.perSecond < 0 || a.n < a.perSecond {
		a.n++
		return true
	}
	a.suppressed[kind]++
	return false
}

// Flush writes the summary of a second that has passed, if lines were
// suppressed in it: the daemon calls it on its ticker, so the summary of a
// flood's last second is not held until the next line.
func (a *Audit) Flush(now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if now.Unix() != a.sec {
		a.flushLocked()
		a.sec, a.n = now.Unix(), 0
	}
}

func (a *Audit) flushLocked() {
	if len(a.suppressed) == 0 {
		return
	}
	var parts []string
	args := []any{"second", time.Unix(a.sec, 0).UTC().Format(time.RFC3339), "limit", a.perSecond}
	for _, k := range []string{"ban", "unban", "simulated", "refused"} {
		if n := a.suppressed[k]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, k))
			args = append(args, "suppressed_"+k, n)
		}
	}
	a.log.Log(context.Background(), slog.LevelWarn,
		fmt.Sprintf("audit: %s not logged one by one (over %d lines a second; stockade bans and stockade history list them)", strings.Join(parts, ", "), a.perSecond), args...)
	clear(a.suppressed)
}

// Decision logs a ban or an unban sent to the firewalls, or a simulated
// ban. origin says who asked when that is not the sensor (an operator,
// a list).
func (a *Audit) Decision(x *pipeline.Decision, origin string, now time.Time) {
	kind, verb := "ban", "Ban"
	switch {
	case x.Simulated:
		kind, verb = "simulated", "Simulated ban"
	case x.Action == pipeline.ActionUnban:
		kind, verb = "unban", "Unban"
	}
	if !a.admit(kind, now) {
		return
	}
	rule := cmp.Or(x.Rule, "stockade")
	args := []any{"action", kind, "target", x.Target, "rule", rule, "origin", cmp.Or(origin, x.Origin), "reason", x.Reason}
	if x.Action == pipeline.ActionBan {
		args = append(args, "until", x.Expires.UTC().Format(time.RFC3339), "duration", time.Duration(x.Duration)*time.Second, "offense", x.Offense)
		if x.Source != "" {
			args = append(args, "source", x.Source)
		}
	}
	a.log.Log(context.Background(), LevelNotice, fmt.Sprintf("[%s] %s %s", rule, verb, x.Target), args...)
}

// Refused logs a ban that was not made: the target is protected, the
// rule unknown, the request malformed.
func (a *Audit) Refused(target, rule, why, origin string, now time.Time) {
	if !a.admit("refused", now) {
		return
	}
	rule = cmp.Or(rule, "manual")
	a.log.Log(context.Background(), slog.LevelWarn, fmt.Sprintf("[%s] Refused %s", rule, target),
		"action", "refused", "target", target, "rule", rule, "origin", origin, "reason", why)
}

// Allow logs a change of the runtime allowlist (add, del, expire) and how
// many bans it lifted.
func (a *Audit) Allow(action string, p fmt.Stringer, comment string, expires time.Time, lifted int, origin string) {
	args := []any{"action", "allow-" + action, "target", p.String(), "origin", origin}
	if comment != "" {
		args = append(args, "comment", comment)
	}
	if !expires.IsZero() {
		args = append(args, "until", expires.UTC().Format(time.RFC3339))
	}
	if lifted > 0 {
		args = append(args, "lifted", lifted)
	}
	a.log.Log(context.Background(), LevelNotice, fmt.Sprintf("Allow %s %s", action, p), args...)
}
