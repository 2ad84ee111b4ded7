package bus

import (
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

// A source remembers, of the decisions it believed, the newest of each
// origin about each target (up to maxOriginsPerTarget of them, for the last
// maxBelievedTargets targets): about 150 bytes each, 20 MB at most.
const (
	maxBelievedTargets  = 1 << 14
	maxOriginsPerTarget = 8
)

// believed remembers who signed the decisions a source believed, for the
// provenance of the decisions built from them. The rule that decides is not
// told which decisions made it (a fleet rule's distinct() keeps origins,
// not lines; its evidence is the deciding decision), so the provenance of
// a ban of a target is what the correlator believed about that target by
// then. The target first seen longest ago is forgotten first.
type believed struct {
	mu       sync.Mutex
	byTarget map[netip.Prefix][]Believed
	ring     []netip.Prefix
	next     int
}

// Believed is a decision a source believed: who made it, who signed it,
// and its time.
type Believed struct {
	pipeline.Provenance
	At time.Time
}

func newBelieved() *believed {
	return &believed{byTarget: map[netip.Prefix][]Believed{}, ring: make([]netip.Prefix, maxBelievedTargets)}
}

// add remembers x, verified as signed by signer.
func (b *believed) add(x *pipeline.Decision, signer string) {
	t, err := x.Prefix()
	if err != nil {
		return
	}
	e := Believed{Provenance: pipeline.Provenance{ID: x.ID, Origin: x.Origin, Signer: signer}, At: x.At}
	b.mu.Lock()
	defer b.mu.Unlock()
	list, ok := b.byTarget[t]
	if !ok {
		if old := b.ring[b.next]; old.IsValid() {
			delete(b.byTarget, old)
		}
		b.ring[b.next] = t
		b.next = (b.next + 1) % len(b.ring)
	}
	for i := range list {
		if list[i].Origin == x.Origin {
			if !x.At.Before(list[i].At) {
				list[i] = e
			}
			b.byTarget[t] = list
			return
		}
	}
	if len(list) >= maxOriginsPerTarget {
		oldest := 0
		for i := range list {
			if list[i].At.Before(list[oldest].At) {
				oldest = i
			}
		}
		list = slices.Delete(list, oldest, oldest+1)
	}
	b.byTarget[t] = append(list, e)
}

// about appends to out what was believed about target at or before at.
func (b *believed) about(out []Believed, target netip.Prefix, at time.Time) []Believed {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range b.byTarget[target] {
		if !e.At.After(at) {
			out = append(out, e)
		}
	}
	return out
}

// About appends to out what the source believed about target at or before
// at; nothing for a source of lines.
func (s *Source) About(out []Believed, target netip.Prefix, at time.Time) []Believed {
	if s.believed == nil {
		return out
	}
	return s.believed.about(out, target, at)
}
