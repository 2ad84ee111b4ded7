package pipeline

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"reflect"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// chunkedIterator is a Splitter over events in memory, in chunks of size
// events. Every third chunk does not stand the first time it settles, as
// a chunk whose parser guessed: it is decoded again.
type chunkedIterator struct {
	sliceIterator
	size    int
	chunks  int
	redone  atomic.Int32
	failAt  int // > 0: the chunk's Next fails at this event of the file
	settled int // events settled so far, to check the order
}

type eventChunk struct {
	it       *chunkedIterator
	from, to int
	i        int
	n        int // chunk number
	tries    int
}

func (s *chunkedIterator) NextChunk() (Chunk, error) {
	if s.i == len(s.evs) {
		return nil, io.EOF
	}
	c := &eventChunk{it: s, from: s.i, to: min(len(s.evs), s.i+s.size), n: s.chunks}
	c.i = c.from
	s.i, s.chunks = c.to, s.chunks+1
	return c, nil
}

func (c *eventChunk) Next(ev *Event) error {
	if c.i == c.to {
		return io.EOF
	}
	if c.it.failAt > 0 && c.i == c.it.failAt {
		return errors.New("broken chunk")
	}
	cp := ev.Captures
	*ev = c.it.evs[c.i]
	ev.Captures = cp
	c.i++
	return nil
}

func (c *eventChunk) Settle() bool {
	if c.it.settled != c.from {
		panic(fmt.Sprintf("chunk %d settles at event %d, after %d", c.n, c.from, c.it.settled))
	}
	if c.n%3 == 1 && c.tries == 0 {
		c.tries++
		c.i = c.from
		c.it.redone.Add(1)
		return false
	}
	c.it.settled = c.to
	return true
}

func (c *eventChunk) Release() {}

// TestSplitReplayDecidesAsOne: a log read in chunks decoded on several
// goroutines, some decoded again when they settle, decides what one
// goroutine does, alone and beside other logs (fewer than the workers).
func TestSplitReplayDecidesAsOne(t *testing.T) {
	cfg := Config{Origin: "t", EmitUnbans: true, MaxWindows: 300}
	for _, tc := range []struct {
		name  string
		files int
		size  int
	}{
		{"one log", 1, 100},
		{"one log, large chunks", 1, 5000},
		{"one log, chunks of one", 1, 1},
		{"three logs", 3, 250},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs := randomLogs(uint64(len(tc.name)), tc.files, 6000, 300, 0)
			its := func(size int) ([]Iterator, []*chunkedIterator) {
				var its []Iterator
				var cs []*chunkedIterator
				for _, evs := range logs {
					c := &chunkedIterator{sliceIterator: sliceIterator{evs: evs}, size: size}
					its, cs = append(its, c), append(cs, c)
				}
				return its, cs
			}
			one, _ := its(tc.size)
			want := replayIterators(t, one, cfg, ReplayOptions{Workers: 1}, &programMatcher{testPolicies()})
			for _, workers := range []int{2, 8} {
				if tc.files >= workers {
					continue
				}
				split, cs := its(tc.size)
				got := replayIterators(t, split, cfg, ReplayOptions{Workers: workers}, &programMatcher{testPolicies()})
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%d workers: the replay differs from one goroutine's\n%s", workers, firstDifference(got.writes, want.writes))
				}
				for i, c := range cs {
					if c.chunks > 1 && c.redone.Load() == 0 {
						t.Errorf("log %d: no chunk was decoded again", i)
					}
				}
			}
		})
	}
}

// TestSplitReplayFails: a chunk that fails to decode ends the replay with
// its error, and no goroutine is left behind waiting.
func TestSplitReplayFails(t *testing.T) {
	logs := randomLogs(7, 1, 20000, 300, 0)
	before := runtime.NumGoroutine()
	for _, at := range []int{1, 150, 19999} {
		it := &chunkedIterator{sliceIterator: sliceIterator{evs: logs[0]}, size: 100, failAt: at}
		e := NewEngine(&programMatcher{testPolicies()}, Config{Origin: "t"})
		done := make(chan error, 1)
		go func() {
			done <- ReplayWith(t.Context(), e, []Iterator{it}, &recordingSink{}, ReplayOptions{Workers: 2})
		}()
		select {
		case err := <-done:
			if err == nil || err.Error() != "broken chunk" {
				t.Errorf("failing at event %d: %v, want the chunk's error", at, err)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("failing at event %d: the replay did not end within 20 s", at)
		}
	}
	// The replay's goroutines end before it returns; the test's own
	// may take a moment to be gone.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines left, %d before", n, before)
	}
}

// sessionMatcher is programMatcher with a rule that keeps state between
// lines, as a fail2ban filter joining a session's lines does: an "ids"
// event of a source hits the address of that source's previous "ids"
// event, so its hits depend on every such event before it, in order, and
// on which of them were duplicates (never judged).
type sessionMatcher struct {
	programMatcher
	last   map[string]netip.Addr
	forked bool
}

func newSessionMatcher() *sessionMatcher {
	ps := testPolicies()
	for _, p := range ps {
		if p.Name == "ids" {
			p.Name = "session"
		}
	}
	return &sessionMatcher{programMatcher: programMatcher{ps}, last: map[string]netip.Addr{}}
}

func (m *sessionMatcher) Match(ev *Event, hits []Hit) []Hit {
	if ev.Program != "ids" {
		return m.programMatcher.Match(ev, hits)
	}
	if m.forked {
		panic("a fork judged an event of a rule that keeps state")
	}
	if prev, ok := m.last[ev.Source]; ok && prev != ev.Addr {
		hits = append(hits, Hit{Policy: m.ps[2], Target: prev})
	}
	m.last[ev.Source] = ev.Addr
	return hits
}

func (m *sessionMatcher) Concurrent([]Format) bool      { return false }
func (m *sessionMatcher) ConcurrentApart([]Format) bool { return true }
func (m *sessionMatcher) Stateful([]Format) bool        { return true }
func (m *sessionMatcher) Sequential(ev *Event) bool     { return ev.Program == "ids" }
func (m *sessionMatcher) Fork() Matcher {
	return &sessionMatcher{programMatcher: m.programMatcher, last: map[string]netip.Addr{}, forked: true}
}

// inOrderCases are the parallel replays the in-order tests compare with
// one goroutine's: several logs, one log in chunks, several in chunks.
var inOrderCases = []struct {
	name    string
	files   int
	chunked bool
}{
	{"three logs", 3, false},
	{"one log in chunks", 1, true},
	{"two logs in chunks", 2, true},
}

// logIterators reads each log whole, or in chunks of 300 events.
func logIterators(logs [][]Event, chunked bool) []Iterator {
	var its []Iterator
	for _, evs := range logs {
		if chunked {
			its = append(its, &chunkedIterator{sliceIterator: sliceIterator{evs: evs}, size: 300})
		} else {
			its = append(its, &sliceIterator{evs: evs})
		}
	}
	return its
}

// TestSequentialRulesReplayInOrder: with a rule that keeps state between
// lines, a parallel replay (of several logs, of one log in chunks) judges
// the events it may see in the merge's order, after de-duplication, and
// decides what one goroutine does.
func TestSequentialRulesReplayInOrder(t *testing.T) {
	cfg := Config{Origin: "t", EmitUnbans: true}
	for _, tc := range inOrderCases {
		t.Run(tc.name, func(t *testing.T) {
			logs := randomLogs(uint64(len(tc.name)), tc.files, 8000, 300, 0)
			its := func() []Iterator { return logIterators(logs, tc.chunked) }
			want := replayIterators(t, its(), cfg, ReplayOptions{Workers: 1}, newSessionMatcher())
			if want.stats[2].Matches == 0 || want.stats[2].Bans == 0 {
				t.Fatalf("the rule that keeps state decided nothing: %+v", want.stats[2])
			}
			for _, workers := range []int{2, 4} {
				got := replayIterators(t, its(), cfg, ReplayOptions{Workers: workers}, newSessionMatcher())
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%d workers: the replay differs from one goroutine's\n%s", workers, firstDifference(got.writes, want.writes))
				}
			}
		})
	}
}

// distinctMatcher is programMatcher with a rule whose predicate reads
// what distinct() remembers, on the engine's own goroutine: an "ids"
// event hits its address once that address showed three signatures
// within ten minutes. A fork leaves such events to the merge (Deferred).
type distinctMatcher struct {
	programMatcher
	state     StateView
	seen      []Sighting
	forked    bool
	deferred  bool
	deferrals *atomic.Int64
	asked     *atomic.Int64 // Sequential's calls
}

func (m *distinctMatcher) Match(ev *Event, hits []Hit) []Hit {
	m.seen, m.deferred = m.seen[:0], false
	if ev.Program != "ids" || !ev.Addr.IsValid() {
		return m.programMatcher.Match(ev, hits)
	}
	if m.forked {
		m.deferred = true
		m.deferrals.Add(1)
		return hits
	}
	key, value := ev.Addr.String(), ev.Signature
	n := m.state.Distinct(key, value, 10*time.Minute, nil)
	m.seen = append(m.seen, Sighting{Key: key, Value: value})
	if n >= 3 {
		hits = append(hits, Hit{Policy: m.ps[2], Target: ev.Addr})
	}
	return hits
}

func (m *distinctMatcher) SetState(v StateView)          { m.state = v }
func (m *distinctMatcher) Sightings() []Sighting         { return m.seen }
func (m *distinctMatcher) Deferred() bool                { return m.deferred }
func (m *distinctMatcher) Concurrent([]Format) bool      { return false }
func (m *distinctMatcher) ConcurrentApart([]Format) bool { return true }
func (m *distinctMatcher) Stateful([]Format) bool        { return false }
func (m *distinctMatcher) Sequential(*Event) bool {
	m.asked.Add(1)
	return false
}
func (m *distinctMatcher) Fork() Matcher {
	return &distinctMatcher{programMatcher: m.programMatcher, forked: true, deferrals: m.deferrals, asked: m.asked}
}

// TestDeferredRulesReplayInOrder: with a rule whose predicate reads
// distinct() (web-wp-scan's), a parallel replay (of several logs, of one
// log in chunks) matches on forks, which defer the events of that rule,
// and the merge judges them in order with the clock and the distinct
// values Replay would have there: the same decisions, writes and state
// as one goroutine's.
func TestDeferredRulesReplayInOrder(t *testing.T) {
	cfg := Config{Origin: "t", EmitUnbans: true}
	for _, tc := range inOrderCases {
		t.Run(tc.name, func(t *testing.T) {
			logs := randomLogs(uint64(len(tc.name)), tc.files, 8000, 300, 0)
			its := func() []Iterator { return logIterators(logs, tc.chunked) }
			matcher := func() *distinctMatcher {
				return &distinctMatcher{programMatcher: programMatcher{testPolicies()}, deferrals: new(atomic.Int64), asked: new(atomic.Int64)}
			}
			want := replayIterators(t, its(), cfg, ReplayOptions{Workers: 1}, matcher())
			if want.stats[2].Matches == 0 || want.stats[2].Bans == 0 {
				t.Fatalf("the rule that reads distinct() decided nothing: %+v", want.stats[2])
			}
			for _, workers := range []int{2, 4} {
				m := matcher()
				got := replayIterators(t, its(), cfg, ReplayOptions{Workers: workers}, m)
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%d workers: the replay differs from one goroutine's\n%s", workers, firstDifference(got.writes, want.writes))
				}
				if m.deferrals.Load() == 0 {
					t.Errorf("%d workers: no fork deferred an event: the test tests nothing", workers)
				}
				// No rule keeps state between lines (Stateful): no line
				// is worth asking Sequential about.
				if n := m.asked.Load(); n != 0 {
					t.Errorf("%d workers: Sequential asked of %d events", workers, n)
				}
			}
		})
	}
}
