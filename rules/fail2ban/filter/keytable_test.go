package filter

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

// TestKeyTableAsMap: random puts and deletes of up to mlfMax keys (runs
// of neighbours form and are cut through), against a map, every key
// looked up after each step.
func TestKeyTableAsMap(t *testing.T) {
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, 2))
		var got keyTable
		want := map[string]*mlfEntry{}
		for step := range 4000 {
			k := strconv.Itoa(r.IntN(3 * mlfMax))
			if e := want[k]; e != nil || len(want) >= mlfMax || r.IntN(3) == 0 {
				if d := got.del(k); d != want[k] {
					t.Fatalf("seed %d step %d: del(%s) = %p, want %p", seed, step, k, d, want[k])
				}
				delete(want, k)
			} else {
				e := &mlfEntry{key: k}
				got.put(e)
				want[k] = e
			}
			if got.n != len(want) {
				t.Fatalf("seed %d step %d: %d keys, want %d", seed, step, got.n, len(want))
			}
			for i := range 3 * mlfMax {
				k := strconv.Itoa(i)
				if g := got.get(k); g != want[k] {
					t.Fatalf("seed %d step %d: get(%s) = %p, want %p", seed, step, k, g, want[k])
				}
			}
		}
	}
}
