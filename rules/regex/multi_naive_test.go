package regex

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestMultiFindsEveryOccurrence: Scan reports every place of every
// literal that a plain case-insensitive search finds, and no other, with
// and without the byte table: the triple filter (Multi.maybe) refuses
// only anchors where no literal lies. The texts are made of the literals'
// own bytes, so that most pairs anchor something and most triples are
// near misses ("on" of "/icons/" in "one", "nd" of "and\t" in "and ").
func TestMultiFindsEveryOccurrence(t *testing.T) {
	lits := []string{"~", "q", "${", "ab", "/icons/", "and\t", "and ", "and+", "connect", "post", "zgrab",
		"eval-stdin.php", "%2e%2e", "://", "a'b", "select ", "boot.ini", "win.ini", "nikto", ".git"}
	naive := func(text string) []int {
		var out []int
		low := LowerASCII(text)
		for id, l := range lits {
			l = LowerASCII(l)
			for s := 0; s+len(l) <= len(low); s++ {
				if low[s:s+len(l)] == l {
					out = append(out, id, s, s+len(l))
				}
			}
		}
		return out
	}
	sorted := func(a []int) []int {
		type hit struct{ id, s, e int }
		var hs []hit
		for i := 0; i+2 < len(a); i += 3 {
			hs = append(hs, hit{a[i], a[i+1], a[i+2]})
		}
		slices.SortFunc(hs, func(x, y hit) int {
			if x.id != y.id {
				return x.id - y.id
			}
			return x.s - y.s
		})
		var out []int
		for _, h := range hs {
			out = append(out, h.id, h.s, h.e)
		}
		return out
	}
	for _, m := range []*Multi{NewMulti(lits), NewMulti(lits).WithTable()} {
		check := func(text string) {
			t.Helper()
			var got []int
			if !m.Scan(text, func(id int32, s, e int) { got = append(got, int(id), s, e) }) {
				return // not ASCII: the caller tries every rule
			}
			if want := naive(text); !slices.Equal(sorted(got), sorted(want)) {
				t.Fatalf("%q: Scan found %v, a plain search %v", text, sorted(got), sorted(want))
			}
		}
		for _, l := range lits {
			for pre := 0; pre < 20; pre++ {
				for post := 0; post < 5; post++ {
					check(strings.Repeat("n", pre) + strings.ToUpper(l) + strings.Repeat("d", post))
					check(strings.Repeat("o", pre) + l + strings.Repeat(" ", post))
				}
			}
		}
		const alphabet = "abqnodcestiNODCEST${}%2e.:/-~'+ \t"
		rng := rand.New(rand.NewPCG(5, 6))
		for range 50000 {
			b := make([]byte, rng.IntN(60))
			for i := range b {
				b[i] = alphabet[rng.IntN(len(alphabet))]
			}
			check(string(b))
		}
	}
}
