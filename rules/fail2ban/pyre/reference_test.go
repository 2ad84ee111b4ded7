package pyre

import (
	"testing"

	"github.com/stockade-ids/stockade/rules/regex"
)

// reference is the reference engine's match of s: regexp2 gives a match
// up after 100 ms of wall-clock time, which a loaded machine can take
// from a tame match, so a match given up is tried again.
func reference(t testing.TB, e regex.Engine, s string) []int {
	t.Helper()
	for range 5 {
		before := regex.Faults(e)
		m := e.Submatch(s, nil)
		if regex.Faults(e) == before {
			return m
		}
	}
	t.Fatalf("regexp2 gave up on %q five times", s)
	return nil
}
