// Package report writes a replay or a comparison of rule sets as one
// self-contained HTML page: a timeline of bans per rule (inline SVG), the
// top offenders, per-rule matches and bans, per-source bad lines and, for
// a comparison, what changed.
//
// Every string from a log (evidence lines, sources, reasons, rule names
// from packs) is the attacker's or a pack author's text: the page is built
// with html/template, which escapes each by its context, and carries a
// Content-Security-Policy that forbids scripts and every fetch, so a
// payload that slipped through would still neither run nor call home.
package report

import (
	"cmp"
	_ "embed"
	"html/template"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/stockade-ids/stockade/backtest"
	"github.com/stockade-ids/stockade/pipeline"
)

//go:embed report.html.tmpl
var pageText string

// topOffenders is how many targets the offenders table lists per side.
const topOffenders = 25

// Options are the page's title and when it was made.
type Options struct {
	Title     string
	Generated time.Time
}

// page is what the template draws.
type page struct {
	Title     string
	Generated string
	From, To  string
	Sources   []backtest.Source
	Lines     uint64
	BadLines  uint64
	Sides     []sideView
	Diff      *backtest.Diff
}

type sideView struct {
	Name, Rules string
	Bans        int
	Unbans      int
	Timeline    Timeline
	Offenders   []offender
	Stats       []pipeline.RuleStats
}

// onlyView is a list of targets one side alone banned.
type onlyView struct {
	Side string
	List []backtest.Only
}

type offender struct {
	Target      string
	Bans        int
	Rules       string
	First, Last string
	Longest     string
	Source      string
	Evidence    []string
}

// Write renders r as HTML to w.
func Write(w io.Writer, r *backtest.Record, opt Options) error {
	t, err := template.New("report").Funcs(template.FuncMap{
		"clock": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") },
		"secs":  backtest.Length,
		"add":   func(a, b int) int { return a + b },
		"div2":  func(a int) int { return a / 2 },
		"only":  func(side string, list []backtest.Only) onlyView { return onlyView{side, list} },
		"quietRules": func(rs []backtest.RuleDiff) int {
			n := 0
			for _, r := range rs {
				if r.OldMatches+r.OldBans+r.NewMatches+r.NewBans == 0 && r.Missing == "" {
					n++
				}
			}
			return n
		},
		"quietStats": func(ss []pipeline.RuleStats) int {
			n := 0
			for _, s := range ss {
				if s.Matches+s.Bans == 0 {
					n++
				}
			}
			return n
		},
	}).Parse(pageText)
	if err != nil {
		return err
	}
	return t.Execute(w, build(r, opt))
}

func build(r *backtest.Record, opt Options) page {
	p := page{Title: cmp.Or(opt.Title, "stockade replay"), Sources: r.Sources, Diff: r.Diff}
	if !opt.Generated.IsZero() {
		p.Generated = opt.Generated.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	for _, s := range r.Sources {
		p.Lines += s.Lines
		for _, b := range s.Bad {
			p.BadLines += b.Count
		}
	}
	first, last := span(r.Sides)
	if !first.IsZero() {
		p.From, p.To = first.UTC().Format("2006-01-02 15:04:05"), last.UTC().Format("2006-01-02 15:04:05")
	}
	ax := newAxis(first, last)
	for _, s := range r.Sides {
		p.Sides = append(p.Sides, sideView{
			Name: s.Name, Rules: s.Rules, Bans: len(s.Bans), Unbans: s.Unbans,
			Timeline:  timeline(s.Name, s.Bans, ax),
			Offenders: offenders(s.Bans),
			Stats:     s.Stats,
		})
	}
	return p
}

func span(sides []*backtest.Side) (first, last time.Time) {
	for _, s := range sides {
		for _, d := range s.Bans {
			if first.IsZero() || d.At.Before(first) {
				first = d.At
			}
			if d.At.After(last) {
				last = d.At
			}
		}
	}
	return first, last
}

// offenders are the targets banned most often, then longest in all.
func offenders(bans []pipeline.Decision) []offender {
	type acc struct {
		n           int
		rules       []string
		first, last time.Time
		longest     int64
		lastBan     pipeline.Decision
	}
	m := map[string]*acc{}
	for _, d := range bans {
		t := d.Target.String()
		a := m[t]
		if a == nil {
			a = &acc{first: d.At}
			m[t] = a
		}
		a.n++
		a.last, a.lastBan = d.At, d
		a.longest = max(a.longest, d.Duration)
		if !slices.Contains(a.rules, d.Rule) {
			a.rules = append(a.rules, d.Rule)
		}
	}
	targets := make([]string, 0, len(m))
	for t := range m {
		targets = append(targets, t)
	}
	slices.SortFunc(targets, func(x, y string) int {
		a, b := m[x], m[y]
		return cmp.Or(cmp.Compare(b.n, a.n), cmp.Compare(b.longest, a.longest), a.first.Compare(b.first), cmp.Compare(x, y))
	})
	out := make([]offender, 0, min(len(targets), topOffenders))
	for _, t := range targets[:min(len(targets), topOffenders)] {
		a := m[t]
		out = append(out, offender{
			Target: t, Bans: a.n, Rules: strings.Join(a.rules, ", "),
			First: a.first.UTC().Format("2006-01-02 15:04:05"), Last: a.last.UTC().Format("2006-01-02 15:04:05"),
			Longest: backtest.Length(a.longest),
			Source:  a.lastBan.Source, Evidence: a.lastBan.Evidence,
		})
	}
	return out
}
