package pyre

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestAvoidLoop: a loop (?:(?!cWc).)* before $ runs on RE2 and matches
// what regexp2 matches with the lookahead (the match and every group) on
// every string of the alphabet up to length 6 and on random longer ones;
// a loop not before $, or with a literal of another form, stays on
// regexp2.
func TestAvoidLoop(t *testing.T) {
	for _, c := range []struct {
		pattern string
		re2     bool
	}{
		{`^(\S*)(?:(?! ab ).)*$`, true},
		{`^x(.*?) (?:(?! ab ).)*?$`, true},
		{`^(?P<u>[^:]+) b(?: a)?(?:(?:(?! b ).)*)$`, true},
		{`^(?:(?!:a:).)*$`, true},
		{`^(a*)(?:(?! a ).)*$`, true},
		{`^(?:(?! ab ).)*x`, false},     // not before $
		{`^(?:(?! a a ).)*$`, false},    // the word holds the separator
		{`^(?:(?!ab).)*$`, false},       // not cWc
		{`(?i)^(?:(?! ab ).)*$`, false}, // the literal ignores case
	} {
		tree, err := Parse(c.pattern)
		if err != nil {
			t.Fatal(err)
		}
		got, err := tree.Compile(true)
		if err != nil {
			t.Fatal(err)
		}
		if (got.Kind() == "re2") != c.re2 {
			t.Errorf("%s: on %s", c.pattern, got.Kind())
			continue
		}
		if !c.re2 {
			continue
		}
		want, err := tree.Backtracking()
		if err != nil {
			t.Fatal(err)
		}
		check := func(s string) {
			g, w := got.Submatch(s, nil), want.Submatch(s, nil)
			if !slices.Equal(g, w) {
				t.Fatalf("%s on %q: RE2 %v, regexp2 %v", c.pattern, s, g, w)
			}
		}
		alphabet := " abx:"
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
		all("", 7)
		rng := rand.New(rand.NewPCG(3, 4))
		for range 3000 {
			b := make([]byte, 8+rng.IntN(24))
			for i := range b {
				b[i] = alphabet[rng.IntN(len(alphabet))]
			}
			check(string(b) + "\n")
		}
	}
}
