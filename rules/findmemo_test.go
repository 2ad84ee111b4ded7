package rules

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/stockade-ids/stockade/rules/regex"
)

// TestFindMemo: the memo of a field's scan answers what the scan finds,
// in the same words, for texts it holds and texts it does not, of two
// regions with literals of their own, texts that are not ASCII, longer
// than it keeps, and a buffer rewritten in place.
func TestFindMemo(t *testing.T) {
	lits := [2][]string{{"admin", ".php", "/wp-", ".env", "%2e", "phpmyadmin"}, {"zgrab", "nikto", "sqlmap"}}
	for i := range 70 { // a second word
		lits[0] = append(lits[0], "lit"+strings.Repeat("x", i%7)+string(rune('a'+i%26)))
	}
	multis := [2]*regex.Multi{regex.NewMulti(lits[0]), regex.NewMulti(lits[1])}
	pieces := []string{"/", "admin", "ADMIN", ".php", "/wp-", ".env", "%2E", "zgrab", "Nikto", "litxa", "é", "x", strings.Repeat("y", memoLen)}
	rng := rand.New(rand.NewPCG(3, 4))
	var texts []string
	for range 300 {
		var b strings.Builder
		for k := rng.IntN(5); k >= 0; k-- {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		texts = append(texts, b.String())
	}
	var fm findMemo
	buf := []byte("/phpmyadmin/")
	for round := range 3 {
		for _, text := range append(texts, unsafe.String(&buf[0], len(buf))) {
			for reg, m := range multis {
				want := make([]uint64, 2)
				wantOK := m.Find(text, want)
				got := make([]uint64, (len(lits[reg])+63)/64)
				ok, any := fm.find(reg, m, text, got)
				if ok != wantOK || wantOK && !slices.Equal(got, want[:len(got)]) {
					t.Fatalf("round %d, region %d, %q: memo %v %x, scan %v %x", round, reg, text, ok, got, wantOK, want)
				}
				if wantOK && any != nonzero(want) {
					t.Fatalf("round %d, region %d, %q: memo says found %v, scan found %x", round, reg, text, any, want)
				}
			}
		}
		copy(buf, "/.env/abcdef")
	}
}
