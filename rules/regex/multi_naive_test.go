package regex

import (
	"slices"
	"strings"
	"testing"
)

// naiveLits are literals whose pairs ordinary text is full of, and whose
// triples it rarely holds: what the triple filter (Multi.maybe) refuses
// most, and must never refuse wrongly.
var naiveLits = []string{"~", "q", "${", "ab", "/icons/", "and\t", "and ", "and+", "connect", "post", "zgrab",
	"eval-stdin.php", "%2e%2e", "://", "a'b", "select ", "boot.ini", "win.ini", "nikto", ".git"}

// exactLits are naiveLits with literals whose case tells them apart, for
// an exact Multi (NewMultiExact): "Invalid" and "iNVALID" are different
// literals there, the same text to a folding one.
var exactLits = append(slices.Clone(naiveLits), "Invalid", "iNVALID", "Connection ", "POST", "rhost=", "Q")

// checkEveryOccurrence fails t unless m (of lits) reports every place of
// every literal in text that a plain search finds (case-insensitive, or
// byte for byte for an exact Multi), and no other, and Mask every literal
// found; a text that is not ASCII is the caller's (every rule tried).
func checkEveryOccurrence(t *testing.T, m *Multi, lits []string, text string) {
	t.Helper()
	type hit struct{ id, s, e int }
	var got, want []hit
	if !m.Scan(text, func(id int32, s, e int) { got = append(got, hit{int(id), s, e}) }) {
		return
	}
	low := LowerASCII(text)
	for id, l := range lits {
		l = LowerASCII(l)
		if m.exact != nil {
			low, l = text, lits[id]
		}
		for s := 0; s+len(l) <= len(low); s++ {
			if low[s:s+len(l)] == l {
				want = append(want, hit{id, s, s + len(l)})
			}
		}
	}
	order := func(x, y hit) int {
		if x.id != y.id {
			return x.id - y.id
		}
		return x.s - y.s
	}
	slices.SortFunc(got, order)
	slices.SortFunc(want, order)
	if !slices.Equal(got, want) {
		t.Fatalf("%q: Scan found %v, a plain search %v", text, got, want)
	}
	if len(lits) > 64 {
		return
	}
	var bits uint64
	for _, h := range want {
		bits |= 1 << h.id
	}
	if mask, ok := m.Mask(text); !ok || mask != bits {
		t.Fatalf("%q: Mask %b (%v), a plain search %b", text, mask, ok, bits)
	}
}

// TestMultiFindsEveryOccurrence: with and without the byte table, on
// every literal at every offset and on random texts of the literals'
// own bytes (most pairs anchor something, most triples are near misses:
// "on" of "/icons/" in "one", "nd" of "and\t" in "and ").
func TestMultiFindsEveryOccurrence(t *testing.T) {
	for _, c := range []struct {
		m    *Multi
		lits []string
	}{
		{NewMulti(naiveLits), naiveLits}, {NewMulti(naiveLits).WithTable(), naiveLits},
		{NewMultiExact(exactLits), exactLits}, {NewMultiExact(exactLits).WithTable(), exactLits},
	} {
		m, lits := c.m, c.lits
		for _, l := range lits {
			for pre := 0; pre < 20; pre++ {
				for post := 0; post < 5; post++ {
					checkEveryOccurrence(t, m, lits, strings.Repeat("n", pre)+strings.ToUpper(l)+strings.Repeat("d", post))
					checkEveryOccurrence(t, m, lits, strings.Repeat("o", pre)+l+strings.Repeat(" ", post))
					checkEveryOccurrence(t, m, lits, strings.Repeat("i", pre)+strings.ToLower(l)+strings.Repeat("Q", post))
				}
			}
		}
		randomTexts(5, "abqnodcestiNODCESTQPVvrh=${}%2e.:/-~'+ \t", 50000, 60, func(text string) {
			checkEveryOccurrence(t, m, lits, text)
		})
	}
}

// FuzzMultiScan: any text, with and without the byte table.
func FuzzMultiScan(f *testing.F) {
	f.Add("GET /icons/ HTTP/1.1 and 1=1 connect")
	f.Add("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1) nikto ${jndi")
	plain, table := NewMulti(naiveLits), NewMulti(naiveLits).WithTable()
	exact, exactTable := NewMultiExact(exactLits), NewMultiExact(exactLits).WithTable()
	f.Fuzz(func(t *testing.T, text string) {
		checkEveryOccurrence(t, plain, naiveLits, text)
		checkEveryOccurrence(t, table, naiveLits, text)
		checkEveryOccurrence(t, exact, exactLits, text)
		checkEveryOccurrence(t, exactTable, exactLits, text)
	})
}
