package pipeline

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"testing"
	"time"
)

// sliceIterator yields events from memory.
type sliceIterator struct {
	evs []Event
	i   int
}

func (s *sliceIterator) Next(ev *Event) error {
	if s.i == len(s.evs) {
		return io.EOF
	}
	c := ev.Captures
	*ev = s.evs[s.i]
	ev.Captures = c
	s.i++
	return nil
}

// programMatcher judges an event an offense of every policy named by its
// program ("any" policies see every event), by its Addr, and of the
// "spread" policy by its SrcAddr too: one line, two targets. Verb "pair"
// marks the line that announces a partner, "open" one that opens an
// attempt, "close" one that closes a connection, "x3" one that stands for
// three attempts.
type programMatcher struct{ ps []*Policy }

func (m *programMatcher) Match(ev *Event, hits []Hit) []Hit {
	for _, p := range m.ps {
		switch {
		case p.Name == "spread" && ev.SrcAddr.IsValid():
			hits = append(hits, Hit{Policy: p, Target: ev.SrcAddr})
		case p.Name == ev.Program && ev.Addr.IsValid():
			h := Hit{Policy: p, Target: ev.Addr, Pair: ev.Verb == "pair", Open: ev.Verb == "open", Close: ev.Verb == "close"}
			if ev.Verb == "x3" {
				h.Weight = 3
			}
			hits = append(hits, h)
		}
	}
	return hits
}
func (m *programMatcher) Policies() []*Policy              { return m.ps }
func (m *programMatcher) Concurrent(formats []Format) bool { return true }
func (m *programMatcher) Fork() Matcher                    { return m }

// recordingSink keeps every write apart, so that the writes themselves are
// compared, not only the decisions.
type recordingSink struct{ writes [][]Decision }

func (s *recordingSink) Write(_ context.Context, ds []Decision) error {
	s.writes = append(s.writes, append([]Decision(nil), ds...))
	return nil
}
func (s *recordingSink) Close(context.Context) error { return nil }

func testPolicies() []*Policy {
	esc := &Escalation{Factor: 2, Max: 24 * time.Hour}
	return []*Policy{
		{ID: 0, Name: "ssh", Pack: "t", Threshold: 3, Window: time.Minute, Ban: 10 * time.Minute, Escalate: esc, Evidence: 2,
			Connections: true, V6Count: 64},
		{ID: 1, Name: "web", Pack: "t", Threshold: 5, Window: 2 * time.Minute, Ban: time.Hour, Evidence: 1, V6Count: 56,
			Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}},
		{ID: 2, Name: "ids", Pack: "t", Threshold: 1, Ban: 5 * time.Minute, Escalate: esc, Evidence: 3},
		{ID: 3, Name: "spread", Pack: "t", Threshold: 2, Window: time.Minute, Ban: 2 * time.Minute},
		{ID: 4, Name: "slow", Pack: "t", Threshold: 4, Window: 24 * time.Hour, Ban: time.Hour, Evidence: 4},
	}
}

// randomLogs writes files lines of events over a few hours from a small
// pool of addresses: bans, escalations and expiries happen throughout;
// some lines are out of order, some share a timestamp, some alerts are
// logged in two files, some lines come in pairs from one process.
func randomLogs(seed uint64, files, lines, addrs, pad int) [][]Event {
	r := rand.New(rand.NewPCG(seed, 7))
	pool := make([]netip.Addr, addrs)
	for i := range pool {
		if i%7 == 0 {
			// A few /64s (and /56s) of many addresses each.
			pool[i] = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 7: byte(i % 5), 8: byte(i >> 8), 15: byte(i)})
		} else {
			pool[i] = netip.AddrFrom4([4]byte{203, byte(i >> 16), byte(i >> 8), byte(i)})
		}
	}
	pool[1] = netip.MustParseAddr("10.1.2.3")         // allowlisted for web
	pool[2] = netip.MustParseAddr("::ffff:203.0.0.9") // one target with pool[9]
	out := make([][]Event, files)
	t := make([]time.Time, files)
	for f := range t {
		t[f] = t0
	}
	programs := []string{"ssh", "web", "ids", "slow", "other"}
	for i := 0; i < lines*files; i++ {
		f := r.IntN(files)
		step := time.Duration(r.IntN(4000)) * time.Millisecond
		if r.IntN(10) == 0 {
			step = 0 // the same instant as the line before
		}
		t[f] = t[f].Add(step)
		at := t[f]
		if r.IntN(50) == 0 {
			at = at.Add(-time.Duration(r.IntN(300)) * time.Second) // written late
		}
		a := pool[min(r.IntN(len(pool)), r.IntN(len(pool)))] // some attack more
		ev := Event{Time: at, Source: fmt.Sprintf("log%d", f), Program: programs[r.IntN(len(programs))], Addr: a,
			Line: fmt.Sprintf("line %d of log%d from %s%*s", i, f, a, r.IntN(pad+1), "")}
		switch ev.Program {
		case "ids":
			ev.Fingerprint = uint64(r.IntN(5000)) + 1
			ev.Signature = "sig " + fmt.Sprint(ev.Fingerprint%7)
			if r.IntN(3) == 0 {
				ev.SrcAddr = pool[r.IntN(len(pool))]
			}
		case "ssh":
			ev.PID = 100 + r.IntN(4)
			ev.Host = "h"
			ev.Verb = []string{"pair", "", "", "open", "close", "x3"}[r.IntN(6)]
		}
		out[f] = append(out[f], ev)
		if ev.Fingerprint != 0 && r.IntN(2) == 0 {
			// The same alert in another log, a little later.
			g := (f + 1) % files
			cp := ev
			cp.Source = fmt.Sprintf("log%d", g)
			t[g] = t[g].Add(time.Duration(r.IntN(100)) * time.Millisecond)
			if cp.Time.After(t[g]) {
				t[g] = cp.Time
			}
			out[g] = append(out[g], cp)
		}
	}
	return out
}

type replayResult struct {
	writes   [][]Decision
	stats    []RuleStats
	counts   [7]uint64
	lastTick []Decision
}

func replayLogs(t *testing.T, logs [][]Event, cfg Config, workers int) replayResult {
	t.Helper()
	var its []Iterator
	for _, evs := range logs {
		its = append(its, &sliceIterator{evs: evs})
	}
	opt := ReplayOptions{Workers: workers}
	if len(logs) == 1 {
		opt.Formats = []Format{FormatFastLog} // the one log that replays in parallel alone
	}
	return replayIterators(t, its, cfg, opt, &programMatcher{testPolicies()})
}

// replayIterators replays its with opt and m and checks that a parallel
// replay was one (several workers).
func replayIterators(t *testing.T, its []Iterator, cfg Config, opt ReplayOptions, m Matcher) replayResult {
	t.Helper()
	e := NewEngine(m, cfg)
	sink := &recordingSink{}
	if opt.Workers > 1 && !e.concurrent(opt, len(its), len(its) == 1 && splitOf(its, opt.Workers)[0]) {
		t.Fatal("the replay runs on one goroutine: the test tests nothing")
	}
	if err := ReplayWith(t.Context(), e, its, sink, opt); err != nil {
		t.Fatal(err)
	}
	res := replayResult{writes: sink.writes, stats: e.Stats()}
	res.counts = [7]uint64{e.Events, e.Duplicates, e.SkewedDuplicates, uint64(e.Counter().Len()),
		e.Counter().Evicted, e.Counter().Overflow, uint64(e.Ledger().Len())}
	// The state left behind must be the same too: tick far ahead.
	res.lastTick = append([]Decision(nil), e.Tick(e.Now().Add(48*time.Hour))...)
	return res
}

// TestParallelReplayDecidesAsOne: a parallel replay writes the same
// decisions (ids, content, order, and the same writes) and leaves the
// engine in the same state as the single-threaded one, whatever the number
// of workers, with and without unbans, with the windows bounded or not.
func TestParallelReplayDecidesAsOne(t *testing.T) {
	for _, tc := range []struct {
		name         string
		lines, addrs int
		pad          int // longest padding of a line
		cfg          Config
	}{
		{"plain", 6000, 300, 0, Config{Origin: "t"}},
		{"unbans", 6000, 300, 0, Config{Origin: "t", EmitUnbans: true}},
		{"bounded windows", 6000, 300, 0, Config{Origin: "t", EmitUnbans: true, MaxWindows: 300}},
		{"allowlist", 6000, 300, 0, Config{Origin: "t", Allow: []netip.Prefix{netip.MustParsePrefix("203.0.0.0/26")}}},
		{"many addresses", 6000, 100_000, 0, Config{Origin: "t", EmitUnbans: true}},
		// More lines than the evidence ring keeps, in bytes and in
		// number: which lines a decision still quotes is decided alike.
		{"evidence overwritten", 25_000, 3000, 1000, Config{Origin: "t", Allow: []netip.Prefix{netip.MustParsePrefix("203.0.0.0/26")}}},
		// One log: its reader matches while the workers count.
		{"one log", 6000, 300, 0, Config{Origin: "t", EmitUnbans: true, MaxWindows: 300}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := 3
			if tc.name == "one log" {
				files = 1
			}
			logs := randomLogs(uint64(len(tc.name)), files, tc.lines, tc.addrs, tc.pad)
			want := replayLogs(t, logs, tc.cfg, 1)
			n := 0
			for _, w := range want.writes {
				n += len(w)
			}
			if n < 100 || len(want.lastTick) == 0 && tc.cfg.EmitUnbans {
				t.Fatalf("the corpus decides too little to test anything: %d decisions", n)
			}
			short := 0
			for _, w := range want.writes {
				for _, d := range w {
					if d.Rule == "slow" && len(d.Evidence) < 4 {
						short++
					}
				}
			}
			if tc.pad > 0 && short == 0 {
				t.Error("no decision lost evidence to the ring: the test tests nothing")
			}
			t.Logf("%d decisions in %d writes (%d short of evidence); stats %+v; counts %v", n, len(want.writes), short, want.stats, want.counts)
			for _, workers := range []int{2, 3, 8} {
				got := replayLogs(t, logs, tc.cfg, workers)
				if !reflect.DeepEqual(got.writes, want.writes) {
					t.Errorf("%d workers: the writes differ from one worker's\n%s", workers, firstDifference(got.writes, want.writes))
				}
				if !reflect.DeepEqual(got.stats, want.stats) || got.counts != want.counts {
					t.Errorf("%d workers: stats %+v %v, want %+v %v", workers, got.stats, got.counts, want.stats, want.counts)
				}
				if !reflect.DeepEqual(got.lastTick, want.lastTick) {
					t.Errorf("%d workers: the state left differs: %d unbans after, want %d", workers, len(got.lastTick), len(want.lastTick))
				}
			}
		})
	}
}

func firstDifference(got, want [][]Decision) string {
	for i := 0; i < min(len(got), len(want)); i++ {
		for j := 0; j < min(len(got[i]), len(want[i])); j++ {
			if !reflect.DeepEqual(got[i][j], want[i][j]) {
				return fmt.Sprintf("write %d, decision %d:\n got %+v\nwant %+v", i, j, got[i][j], want[i][j])
			}
		}
		if len(got[i]) != len(want[i]) {
			return fmt.Sprintf("write %d: %d decisions, want %d", i, len(got[i]), len(want[i]))
		}
	}
	return fmt.Sprintf("%d writes, want %d", len(got), len(want))
}

// TestParallelReplayFallsBack: rules that need the whole engine at once
// replay on one goroutine, and decide the same.
func TestParallelReplayFallsBack(t *testing.T) {
	e := NewEngine(addrMatcher{&Policy{Name: "r", Threshold: 1, Ban: time.Hour}}, Config{})
	if e.concurrent(ReplayOptions{Workers: 4}, 2, false) {
		t.Error("a matcher that cannot fork replays in parallel")
	}
	e = NewEngine(&programMatcher{testPolicies()}, Config{})
	if !e.concurrent(ReplayOptions{Workers: 4}, 2, false) {
		t.Error("a concurrent matcher replays on one goroutine")
	}
	if e.concurrent(ReplayOptions{Workers: 1}, 2, false) {
		t.Error("one worker replays in parallel")
	}
	if !e.concurrent(ReplayOptions{Workers: 4, Formats: []Format{FormatFastLog}}, 1, false) {
		t.Error("one fast.log replays on one goroutine: its counting could run beside its matching")
	}
	for _, f := range []Format{FormatUnknown, FormatSyslog, FormatNginx, FormatEve} {
		if e.concurrent(ReplayOptions{Workers: 4, Formats: []Format{f}}, 1, false) {
			t.Errorf("one %s log replays in parallel: its reader does most of the work, the hand-offs would only add to it", f)
		}
	}
	if e.concurrent(ReplayOptions{Workers: 4}, 0, false) {
		t.Error("no log at all replays in parallel")
	}
	ps := append(testPolicies(), &Policy{ID: 5, Name: "range", Threshold: 2, Window: time.Hour, Ban: time.Hour, Range: &RangeSpec{V4Bits: 24}})
	e = NewEngine(&programMatcher{ps}, Config{})
	if e.concurrent(ReplayOptions{Workers: 4}, 2, false) {
		t.Error("a range rule replays in parallel")
	}
}
