package packtest

import (
	"fmt"
	"strings"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/rules"
)

// Result is what one test did.
type Result struct {
	Test      *Test
	Failures  rules.Errors
	Decisions []Decision
	// Seen counts, per rule, the events the rule could see (its format and
	// program); Regex counts, per rule and failregex, the lines it matched.
	Seen  map[string]int
	Regex map[string][]int
}

// Passed reports whether every expectation held.
func (r *Result) Passed() bool { return len(r.Failures) == 0 }

// Decision is a decision and the sample line that caused it.
type Decision struct {
	pipeline.Decision
	Line rules.Pos
}

func (d *Decision) String() string {
	return fmt.Sprintf("%s: %s %s by %s for %s (offense %d) at %s", d.Line, d.Action, d.Target, d.Rule,
		rules.FormatDuration(time.Duration(d.Duration)*time.Second), d.Offense, d.At.Format(time.RFC3339Nano))
}

// withRules are the packs a test of p runs besides p: none for a pack of
// rules; for a pack of allowlists alone (whitelists), which has nothing
// to ban with, the built-in packs, whose bans its allowlists must spare.
func withRules(p *rules.Pack) []*rules.Pack {
	if len(p.Rules) > 0 || len(p.Allowlists) == 0 {
		return nil
	}
	ds, err := rules.DefaultPacks()
	if err != nil {
		return nil
	}
	out := ds[:0]
	for _, d := range ds {
		if d.Name != p.Name {
			out = append(out, d)
		}
	}
	return out
}

// Run runs the test over a fresh engine whose rules are p's alone (the
// built-in packs' for a pack of allowlists alone: see withRules). now is
// the year-inference reference of a test without now: (zero: when it runs).
func (t *Test) Run(p *rules.Pack, now time.Time) *Result {
	res := &Result{Test: t, Seen: map[string]int{}, Regex: map[string][]int{}}
	set, err := rules.NewSet(append(withRules(p), p, &rules.Pack{Name: "test", File: p.File, Enable: t.Enable})...)
	if err != nil {
		res.Failures.Add(t.Pos, "%v", err)
		return res
	}
	for _, r := range set.Rules() {
		res.Regex[r.Policy.Name] = make([]int, len(r.FailRegexes()))
	}
	ref := t.Now
	if ref.IsZero() {
		ref = now
	}
	if ref.IsZero() {
		ref = time.Now()
	}
	inputs := make([]*decoded, len(t.Inputs))
	its := make([]pipeline.Iterator, len(t.Inputs))
	for i, in := range t.Inputs {
		inputs[i] = t.decode(in, ref, res)
		its[i] = inputs[i]
	}
	if !res.Passed() {
		return res
	}

	rec := rules.NewRecorder(set)
	eng := pipeline.NewEngine(rec, pipeline.Config{Origin: "test", Allow: t.Allow})
	m, err := pipeline.NewMerge(its)
	for err == nil {
		var ev *pipeline.Event
		var i int
		if ev, i, err = m.Next(); err != nil {
			break
		}
		line := inputs[i].pos[inputs[i].next-1]
		rec.Verdicts = rec.Verdicts[:0]
		for _, d := range eng.Process(ev) {
			res.Decisions = append(res.Decisions, Decision{Decision: d, Line: line})
		}
		for _, v := range rec.Verdicts {
			name := v.Rule.Policy.Name
			res.Seen[name]++
			if v.Regex >= 0 && v.Verdict != rules.BadAddress {
				res.Regex[name][v.Regex]++
			}
		}
	}
	t.check(res)
	return res
}

func (t *Test) check(res *Result) {
	ds := res.Decisions
	// Each expectation takes a decision of its own: a maximum bipartite
	// matching, so a loose {target: X} never steals the decision a precise
	// {target: X, offense: 2} needed.
	owner := make([]int, len(ds))
	for i := range owner {
		owner[i] = -1
	}
	var assign func(x int, tried []bool) bool
	assign = func(x int, tried []bool) bool {
		for d := range ds {
			if tried[d] || !t.Expect[x].Matches(&ds[d].Decision) {
				continue
			}
			tried[d] = true
			if owner[d] < 0 || assign(owner[d], tried) {
				owner[d] = x
				return true
			}
		}
		return false
	}
	for x := range t.Expect {
		if !assign(x, make([]bool, len(ds))) {
			res.Failures.Add(t.Expect[x].Pos, "expected %s: %s", t.Expect[x].String(), instead(ds, &t.Expect[x]))
		}
	}
	for i := range t.None {
		x := &t.None[i]
		for _, d := range ds {
			if x.covers(&d.Decision) {
				res.Failures.Add(x.Pos, "expected no ban of %s, but %s", targetOrAny(x), d.String())
			}
		}
	}
	if t.Count >= 0 {
		n := 0
		for _, d := range ds {
			if d.Action == pipeline.ActionBan {
				n++
			}
		}
		if n != t.Count {
			res.Failures.Add(t.CountPos, "expected %d ban decision(s), got %d", t.Count, n)
		}
	}
}

func targetOrAny(x *Expectation) string {
	s, _ := pipeline.TargetString(x.Target)
	if x.Rule != "" {
		s += " by " + x.Rule
	}
	return s
}

// instead says what happened instead of an expected decision: the decisions
// about the same target, or that there were none at all.
func instead(ds []Decision, x *Expectation) string {
	if len(ds) == 0 {
		return "no decision at all"
	}
	var same []string
	for _, d := range ds {
		if t, err := d.Prefix(); err == nil && (!x.Target.IsValid() || t == x.Target) {
			same = append(same, d.String())
		}
	}
	if len(same) == 0 {
		return fmt.Sprintf("no decision about it (%d about other targets)", len(ds))
	}
	return "got instead " + strings.Join(same, "; ")
}
