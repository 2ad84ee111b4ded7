package report

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

// Chart geometry, in SVG user units.
const (
	chartW, chartH       = 960, 280
	marginL, marginR     = 56, 12
	marginT, marginB     = 12, 48
	plotW, plotH         = chartW - marginL - marginR, chartH - marginT - marginB
	maxBuckets, maxTicks = 60, 8
)

// steps are the bucket widths a timeline picks from: the first that
// splits the span into at most maxBuckets.
func steps() []time.Duration {
	return []time.Duration{
		time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
		time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour,
		24 * time.Hour, 7 * 24 * time.Hour, 30 * 24 * time.Hour,
	}
}

// axis is the time axis all of a report's timelines share, so that two
// sides of a comparison line up.
type axis struct {
	start time.Time
	step  time.Duration
	n     int
}

func newAxis(first, last time.Time) axis {
	all := steps()
	step := all[len(all)-1]
	for _, s := range all {
		if last.Sub(first.Truncate(s))/s < maxBuckets {
			step = s
			break
		}
	}
	start := first.UTC().Truncate(step)
	return axis{start: start, step: step, n: int(last.Sub(start)/step) + 1}
}

func (a axis) bucket(t time.Time) int { return min(a.n-1, max(0, int(t.Sub(a.start)/a.step))) }

// Timeline is one side's bans per rule over time, drawn as stacked bars.
type Timeline struct {
	Side   string
	Bars   []Bar
	YTicks []Tick
	XTicks []Tick
	Legend []Legend
	Step   string // "15m": what one bar spans
	Empty  bool
	W, H   int
	// PlotX, PlotY, PlotW, PlotH frame the plot area (the axes).
	PlotX, PlotY, PlotW, PlotH int
}

// Bar is one rule's bans in one bucket.
type Bar struct {
	Rule, Color, Title string
	Count              int
	X, Y, W, H         float64
}

// Tick is an axis label at a position.
type Tick struct {
	Pos   float64
	Label string
}

// Legend names a rule's colour and its total.
type Legend struct {
	Rule, Color string
	Bans        int
}

// color is the i-th rule's colour (Tableau 10, distinct to most eyes).
func color(i int) string {
	palette := [...]string{"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"}
	return palette[i%len(palette)]
}

// timeline draws a side's bans on the shared axis.
func timeline(side string, bans []pipeline.Decision, ax axis) Timeline {
	t := Timeline{Side: side, W: chartW, H: chartH, PlotX: marginL, PlotY: marginT, PlotW: plotW, PlotH: plotH, Step: short(ax.step)}
	if len(bans) == 0 {
		t.Empty = true
		return t
	}
	// counts[rule][bucket], rules by their bans, most first, so colours
	// are stable from one report to the next of the same logs.
	counts := map[string][]int{}
	totals := map[string]int{}
	for _, d := range bans {
		c := counts[d.Rule]
		if c == nil {
			c = make([]int, ax.n)
			counts[d.Rule] = c
		}
		c[ax.bucket(d.At)]++
		totals[d.Rule]++
	}
	rules := make([]string, 0, len(counts))
	for r := range counts {
		rules = append(rules, r)
	}
	slices.SortFunc(rules, func(a, b string) int { return cmp.Or(cmp.Compare(totals[b], totals[a]), cmp.Compare(a, b)) })
	stack := make([]int, ax.n)
	for _, r := range rules {
		for i, c := range counts[r] {
			stack[i] += c
		}
	}
	top := niceMax(slices.Max(stack))
	t.YTicks = yTicks(top)
	bw := float64(plotW) / float64(ax.n)
	clear(stack)
	for ri, r := range rules {
		color := color(ri)
		t.Legend = append(t.Legend, Legend{Rule: r, Color: color, Bans: totals[r]})
		for i, c := range counts[r] {
			if c == 0 {
				continue
			}
			h := float64(c) / float64(top) * plotH
			y := marginT + plotH - float64(stack[i])/float64(top)*plotH - h
			from := ax.start.Add(time.Duration(i) * ax.step)
			t.Bars = append(t.Bars, Bar{
				Rule: r, Color: color, Count: c,
				X: round1(marginL + float64(i)*bw + 1), Y: round1(y), W: round1(max(1, bw-2)), H: round1(h),
				Title: fmt.Sprintf("%s: %d ban(s) %s – %s UTC", r, c, from.Format("2006-01-02 15:04"), from.Add(ax.step).Format("15:04")),
			})
			stack[i] += c
		}
	}
	t.XTicks = xTicks(ax, bw)
	return t
}

// niceMax is m up to 5, else the smallest of 1, 2, 5 × 10^k at least m,
// so the y axis has round ticks (see yTicks).
func niceMax(m int) int {
	if m <= 5 {
		return max(1, m)
	}
	for p := 1; ; p *= 10 {
		for _, f := range []int{1, 2, 5} {
			if f*p >= m {
				return f * p
			}
		}
	}
}

func yTicks(top int) []Tick {
	n := min(top, 5) // top is 1-5, or 10, 20, 50, 100...: a fifth is whole
	out := make([]Tick, 0, n+1)
	for i := 0; i <= n; i++ {
		v := top * i / n
		out = append(out, Tick{Pos: marginT + plotH - float64(v)/float64(top)*plotH, Label: fmt.Sprint(v)})
	}
	return out
}

func xTicks(ax axis, bw float64) []Tick {
	every := (ax.n + maxTicks - 1) / maxTicks
	var out []Tick
	day := ""
	for i := 0; i < ax.n; i += every {
		at := ax.start.Add(time.Duration(i) * ax.step)
		label := at.Format("15:04")
		if ax.step >= 24*time.Hour {
			label = at.Format("Jan 2")
		} else if d := at.Format("Jan 2"); d != day {
			label, day = d+" "+label, d
		}
		out = append(out, Tick{Pos: round1(marginL + float64(i)*bw), Label: label})
	}
	return out
}

// short writes a bucket width as "15m", "1h", "1d".
func short(d time.Duration) string {
	switch {
	case d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	return fmt.Sprintf("%dm", d/time.Minute)
}

// round1 keeps a coordinate to a tenth of a unit: the page stays small
// and readable.
func round1(x float64) float64 { return math.Round(x*10) / 10 }
