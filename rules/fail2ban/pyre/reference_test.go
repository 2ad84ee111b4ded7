package pyre

import (
	"math/rand/v2"
	"slices"
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

// texts are the strings agree tries: every string over alphabet up to
// depth characters, each also with a newline, then random ones of min to
// min+spread-1 characters (seeded by seed) with end appended.
type texts struct {
	alphabet                   string
	depth, random, min, spread int
	seed                       uint64
	end                        string
}

// agree fails t when got's submatches differ from the reference engine's
// on any of the texts ts names.
func agree(t *testing.T, pattern string, got, want regex.Engine, ts texts) {
	t.Helper()
	check := func(s string) {
		g, w := got.Submatch(s, nil), reference(t, want, s)
		if !slices.Equal(g, w) {
			t.Fatalf("%s on %q: %v, reference %v", pattern, s, g, w)
		}
	}
	var all func(prefix string, n int)
	all = func(prefix string, n int) {
		check(prefix)
		check(prefix + "\n")
		if n == 0 {
			return
		}
		for i := range len(ts.alphabet) {
			all(prefix+ts.alphabet[i:i+1], n-1)
		}
	}
	all("", ts.depth)
	rng := rand.New(rand.NewPCG(ts.seed, ts.seed+1))
	for range ts.random {
		b := make([]byte, ts.min+rng.IntN(ts.spread))
		for i := range b {
			b[i] = ts.alphabet[rng.IntN(len(ts.alphabet))]
		}
		check(string(b) + ts.end)
	}
}
