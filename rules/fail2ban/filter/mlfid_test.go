package filter

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"
)

// refCache is the connection cache as first written (an entry made per
// connection, nothing reused): mlfCache, which reuses the entries it
// drops, must keep, drop and expire the same connections.
type refCache struct {
	order []mlfEntry
}

func (c *refCache) get(k string, now time.Time) *failure {
	i := slices.IndexFunc(c.order, func(e mlfEntry) bool { return e.key == k })
	if i < 0 {
		return nil
	}
	if !now.Before(c.order[i].expires) {
		c.order = slices.Delete(c.order, i, i+1)
		return nil
	}
	return c.order[i].fail
}

func (c *refCache) set(k string, f *failure, now time.Time) {
	if i := slices.IndexFunc(c.order, func(e mlfEntry) bool { return e.key == k }); i >= 0 {
		c.order[i].fail, c.order[i].expires = f, now.Add(mlfTTL)
		return
	}
	if len(c.order) >= mlfMax {
		for len(c.order) > 0 {
			e := c.order[0]
			c.order = c.order[1:]
			if e.expires.After(now) && len(c.order) < mlfMax {
				break
			}
		}
	}
	c.order = append(c.order, mlfEntry{key: k, fail: f, expires: now.Add(mlfTTL)})
}

func (c *refCache) unset(k string) {
	if i := slices.IndexFunc(c.order, func(e mlfEntry) bool { return e.key == k }); i >= 0 {
		c.order = slices.Delete(c.order, i, i+1)
	}
}

// TestMlfCacheReuse: random connections (more than the cache holds, some
// expiring, some forgotten) against refCache, step by step.
func TestMlfCacheReuse(t *testing.T) {
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, 1))
		var got mlfCache
		var want refCache
		now := time.Date(2025, 8, 14, 0, 0, 0, 0, time.UTC)
		for step := range 5000 {
			now = now.Add(time.Duration(r.IntN(8000)) * time.Millisecond)
			k := strconv.Itoa(r.IntN(300))
			switch r.IntN(4) {
			case 0, 1:
				f := &failure{}
				got.set(k, f, now)
				want.set(k, f, now)
			case 2:
				if g, w := got.get(k, now), want.get(k, now); g != w {
					t.Fatalf("seed %d step %d: get(%s) = %p, want %p", seed, step, k, g, w)
				}
			case 3:
				got.unset(k)
				want.unset(k)
			}
			if len(got.order) != len(want.order) || got.keys.n != len(want.order) {
				t.Fatalf("seed %d step %d: %d entries (%d keys), want %d", seed, step, len(got.order), got.keys.n, len(want.order))
			}
			for i, e := range got.order {
				if w := want.order[i]; e.key != w.key || e.fail != w.fail || !e.expires.Equal(w.expires) || got.keys.get(e.key) != e {
					t.Fatalf("seed %d step %d: entry %d is %+v, want %+v", seed, step, i, *e, w)
				}
			}
		}
	}
}
