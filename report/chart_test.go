package report

import (
	"testing"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

// TestTimelineScales: the bucket grows with the span, so a month of bans
// draws at most maxBuckets bars, and their counts add up to the bans; one
// ban is one bar; none is an empty chart.
func TestTimelineScales(t *testing.T) {
	t0 := time.Date(2025, 11, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name  string
		span  time.Duration
		n     int
		step  string
		label string
	}{
		{"one ban", 0, 1, "1m", "Nov 1 00:00"},
		{"two hours", 2 * time.Hour, 50, "5m", "Nov 1 00:00"},
		{"a month", 30 * 24 * time.Hour, 400, "1d", "Nov 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var bans []pipeline.Decision
			for i := range tc.n {
				at := t0
				if tc.n > 1 {
					at = t0.Add(tc.span * time.Duration(i) / time.Duration(tc.n-1))
				}
				bans = append(bans, pipeline.Decision{Rule: []string{"a", "b"}[i%2], At: at})
			}
			tl := timeline("replay", bans, newAxis(bans[0].At, bans[len(bans)-1].At))
			sum, buckets := 0, map[float64]bool{}
			for _, b := range tl.Bars {
				sum += b.Count
				buckets[b.X] = true
				if b.H <= 0 || b.Y < marginT || b.Y+b.H > marginT+plotH+0.1 {
					t.Errorf("bar %+v outside the plot", b)
				}
			}
			if sum != tc.n || len(buckets) > maxBuckets || tl.Step != tc.step || tl.XTicks[0].Label != tc.label || len(tl.XTicks) > maxTicks {
				t.Errorf("bars add up to %d of %d in %d buckets of %s, first label %q, %d labels", sum, tc.n, len(buckets), tl.Step, tl.XTicks[0].Label, len(tl.XTicks))
			}
		})
	}
	if tl := timeline("replay", nil, newAxis(time.Time{}, time.Time{})); !tl.Empty {
		t.Error("no bans, yet a chart")
	}
}
