package pyre

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSplit: patterns with conditionals, split into alternatives, match
// what they match whole on regexp2 (the match and every group) on every
// string of their alphabet up to length 5 and on random longer ones.
func TestSplit(t *testing.T) {
	for _, c := range []struct {
		pattern string
		alts    int // 0: not split
	}{
		{`^(a)?(?(1)b|c)`, 2},
		{`^(a)??(?(1)b|c)d`, 2},
		{`^x(?P<u>a+)|(?:b|c)*?(?(u)d|e)$`, 0}, // the alternation is the root's: not anchored
		{`^(?:x(?P<i>a )?(?P<u>(?P<c>\S+)|(?(i)[^ ]*?|[^:]+)) b(?(c): |\S*$))`, 4},
		{`^(?P<o>a)?(?P<p>b)?(?(o)c|d)(?(p)e|f)`, 4},
		{`^(a)(?(1)b|c)`, 1},
		{`^((a)|b)+(?(2)c|d)`, 0}, // the tested group repeats
		{`^(a)?(?=(?(1)b|c))`, 0}, // a condition in a lookaround
		{`^(a)?(?(1)b|c)\1`, 0},   // a back reference
		{`(a)?(?(1)b|c)`, 0},      // not anchored
	} {
		tree, err := Parse(c.pattern)
		if err != nil {
			t.Fatal(err)
		}
		if alts := tree.split(); len(alts) != c.alts {
			t.Errorf("%s: %d alternatives, want %d", c.pattern, len(alts), c.alts)
		}
		if c.alts == 0 {
			continue
		}
		got, err := tree.Compile(true)
		if err != nil {
			t.Fatal(err)
		}
		want, err := tree.Backtracking()
		if err != nil {
			t.Fatal(err)
		}
		check := func(s string) {
			g, w := got.Submatch(s, nil), reference(t, want, s)
			if !slices.Equal(g, w) {
				t.Fatalf("%s on %q: split %v, whole %v", c.pattern, s, g, w)
			}
		}
		alphabet := "abcdefx :"
		var all func(prefix string, n int)
		all = func(prefix string, n int) {
			check(prefix)
			check(prefix + "\n")
			if n == 0 {
				return
			}
			for i := range len(alphabet) {
				all(prefix+alphabet[i:i+1], n-1)
			}
		}
		all("", 5)
		rng := rand.New(rand.NewPCG(1, 2))
		for range 2000 {
			b := make([]byte, 6+rng.IntN(20))
			for i := range b {
				b[i] = alphabet[rng.IntN(len(alphabet))]
			}
			check(string(b))
		}
	}
}
