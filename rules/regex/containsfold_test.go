package regex

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// containsFold agrees with lower-casing both sides and strings.Contains, on
// ASCII texts dense in the literal's letters.
func TestContainsFold(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const alphabet = "aAbB:  xX-"
	lits := []string{"a", "ab", "b:a", "xa-", " a", "abab", "-"}
	for range 20000 {
		b := make([]byte, r.IntN(24))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		text := string(b)
		for _, lit := range lits {
			want := strings.Contains(strings.ToLower(text), lit)
			if got := containsFold(text, lit); got != want {
				t.Fatalf("containsFold(%q, %q) = %v, want %v", text, lit, got, want)
			}
		}
	}
	if !containsFold("anything", "") {
		t.Fatal("the empty literal is in every text")
	}
}
