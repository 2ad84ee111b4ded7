package regex

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// TestMultiTable: a Multi with its byte table (WithTable) reports what
// one without does, literal by literal and place by place, on random
// texts of the literals' bytes, upper case letters and bytes past 0x7f,
// of every length across the table's sixteen-byte steps; and on every
// literal at every offset.
func TestMultiTable(t *testing.T) {
	lits := []string{"~", "q", "${", "ab", "or", "zgrab", "eval-stdin.php", "%2e%2e", "://", "a'b", "select ", "Failed "}
	plain, table := NewMulti(lits), NewMulti(lits).WithTable()
	check := func(text string) {
		t.Helper()
		var a, b []int
		okA := plain.Scan(text, func(id int32, s, e int) { a = append(a, int(id), s, e) })
		okB := table.Scan(text, func(id int32, s, e int) { b = append(b, int(id), s, e) })
		fa, fb := make([]uint64, 1), make([]uint64, 1)
		findA, findB := plain.Find(text, fa), table.Find(text, fb)
		if okA != okB || findA != findB || fa[0] != fb[0] || len(a) != len(b) || !equalInts(a, b) {
			t.Fatalf("%q: without the table %v %v %b, with it %v %v %b", text, okA, a, fa[0], okB, b, fb[0])
		}
	}
	for _, l := range lits {
		for pre := 0; pre < 34; pre++ {
			for post := 0; post < 18; post++ {
				check(strings.Repeat("x", pre) + strings.ToUpper(l) + strings.Repeat("y", post))
				check(strings.Repeat("x", pre) + l + strings.Repeat("\u00e9", post%3))
			}
		}
	}
	randomTexts(3, "abqorzgABQORZG${}%2e.:/-~' lstinvphpXYFd\xc3\x80\x7f\x00", 30000, 90, check)
}

// randomTexts calls f with n texts shorter than maxLen of alphabet's
// bytes, drawn from seed.
func randomTexts(seed uint64, alphabet string, n, maxLen int, f func(string)) {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	for range n {
		b := make([]byte, rng.IntN(maxLen))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		f(string(b))
	}
}

func equalInts(a, b []int) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
