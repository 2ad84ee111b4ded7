package datepattern

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/rules/regex"
)

// TestStampMemo: with the syslog template's match remembered per stamp,
// the detector finds what it finds without (the same match, spans,
// groups and date, the same state after), on every day and hour, a
// spread of minutes and seconds, valid or not, and tails that do or do
// not let the template read further.
func TestStampMemo(t *testing.T) {
	for _, patterns := range [][]string{nil, {"{^LN-BEG}"}} {
		d, err := New(patterns)
		if err != nil {
			t.Fatal(err)
		}
		d = d.resolved()
		if d.stamp < 0 {
			t.Fatalf("%q: no syslog template", patterns)
		}
		ref := *d
		ref.stamp = -1
		checkStamps(t, d, &ref)
	}
}

func checkStamps(t *testing.T, d, ref *Detector) {
	st, rst := NewState(), NewState()
	now := time.Date(2025, 11, 8, 22, 0, 0, 0, time.UTC)
	var days []string
	for i := 0; i <= 39; i++ {
		days = append(days, fmt.Sprintf("%02d", i))
	}
	for i := 0; i <= 9; i++ {
		days = append(days, fmt.Sprintf(" %d", i))
	}
	tails := []string{" web1 sshd[1]: x", " 2024 h", " .5 h", "  x", " é"}
	checked := 0
	for _, mon := range []string{"Nov", "DEC", "Xyz"} {
		step := 1 // every hour for one month, a spread for the others
		if mon != "Nov" {
			step = 7
		}
		for _, day := range days {
			for h := 0; h < 30; h += step {
				// Seconds of one minute in a row (the memo's same
				// minute), the leap ones, and ones no template takes.
				for _, ms := range []string{"07:59", "07:00", "07:31", "07:60", "07:09", "07:61", "07:62", "07:05", "07:99", "59:60", "59:05", "5x:00"} {
					stamp := fmt.Sprintf("%s %s %02d:%s", mon, day, h, ms)
					for _, tail := range tails {
						line := stamp + tail
						before := faults(d)
						dm, ok := d.Find(line, st)
						rm, rok := ref.Find(line, rst)
						if faults(d) != before {
							// A template on regexp2 gave a match up
							// (its wall-clock bound, on a loaded
							// machine): start both afresh.
							st, rst = NewState(), NewState()
							continue
						}
						if ok != rok || !sameMatch(dm, rm) {
							t.Fatalf("%q: memo %v %+v, template %v %+v", line, ok, dm, rok, rm)
						}
						if ok {
							got, gok := st.Date(&dm, line, now, time.UTC)
							want, wok := rst.Date(&rm, line, now, time.UTC)
							if gok != wok || !got.Equal(want) {
								t.Fatalf("%q: memo's date %v %v, template's %v %v", line, got, gok, want, wok)
							}
						}
						if !sameState(st, rst) {
							t.Fatalf("%q: state %+v, want %+v", line, st, rst)
						}
						checked++
					}
				}
			}
		}
	}
	if checked < 10000 || st.stamp.text == "" {
		t.Fatalf("%d lines checked, memo %q: the memo was not exercised", checked, st.stamp.text)
	}
}

// faults are the matches d's templates gave up.
func faults(d *Detector) uint64 {
	var n uint64
	for _, t := range d.templates {
		if t.build == nil || t.re != nil {
			n += regex.Faults(t.re)
		}
	}
	return n
}

func sameMatch(a, b Match) bool {
	return a.start == b.start && a.end == b.end && a.dist == b.dist && a.last == b.last &&
		a.idx == b.idx && a.t == b.t && reflect.DeepEqual(a.m, b.m)
}

func sameState(a, b *State) bool {
	return a.lastIdx == b.lastIdx && a.lastDist == b.lastDist && a.lastPrev == b.lastPrev &&
		a.lastEnd == b.lastEnd && a.lastNext == b.lastNext && reflect.DeepEqual(a.tmplDist, b.tmplDist)
}
