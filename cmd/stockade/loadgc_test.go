package main

import (
	"runtime/debug"
	"testing"
)

// TestLoadingGCPutsThePaceBack: loading packs runs the collector at
// loadGCPercent unless it is slower or off already, and the pace in force
// before is back after, whatever it was (GOGC=off included).
func TestLoadingGCPutsThePaceBack(t *testing.T) {
	orig := debug.SetGCPercent(100)
	defer debug.SetGCPercent(orig)
	for _, before := range []int{100, 50, loadGCPercent, 1000, -1} {
		debug.SetGCPercent(before)
		restore := loadingGC()
		during := debug.SetGCPercent(-1)
		debug.SetGCPercent(during)
		want := loadGCPercent
		if before < 0 || before >= loadGCPercent {
			want = before
		}
		if during != want {
			t.Errorf("GOGC %d: %d while loading, want %d", before, during, want)
		}
		restore()
		if after := debug.SetGCPercent(100); after != before {
			t.Errorf("GOGC %d: %d after loading", before, after)
		}
	}
}
