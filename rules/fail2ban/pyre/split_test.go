package pyre

import (
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
		agree(t, c.pattern, got, want, texts{alphabet: "abcdefx :", depth: 5, random: 2000, min: 6, spread: 20, seed: 1})
	}
}

// TestSplitLiterals: each alternative of sshd's "Failed ... for" pattern
// prefilters on what sets it apart (the literal of the optional group it
// took, the ": " that ends the \S+ user's path), down to two bytes, and
// not on what the whole pattern's prefilter checked before it.
func TestSplitLiterals(t *testing.T) {
	tree, err := Parse(`^Failed \S+ for (?P<inv>invalid user )?(?P<user>(?P<c>\S+)|(?(inv)(?:(?! from ).)*?|[^:]+)) from (?P<ip>\S+)(?: port \d+)?(?(c): |(?:(?:(?! from ).)*)$)`)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := tree.Compile(true)
	if err != nil {
		t.Fatal(err)
	}
	sp, ok := eng.(named).Engine.(*splitEngine)
	if !ok || len(sp.alts) != 4 {
		t.Fatalf("%T: want the pattern split in 4", eng.(named).Engine)
	}
	if got, want := tree.Literals(), []string{"Failed ", " from ", " for "}; !slices.Equal(got, want) {
		t.Fatalf("the pattern's literals %q, want %q", got, want)
	}
	for i, want := range [][]string{
		{"invalid user ", ": "}, // inv taken, the user \S+
		{"invalid user "},       // inv taken, the user avoiding " from "
		{": "},                  // the user \S+
		nil,                     // the user [^:]+: nothing more to check
	} {
		if got := sp.alts[i].re.Literals; !slices.Equal(got, want) {
			t.Errorf("alternative %d prefilters on %q, want %q", i, got, want)
		}
	}
}
