package syslog

import (
	"fmt"
	"github.com/stockade-ids/stockade/sources/internal/civil"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

// zones covers no DST, northern and southern DST, a half-hour DST shift and
// a zone that skipped a whole day (Samoa, end of 2011).
func zones(t *testing.T) []*time.Location {
	locs := []*time.Location{time.UTC, time.FixedZone("east", 5*3600+1800)}
	for _, name := range []string{"America/New_York", "Europe/Berlin", "Australia/Sydney", "Australia/Lord_Howe", "Pacific/Apia"} {
		if loc, err := time.LoadLocation(name); err == nil {
			locs = append(locs, loc)
		} else {
			t.Logf("zone %s unavailable: %v", name, err)
		}
	}
	return locs
}

// instant must agree with time.Date everywhere, DST gaps and overlaps
// included, whatever zone period it last cached.
func TestInstantMatchesTimeDate(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, loc := range zones(t) {
		p := New(ref, loc)
		for range 200_000 {
			y, m, d := 1990+rng.IntN(60), 1+rng.IntN(12), 1+rng.IntN(28)
			sod := rng.IntN(86400)
			want := time.Date(y, time.Month(m), d, 0, 0, sod, 0, loc).Unix()
			if got := p.instant(civil.DaysFromCivil(y, m, d)*86400 + int64(sod)); got != want {
				t.Fatalf("%v: instant(%04d-%02d-%02d +%ds) = %d, time.Date gives %d", loc, y, m, d, sod, got, want)
			}
		}
	}
}

func TestDaysFromCivil(t *testing.T) {
	for y := -500; y <= 3000; y += 7 {
		for m := 1; m <= 12; m++ {
			for _, d := range []int{1, 15, civil.DaysIn(y, m)} {
				want := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC).Unix() / 86400
				if got := civil.DaysFromCivil(y, m, d); got != want {
					t.Fatalf("civil.DaysFromCivil(%d, %d, %d) = %d, want %d", y, m, d, got, want)
				}
			}
		}
	}
}

// referenceYear is the year rule stated plainly: the latest year whose
// reading of the timestamp is not later than ref + 24h.
func referenceYear(ref time.Time, loc *time.Location, m, d, sod int) time.Time {
	limit := ref.Add(24 * time.Hour)
	for y := limit.In(loc).Year(); ; y-- {
		if m == 2 && d == 29 && !isLeap(y) {
			continue
		}
		if t := time.Date(y, time.Month(m), d, 0, 0, sod, 0, loc); !t.After(limit) {
			return t
		}
	}
}

// The cached per-month year must match the plain rule for any reference
// time, in particular ones close to month ends and New Year.
func TestYearInferenceMatchesRule(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, loc := range zones(t) {
		for range 300 {
			r := time.Date(2000+rng.IntN(40), time.Month(1+rng.IntN(12)), 1+rng.IntN(31), rng.IntN(24), rng.IntN(60), 0, 0, loc)
			if rng.IntN(3) == 0 { // the last days of a year
				r = time.Date(2000+rng.IntN(40), 12, 30, 0, 0, rng.IntN(3*86400), 0, loc)
			}
			p := New(r, loc)
			for range 300 {
				m := 1 + rng.IntN(12)
				d := 1 + rng.IntN(maxDay[m])
				sod := rng.IntN(86400)
				// Bias toward the limit itself, where the comparison matters.
				if rng.IntN(4) == 0 {
					lim := r.Add(24 * time.Hour).In(loc)
					m, d = int(lim.Month()), lim.Day()
					sod = lim.Hour()*3600 + lim.Minute()*60 + lim.Second() + rng.IntN(5) - 2
					sod = max(0, min(sod, 86399))
				}
				line := fmt.Sprintf("%s %2d %02d:%02d:%02d h x: y", time.Month(m).String()[:3], d, sod/3600, sod/60%60, sod%60)
				var ev pipeline.Event
				if err := p.Parse([]byte(line), &ev); err != nil {
					t.Fatalf("Parse(%q) = %v", line, err)
				}
				if want := referenceYear(r, loc, m, d, sod); !ev.Time.Equal(want) {
					t.Fatalf("ref %v in %v: %q gives %v, want %v", r, loc, line, ev.Time, want)
				}
			}
		}
	}
}
