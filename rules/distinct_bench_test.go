package rules

import (
	"fmt"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

// BenchmarkDistinctTracked: a daemon's engine (changes tracked, taken
// every 1,000 events as a save would) judging lines whose rule counts
// distinct() values: 4,096 addresses each trying user names in turn.
func BenchmarkDistinctTracked(b *testing.B) {
	s := mustSet(b, sprayPack)
	e := pipeline.NewEngine(s, pipeline.Config{Origin: "t"})
	e.TrackChanges()
	lines := make([]*pipeline.Event, 4096)
	for i := range lines {
		lines[i] = sshLine(0, fmt.Sprintf("Invalid user u%d from 10.%d.%d.%d port 22", i%2, i>>16&255, i>>8&255, i&255))
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		ev := *lines[n%len(lines)]
		ev.Time = t0.Add(time.Duration(n) * time.Millisecond)
		e.Process(&ev)
		if n++; n%1000 == 0 {
			e.TakeChanges()
		}
	}
}
