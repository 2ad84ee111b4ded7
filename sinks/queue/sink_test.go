package queue

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/internal/testkit"
	"github.com/stockade-ids/stockade/pipeline"
)

// fakeRemote is a Publisher whose availability the test controls. It
// records what it confirmed, in order.
type fakeRemote struct {
	mu      sync.Mutex
	got     []int
	calls   int
	failFor int // fail this many calls, then work
	partial int // when > 0, confirm only this many of each batch
	hang    bool
	closed  bool
	t       testing.TB
	batches []int       // size of each confirmed batch
	at      []time.Time // when each was published
	skip    func(*pipeline.Decision) bool
}

func (f *fakeRemote) Encode(d *pipeline.Decision) (Message, error) {
	if f.skip != nil && f.skip(d) {
		return Message{}, ErrSkip
	}
	return JSON(d)
}

func (f *fakeRemote) Publish(ctx context.Context, ds []Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.hang {
		f.mu.Unlock()
		<-ctx.Done()
		f.mu.Lock()
		return ctx.Err()
	}
	if f.calls <= f.failFor {
		return errors.New("connection refused")
	}
	if f.partial > 0 && len(ds) > f.partial {
		f.got = append(f.got, nums(f.t, ds[:f.partial])...)
		return &PartialError{Delivered: f.partial, Err: errors.New("timeout")}
	}
	f.got = append(f.got, nums(f.t, ds)...)
	f.batches = append(f.batches, len(ds))
	f.at = append(f.at, time.Now())
	return nil
}

func (f *fakeRemote) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}

func (f *fakeRemote) received() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int(nil), f.got...)
}

func fastRetry(t testing.TB) SinkConfig {
	return SinkConfig{Batch: 4, MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond, Log: testkit.Log(t)}
}

func closeSink(t testing.TB, s *Sink) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestSinkDelivers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		remote *fakeRemote
	}{
		{"remote up", &fakeRemote{}},
		{"remote down for a while", &fakeRemote{failFor: 5}},
		{"remote confirms part of each batch", &fakeRemote{partial: 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.remote.t = t
			q := open(t, t.TempDir(), Config{})
			s := NewSink(q, tc.remote, fastRetry(t))
			for i := 0; i < 30; i += 3 {
				if err := s.Write(t.Context(), testkit.Decisions(i, i+3)); err != nil {
					t.Fatal(err)
				}
			}
			testkit.WaitFor(t, "delivery", func() bool { return s.Depth() == 0 })
			if got := tc.remote.received(); !equal(got, testkit.Seq(0, 30)) {
				t.Fatalf("remote received %v, want 0..29 once each, in order", got)
			}
			if s.Delivered() != 30 || s.Failures() < uint64(tc.remote.failFor) || !s.Up() {
				t.Fatalf("delivered %d failures %d up %v", s.Delivered(), s.Failures(), s.Up())
			}
			closeSink(t, s)
			if !tc.remote.closed {
				t.Fatal("Close did not close the publisher")
			}
		})
	}
}

// TestSinkBacklogSurvivesRestart: the remote is down, decisions are
// written, stockade stops; the next start delivers them.
func TestSinkBacklogSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	down := &fakeRemote{failFor: 1 << 30, t: t}
	s := NewSink(open(t, dir, Config{}), down, fastRetry(t))
	if err := s.Write(t.Context(), testkit.Decisions(0, 10)); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "a failed attempt", func() bool { return s.Failures() > 0 })
	if s.Up() || s.Depth() != 10 || s.OldestAge(time.Now()) <= 0 {
		t.Fatalf("up %v depth %d age %v", s.Up(), s.Depth(), s.OldestAge(time.Now()))
	}
	start := time.Now()
	closeSink(t, s)
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Close with the remote down took %v", d)
	}

	up := &fakeRemote{t: t}
	s = NewSink(open(t, dir, Config{}), up, fastRetry(t))
	testkit.WaitFor(t, "the backlog", func() bool { return s.Depth() == 0 })
	if got := up.received(); !equal(got, testkit.Seq(0, 10)) {
		t.Fatalf("after restart the remote received %v", got)
	}
	closeSink(t, s)
}

// TestSinkCloseBounded: a Publish that hangs is cancelled when Close's ctx
// ends, and its decisions stay queued.
func TestSinkCloseBounded(t *testing.T) {
	dir := t.TempDir()
	r := &fakeRemote{hang: true, t: t}
	s := NewSink(open(t, dir, Config{}), r, fastRetry(t))
	s.Write(t.Context(), testkit.Decisions(0, 3))
	testkit.WaitFor(t, "the publish", func() bool { r.mu.Lock(); defer r.mu.Unlock(); return r.calls > 0 })
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Close took %v with a 50ms bound", d)
	}
	q := open(t, dir, Config{})
	if q.Depth() != 3 {
		t.Fatalf("depth after close %d, want 3", q.Depth())
	}
}

// TestSinkWriteDoesNotWait: with the remote down and the queue full,
// Write still returns at once under drop_oldest, keeping the newest.
func TestSinkWriteDoesNotWait(t *testing.T) {
	r := &fakeRemote{failFor: 1 << 30, t: t}
	s := NewSink(open(t, t.TempDir(), Config{Max: 10}), r, fastRetry(t))
	defer closeSink(t, s)
	start := time.Now()
	for i := 0; i < 100; i += 5 {
		if err := s.Write(t.Context(), testkit.Decisions(i, i+5)); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("20 writes took %v", d)
	}
	if s.Depth() != 10 || s.Dropped() != 90 {
		t.Fatalf("depth %d dropped %d, want 10 and 90", s.Depth(), s.Dropped())
	}
	if got := all(t, s.Queue()); !equal(got, testkit.Seq(90, 100)) {
		t.Fatalf("queue holds %v, want the newest ten", got)
	}
}

// TestSinkMinInterval: publishes are at least MinInterval apart, and what
// is written meanwhile goes out in one batch.
func TestSinkMinInterval(t *testing.T) {
	r := &fakeRemote{t: t}
	cfg := fastRetry(t)
	cfg.Batch, cfg.MinInterval = 100, 300*time.Millisecond
	s := NewSink(open(t, t.TempDir(), Config{}), r, cfg)
	defer closeSink(t, s)
	s.Write(t.Context(), testkit.Decisions(0, 1))
	testkit.WaitFor(t, "the first batch", func() bool { return len(r.received()) == 1 })
	for i := 1; i < 4; i++ {
		s.Write(t.Context(), testkit.Decisions(i, i+1))
	}
	testkit.WaitFor(t, "the second batch", func() bool { return len(r.received()) == 4 })
	r.mu.Lock()
	defer r.mu.Unlock()
	if fmt.Sprint(r.batches) != "[1 3]" || r.at[1].Sub(r.at[0]) < 250*time.Millisecond {
		t.Fatalf("batches %v, %v apart; want [1 3] at least 300ms apart", r.batches, r.at[1].Sub(r.at[0]))
	}
}

// TestSinkSkip: decisions the publisher does not want (ErrSkip) are left
// out without a word and without counting as dropped.
func TestSinkSkip(t *testing.T) {
	r := &fakeRemote{t: t, skip: func(d *pipeline.Decision) bool { return testkit.IDNum(t, d.ID)%2 == 1 }}
	s := NewSink(open(t, t.TempDir(), Config{}), r, fastRetry(t))
	defer closeSink(t, s)
	s.Write(t.Context(), testkit.Decisions(0, 6))
	testkit.WaitFor(t, "the even ones", func() bool { return len(r.received()) == 3 && s.Depth() == 0 })
	if got := r.received(); !equal(got, []int{0, 2, 4}) || s.Dropped() != 0 {
		t.Fatalf("remote got %v, dropped %d", got, s.Dropped())
	}
}
