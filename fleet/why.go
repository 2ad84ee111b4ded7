package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stockade-ids/stockade/enforce"
	"github.com/stockade-ids/stockade/pipeline"
)

// About returns the decisions of stream kept since since whose target
// holds addr, as published (not verified: for showing, not believing).
func About(ctx context.Context, nc *nats.Conn, stream string, since time.Time, addr netip.Prefix) ([]pipeline.Decision, error) {
	var out []pipeline.Decision
	err := each(ctx, nc, stream, since, func(m jetstream.Msg) {
		var d pipeline.Decision
		if json.Unmarshal(m.Data(), &d) == nil && d.Target.IsValid() && d.Target.Overlaps(addr) {
			out = append(out, d)
		}
	})
	return out, err
}

// Why is whether an address is blocked on one firewall, and why (not).
type Why struct {
	Firewall string       `json:"firewall"`
	State    string       `json:"state"` // blocked, not blocked, overridden, never judged
	Detail   string       `json:"detail"`
	Ack      *enforce.Ack `json:"ack,omitempty"` // the last one about it
}

// WhyAbout says, for every firewall heard from, whether addr is blocked
// there at now and why (not), from its newest ack about a target holding
// addr; a firewall that never acknowledged one of decisions (those about
// addr) is "never judged".
func WhyAbout(acks []Ack, decisions []pipeline.Decision, addr netip.Prefix, now time.Time) []Why {
	// The newest ack that changed something (applied, overridden) says
	// what holds; failing one, the newest refusal says why nothing does.
	last, lastAny := map[string]*enforce.Ack{}, map[string]*enforce.Ack{}
	seen := map[string]map[string]bool{}
	for i := range acks {
		a := &acks[i].Ack
		if seen[a.Firewall] == nil {
			seen[a.Firewall] = map[string]bool{}
		}
		seen[a.Firewall][a.ID] = true
		t, err := pipeline.ParseTarget(a.Target)
		if err != nil || !t.Overlaps(addr) {
			continue
		}
		if l := lastAny[a.Firewall]; l == nil || !a.At.Before(l.At) {
			lastAny[a.Firewall] = a
		}
		effective := a.Verdict == enforce.VerdictApplied && a.Reason != string(enforce.AlreadyEnforced) ||
			a.Action == "override" || a.Verdict == enforce.VerdictLifted
		if l := last[a.Firewall]; effective && (l == nil || !a.At.Before(l.At)) {
			last[a.Firewall] = a
		}
	}
	var out []Why
	for fw := range seen {
		w := Why{Firewall: fw, Ack: last[fw]}
		if w.Ack == nil {
			w.Ack = lastAny[fw]
		}
		for _, d := range decisions {
			if !seen[fw][d.ID] && (w.Ack == nil || d.At.After(w.Ack.DecidedAt)) {
				w.State, w.Detail = "never judged", fmt.Sprintf("decision %s (%s %s from %s) not acknowledged", d.ID, d.Action, d.Target, d.Origin)
			}
		}
		if w.State == "" {
			w.State, w.Detail = state(w.Ack, now)
		}
		out = append(out, w)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Firewall < out[j].Firewall })
	return out
}

// state reads the newest ack about the address.
func state(a *enforce.Ack, now time.Time) (string, string) {
	switch {
	case a == nil:
		return "not blocked", "no decision about it reached this firewall"
	case a.Action == "override" && a.Until.After(now):
		return "overridden", fmt.Sprintf("its administrator lifted %s until %s: %s", a.Target, a.Until.Format(time.RFC3339), a.Reason)
	case a.Verdict == enforce.VerdictApplied && a.Action == string(pipeline.ActionBan) && a.Until.After(now):
		return "blocked", fmt.Sprintf("%s banned by %s (decision %s) until %s", a.Target, a.Origin, a.ID, a.Until.Format(time.RFC3339))
	case a.Verdict == enforce.VerdictLifted:
		return "not blocked", fmt.Sprintf("%s lifted here: %s", a.Target, a.Reason)
	case a.Verdict == enforce.VerdictApplied && a.Action == string(pipeline.ActionUnban):
		return "not blocked", fmt.Sprintf("%s lifted by %s (decision %s)", a.Target, a.Origin, a.ID)
	case a.Verdict == enforce.VerdictRefused:
		return "not blocked", fmt.Sprintf("decision %s from %s about %s refused: %s", a.ID, a.Origin, a.Target, a.Reason)
	case a.Verdict == enforce.VerdictOverridden:
		return "overridden", fmt.Sprintf("decision %s from %s about %s refused: its administrator overrode it", a.ID, a.Origin, a.Target)
	case a.Verdict == enforce.VerdictDeferred:
		return "not blocked yet", fmt.Sprintf("decision %s from %s deferred: over its origin's rate", a.ID, a.Origin)
	}
	return "not blocked", fmt.Sprintf("the ban of %s ended %s", a.Target, a.Until.Format(time.RFC3339))
}
