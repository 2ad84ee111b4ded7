package pyre

import (
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
		agree(t, c.pattern, got, want, texts{alphabet: "abcdefx :", depth: 5, random: 2000, min: 6, spread: 20, seed: 1})
	}
}
