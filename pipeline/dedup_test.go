package pipeline

import (
	"math/rand/v2"
	"testing"
)

// TestFingerprintsModel: the table answers as a map does through
// inserts, overwrites, growth and sweeps, fingerprint 0 included.
func TestFingerprintsModel(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var f fingerprints
	model := map[uint64]int64{}
	for i := range 200_000 {
		fp := r.Uint64N(50_000) // repeats, and 0 now and then
		ts := int64(i)
		if got, ok := f.get(fp); ok != hasKey(model, fp) || ok && got != model[fp] {
			t.Fatalf("step %d: get(%d) = %d, %v; the map has %d, %v", i, fp, got, ok, model[fp], hasKey(model, fp))
		}
		f.set(fp, ts)
		model[fp] = ts
		if i%30_000 == 29_999 {
			cutoff := ts - 10_000
			f.sweep(cutoff)
			for k, v := range model {
				if v < cutoff {
					delete(model, k)
				}
			}
		}
		if f.len() != len(model) {
			t.Fatalf("step %d: %d fingerprints, the map holds %d", i, f.len(), len(model))
		}
	}
	for k, v := range model {
		if got, ok := f.get(k); !ok || got != v {
			t.Fatalf("get(%d) = %d, %v; want %d", k, got, ok, v)
		}
	}
}

func hasKey(m map[uint64]int64, k uint64) bool { _, ok := m[k]; return ok }
