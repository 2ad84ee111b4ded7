package pipeline

import (
	"math/rand/v2"
	"testing"
)

// TestFingerprintsModel: the table answers as a map does through
// inserts, overwrites, growth and sweeps, fingerprint 0 included, whether
// the fingerprints crowd one group (a flood within a quarter second),
// spread over all of them, or fill a few at a time as alerts in time order
// do, and whether times only grow or lines come late (a sweep that has
// nothing to forget must know it from the oldest time held, which a late
// line lowers).
func TestFingerprintsModel(t *testing.T) {
	cases := []struct {
		name string
		fp   func(r *rand.Rand, i int) uint64
		late bool
	}{
		{"one group", func(r *rand.Rand, _ int) uint64 { return r.Uint64N(50_000) }, false},
		{"every group", func(r *rand.Rand, _ int) uint64 { return r.Uint64N(50_000) * 0x9e3779b97f4a7c15 }, false},
		{"time order", func(r *rand.Rand, i int) uint64 {
			return uint64(i/50)%(1<<fpGroupBits)<<(64-fpGroupBits) | r.Uint64N(50_000)
		}, false},
		{"late lines", func(r *rand.Rand, _ int) uint64 { return r.Uint64N(50_000) * 0x9e3779b97f4a7c15 }, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { checkFingerprints(t, c.fp, c.late) })
	}
}

func checkFingerprints(t *testing.T, next func(r *rand.Rand, i int) uint64, late bool) {
	r := rand.New(rand.NewPCG(1, 2))
	var f fingerprints
	model := map[uint64]int64{}
	cutoff := int64(-1 << 62)
	for i := range 200_000 {
		fp := next(r, i) // repeats, and 0 now and then
		ts := int64(i)
		if late && i%7 == 0 {
			ts -= r.Int64N(40_000) // older than the next cutoff, now and then
		}
		if got, ok := f.get(fp); ok != hasKey(model, fp) || ok && got != model[fp] {
			t.Fatalf("step %d: get(%d) = %d, %v; the map has %d, %v", i, fp, got, ok, model[fp], hasKey(model, fp))
		}
		f.set(fp, ts)
		model[fp] = ts
		if i%10_000 == 9_999 {
			// Two sweeps in three have the cutoff of the one before:
			// nothing to forget, unless a late line came since.
			if i%30_000 == 29_999 {
				cutoff = int64(i) - 10_000
			}
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

// TestFingerprintsCraftedCollisions: fingerprints of one group that an
// alert's author could pick offline (their ports and addresses are in
// the hash) so that a fixed multiplicative hash gives them one run of
// slots are spread by the table's seeded hash; none probes far from its
// home.
func TestFingerprintsCraftedCollisions(t *testing.T) {
	const n = 2_000
	var f fingerprints
	for x := uint64(1); f.len() < n; x++ {
		fp := 7<<52 | x
		if (fp*0x9e3779b97f4a7c15)>>(64-9) == 0 {
			f.set(fp, 1)
		}
	}
	g := f.group(7 << 52)
	mask := uint64(len(g.slots) - 1)
	worst := uint64(0)
	for i := range g.slots {
		if s := &g.slots[i]; s.fp != 0 {
			worst = max(worst, (uint64(i)-f.hash(s.fp)>>g.shift)&mask)
		}
	}
	if worst > 64 {
		t.Fatalf("%d fingerprints, the farthest %d slots from its home", n, worst)
	}
}
