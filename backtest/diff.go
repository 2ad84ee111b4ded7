package backtest

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

// Diff is what a new rule set decides differently from an old one over
// the same logs. Its JSON form is `replay --compare -o json`.
type Diff struct {
	Old string `json:"old"`
	New string `json:"new"`
	// OnlyOld and OnlyNew are the targets one side banned and the other
	// never did, by their first ban's time.
	OnlyOld []Only `json:"only_old"`
	OnlyNew []Only `json:"only_new"`
	// Changed are the targets both banned, but not alike: another first
	// time, length, rule or number of bans.
	Changed []Change `json:"changed"`
	// Rules counts each rule's matches and bans on both sides, by name.
	Rules []RuleDiff `json:"rules"`
}

// Ban is one ban decision as a comparison shows it.
type Ban struct {
	Rule     string    `json:"rule"`
	Pack     string    `json:"pack"`
	At       time.Time `json:"at"`
	Duration int64     `json:"duration_s"`
	Offense  int       `json:"offense"`
	Source   string    `json:"source"`
	Reason   string    `json:"reason"`
	Evidence []string  `json:"evidence"`
}

// Only is a target one side banned and the other did not.
type Only struct {
	Target string `json:"target"`
	Bans   []Ban  `json:"bans"`
	// CoveredBy is a range the other side banned that held the target
	// when this side banned it: the address was blocked either way.
	CoveredBy string `json:"covered_by,omitempty"`
}

// Change is a target both sides banned, differently.
type Change struct {
	Target string   `json:"target"`
	What   []string `json:"what"` // "first ban 10:02:11 → 10:04:40", "length 1h → 4h", ...
	Old    []Ban    `json:"old"`
	New    []Ban    `json:"new"`
}

// RuleDiff is one rule's counts on both sides; a rule one side lacks
// counts zero there, and Missing says which.
type RuleDiff struct {
	Rule       string `json:"rule"`
	Pack       string `json:"pack"`
	OldMatches uint64 `json:"old_matches"`
	OldBans    uint64 `json:"old_bans"`
	NewMatches uint64 `json:"new_matches"`
	NewBans    uint64 `json:"new_bans"`
	Missing    string `json:"missing,omitempty"` // "old" or "new": the side without this rule
}

// Differ compares two sides.
func Differ(old, new *Side) *Diff {
	d := &Diff{Old: old.Rules, New: new.Rules, OnlyOld: []Only{}, OnlyNew: []Only{}, Changed: []Change{}}
	ob, nb := byTarget(old.Bans), byTarget(new.Bans)
	for _, t := range targets(ob) {
		n, ok := nb[t]
		if !ok {
			d.OnlyOld = append(d.OnlyOld, only(t, ob[t], new.Bans))
			continue
		}
		if what := changes(ob[t], n); len(what) > 0 {
			d.Changed = append(d.Changed, Change{Target: t, What: what, Old: bans(ob[t]), New: bans(n)})
		}
	}
	for _, t := range targets(nb) {
		if _, ok := ob[t]; !ok {
			d.OnlyNew = append(d.OnlyNew, only(t, nb[t], old.Bans))
		}
	}
	d.Rules = ruleDiffs(old.Stats, new.Stats)
	return d
}

// byTarget groups ban decisions by target, each group in decision order.
func byTarget(ds []pipeline.Decision) map[string][]pipeline.Decision {
	m := map[string][]pipeline.Decision{}
	for _, d := range ds {
		m[d.Target.String()] = append(m[d.Target.String()], d)
	}
	return m
}

// targets are m's keys by first ban time, then target.
func targets(m map[string][]pipeline.Decision) []string {
	out := make([]string, 0, len(m))
	for t := range m {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b string) int {
		return cmp.Or(m[a][0].At.Compare(m[b][0].At), cmp.Compare(a, b))
	})
	return out
}

func bans(ds []pipeline.Decision) []Ban {
	out := make([]Ban, len(ds))
	for i, d := range ds {
		out[i] = Ban{Rule: d.Rule, Pack: d.Pack, At: d.At, Duration: d.Duration, Offense: d.Offense, Source: d.Source, Reason: d.Reason, Evidence: d.Evidence}
	}
	return out
}

// only builds the entry of a target banned on one side, noting a range
// of the other side's that was in force over it at its first ban.
func only(t string, ds []pipeline.Decision, other []pipeline.Decision) Only {
	o := Only{Target: t, Bans: bans(ds)}
	p := ds[0].Target.Prefix
	at := ds[0].At
	for _, x := range other {
		r := x.Target.Prefix
		if r.IsSingleIP() || x.At.After(at) || !x.Expires.After(at) {
			continue
		}
		if r.Overlaps(p) && r.Bits() <= p.Bits() {
			o.CoveredBy = x.Target.String()
			break
		}
	}
	return o
}

// changes says how two sides' bans of one target differ; nothing when
// they are alike.
func changes(o, n []pipeline.Decision) []string {
	var what []string
	if len(o) != len(n) {
		what = append(what, fmt.Sprintf("bans %d → %d", len(o), len(n)))
	}
	for i := range min(len(o), len(n)) {
		a, b := o[i], n[i]
		nth := ""
		if i > 0 {
			nth = fmt.Sprintf(" (ban %d)", i+1)
		}
		if !a.At.Equal(b.At) {
			what = append(what, fmt.Sprintf("banned at %s → %s%s (%s)", clock(a.At), clock(b.At), nth, signed(b.At.Sub(a.At))))
		}
		if a.Duration != b.Duration {
			what = append(what, fmt.Sprintf("length %s → %s%s", Length(a.Duration), Length(b.Duration), nth))
		}
		if a.Rule != b.Rule {
			what = append(what, fmt.Sprintf("rule %s → %s%s", a.Rule, b.Rule, nth))
		}
	}
	return what
}

func ruleDiffs(old, new []pipeline.RuleStats) []RuleDiff {
	var out []RuleDiff
	idx := map[string]int{}
	for _, s := range old {
		idx[s.Rule] = len(out)
		out = append(out, RuleDiff{Rule: s.Rule, Pack: s.Pack, OldMatches: s.Matches, OldBans: s.Bans, Missing: "new"})
	}
	for _, s := range new {
		i, ok := idx[s.Rule]
		if !ok {
			out = append(out, RuleDiff{Rule: s.Rule, Pack: s.Pack, Missing: "old"})
			i = len(out) - 1
		} else {
			out[i].Missing = ""
		}
		out[i].NewMatches, out[i].NewBans = s.Matches, s.Bans
	}
	return out
}

func clock(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") }

// Length writes a ban length in seconds as an admin does: 1h, 1h30m,
// 2d, 90s.
func Length(s int64) string {
	if s > 0 && s%86400 == 0 {
		return fmt.Sprintf("%dd", s/86400)
	}
	d := (time.Duration(s) * time.Second).String()
	if strings.HasSuffix(d, "m0s") {
		d = strings.TrimSuffix(d, "0s")
	}
	if strings.HasSuffix(d, "h0m") {
		d = strings.TrimSuffix(d, "0m")
	}
	return d
}

func signed(d time.Duration) string {
	if d > 0 {
		return "+" + d.String()
	}
	return d.String()
}
