package pipeline

import "testing"

// TestBatchesStartWholeOnceFilled: a supply's new batches start small
// until one of them is filled, and whole after.
func TestBatchesStartWholeOnceFilled(t *testing.T) {
	p := NewBatches(1024, 1)
	a, b := p.Get(), p.Get()
	if cap(a.Events) != 64 || cap(b.Events) != 64 {
		t.Fatalf("new batches hold %d and %d events, want a sixteenth of 1024", cap(a.Events), cap(b.Events))
	}
	for range 1024 {
		a.Events = append(a.Events, Event{})
	}
	a.Release() // kept
	b.Release() // not kept: one is
	if got := p.Get(); got != a || len(got.Events) != 0 {
		t.Fatal("the kept batch was not handed out again, empty")
	}
	if c := p.Get(); cap(c.Events) != 1024 {
		t.Errorf("after a batch was filled, a new one holds %d events, want 1024", cap(c.Events))
	}
}
