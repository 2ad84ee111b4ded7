package store

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

// TestUpgradeFromStateDB: a state.db written by the stockade before the
// snapshot and log (testdata/state-v1.db, from its store) is upgraded in
// place: every window with its lines, the ban, the checkpoints, the kept
// records and the clock are there, state.db is kept as state.db.old, and
// a second start reads the new files.
func TestUpgradeFromStateDB(t *testing.T) {
	dir := t.TempDir()
	b, err := os.ReadFile("testdata/state-v1.db")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "state.db"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		s, err := Open(dir)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		st, bad, err := s.Load()
		if err != nil || bad != 0 {
			t.Fatalf("round %d: load: %v, %d bad", round, err, bad)
		}
		byID := map[string]pipeline.WindowState{}
		for _, w := range st.Windows {
			byID[w.ID()] = w
		}
		w := byID[pipeline.WindowState{Rule: "sshd", Addr: netip.MustParseAddr("198.51.100.1")}.ID()]
		if len(st.Windows) != 3 || len(w.Times) != 2 || len(w.Evidence) != 2 || !strings.Contains(w.Evidence[1], "port 2") {
			t.Fatalf("round %d: windows %+v", round, st.Windows)
		}
		if k := byID[pipeline.WindowState{Rule: "web", Key: "GET /wp-login.php"}.ID()]; len(k.Times) != 1 {
			t.Fatalf("round %d: the keyed window: %+v", round, k)
		}
		if len(st.Targets) != 1 || st.Targets[0].Offenses != 2 || st.Targets[0].RuleOffenses["sshd"] != 2 || len(st.Targets[0].Records) != 1 {
			t.Fatalf("round %d: targets %+v", round, st.Targets)
		}
		if len(st.Offsets) != 1 || !strings.Contains(string(st.Offsets["/var/log/auth.log\x000000000000000001"]), "4242") {
			t.Fatalf("round %d: offsets %q", round, st.Offsets)
		}
		if want := time.Date(2026, 11, 30, 10, 0, 2, 0, time.UTC); !st.Clock.Equal(want) {
			t.Fatalf("round %d: clock %v, want %v", round, st.Clock, want)
		}
		if kept, _ := s.Kept(); string(kept["applied/x"]) != "1" {
			t.Fatalf("round %d: kept %q", round, kept)
		}
		s.Close()
		if _, err := os.Stat(filepath.Join(dir, "state.db")); err == nil {
			t.Fatal("state.db is still there: the next start would upgrade it again")
		}
		if _, err := os.Stat(filepath.Join(dir, "state.db.old")); err != nil {
			t.Fatal("state.db.old:", err)
		}
	}
}

// savedTwice is a closed store's directory holding saves 1 and 2.
func savedTwice(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	save(t, s, 1)
	save(t, s, 2)
	s.Close()
	return dir
}

// TestTornLogEnd: whatever a crash leaves at the log's end (a record cut
// anywhere, garbage) is dropped at the next start with nothing before it,
// and the next save is read back.
func TestTornLogEnd(t *testing.T) {
	dir := savedTwice(t)
	logPath := filepath.Join(dir, logName)
	whole, _ := os.ReadFile(logPath)
	for cut := range []int{1, 5, 9, 20} {
		b := append([]byte(nil), whole...)
		b = append(b, whole[headerSize:headerSize+[]int{1, 5, 9, 20}[cut]]...) // a third save cut short
		if err := os.WriteFile(logPath, b, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		st, _, err := s.Load()
		if err != nil || len(st.Targets) != 1 || st.Targets[0].Offenses != 2 {
			t.Fatalf("cut %d: %v %+v", cut, err, st.Targets)
		}
		save(t, s, 3)
		s.Close()
		s, _ = Open(dir)
		if st, _, _ = s.Load(); st.Targets[0].Offenses != 3 {
			t.Fatalf("cut %d: the save after a torn end was lost: %+v", cut, st.Targets)
		}
		s.Close()
		os.WriteFile(logPath, whole, 0o600)
	}
}

// TestSnapshotCompacts: a log grown past the snapshot asks for a
// snapshot; after it the state reads the same, the log is empty, and a
// stale log left by a crash between the two renames is ignored.
func TestSnapshotCompacts(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	win := func(i int) pipeline.WindowState {
		return pipeline.WindowState{Rule: "sshd", Addr: netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}),
			Times: []int64{int64(i)}, Lines: []uint64{uint64(i + 1)}}
	}
	const n = 200_000
	var ch pipeline.Changes
	for i := range n {
		ch.Windows = append(ch.Windows, win(i))
		ch.Lines = append(ch.Lines, pipeline.EvidenceLine{Seq: uint64(i + 1), At: uint64(i * 10), Line: fmt.Sprintf("line %07d", i)})
	}
	ch.Next, ch.Bytes = n+1, n*10
	if err := s.Save(ch, nil, t0); err != nil {
		t.Fatal(err)
	}
	if !s.WantsSnapshot() {
		t.Fatalf("log %d B, snapshot %d B: no snapshot wanted", s.logSize, s.snapSize)
	}
	old, _ := os.ReadFile(filepath.Join(dir, logName))
	sn := NewSnapshot()
	for i := range n {
		w := win(i)
		sn.Window(&w)
	}
	sn.Lines(ch.Lines)
	sn.Stream(ch.Next, ch.Bytes)
	if err := s.SaveSnapshot(sn, pipeline.Changes{}, nil, t0, nil); err != nil {
		t.Fatal(err)
	}
	if s.WantsSnapshot() || s.logSize != headerSize {
		t.Fatalf("after the snapshot: log %d B", s.logSize)
	}
	t.Logf("%d windows: snapshot %d B, %.1f B a window with its line", n, s.snapSize, float64(s.snapSize)/n)
	s.Close()
	// The crash between the snapshot's rename and the new log's.
	if err := os.WriteFile(filepath.Join(dir, logName), old, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, bad, err := s.Load()
	if err != nil || bad != 0 || len(st.Windows) != n {
		t.Fatalf("after a snapshot: %v, %d bad, %d windows", err, bad, len(st.Windows))
	}
	for _, w := range st.Windows[:10] {
		if len(w.Evidence) != 1 || !strings.HasPrefix(w.Evidence[0], "line ") {
			t.Fatalf("window %+v", w)
		}
	}
}

// TestEngineRoundTrip: an engine's windows saved with their evidence by
// number and restored through LoadInto ban at the next failure quoting
// the lines the saved engine would have.
func TestEngineRoundTrip(t *testing.T) {
	p := &pipeline.Policy{ID: 0, Name: "sshd", Threshold: 3, Window: time.Hour, Ban: time.Hour, Evidence: 3}
	m := addrMatcher{p}
	e := pipeline.NewEngine(m, pipeline.Config{Origin: "t"})
	e.TrackChanges()
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		e.Process(failure("192.0.2.1", i))
		if err := s.Save(e.TakeChanges(), nil, e.Now()); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	r := pipeline.NewEngine(m, pipeline.Config{Origin: "t"})
	s, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rs := r.NewRestorer()
	st, bad, err := s.LoadInto(rs)
	if err != nil || bad != 0 {
		t.Fatal(err, bad)
	}
	rs.Targets(st.Targets, st.Clock)
	rs.Done(st.Clock)
	ds := r.Process(failure("192.0.2.1", 2))
	if len(ds) != 1 || len(ds[0].Evidence) != 3 || ds[0].Evidence[0] != failure("192.0.2.1", 0).Line {
		t.Fatalf("after the restart: %+v", ds)
	}
}

type addrMatcher struct{ p *pipeline.Policy }

func (m addrMatcher) Match(ev *pipeline.Event, hits []pipeline.Hit) []pipeline.Hit {
	return append(hits, pipeline.Hit{Policy: m.p, Target: ev.Addr})
}
func (m addrMatcher) Policies() []*pipeline.Policy { return []*pipeline.Policy{m.p} }

func failure(addr string, i int) *pipeline.Event {
	return &pipeline.Event{Time: t0.Add(time.Duration(i) * time.Second), Addr: netip.MustParseAddr(addr),
		Line: fmt.Sprintf("failure %d from %s", i, addr)}
}

// floodEngine is an engine tracking changes after one failure from each
// of n distinct addresses, an sshd rule quoting three lines.
func floodEngine(tb testing.TB, n int) *pipeline.Engine {
	p := &pipeline.Policy{ID: 0, Name: "sshd", Threshold: 5, Window: time.Hour, Ban: time.Hour, Evidence: 3}
	e := pipeline.NewEngine(addrMatcher{p}, pipeline.Config{Origin: "t", MaxWindows: 1_000_000})
	e.TrackChanges()
	ev := &pipeline.Event{Time: t0}
	for i := range n {
		ev.Addr = netip.AddrFrom4([4]byte{100, byte(64 + i>>16&63), byte(i >> 8), byte(i)})
		ev.Line = "Nov 30 10:00:00 web1 sshd[4242]: Failed password for invalid user admin from " + ev.Addr.String() + " port 50000 ssh2"
		e.Process(ev)
	}
	return e
}

// BenchmarkFloodCommit is the commit after a second of a flood of new
// addresses: 100,000 new windows taken from the engine and saved.
func BenchmarkFloodCommit(b *testing.B) {
	const n = 100_000
	s, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		e := floodEngine(b, n)
		b.StartTimer()
		if err := s.Save(e.TakeChanges(), nil, t0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/window")
}

// BenchmarkRestore is a start on a state of 200,000 windows: the
// snapshot read into a new engine.
func BenchmarkRestore(b *testing.B) {
	const n = 200_000
	dir := b.TempDir()
	s, err := Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	e := floodEngine(b, n)
	sn := NewSnapshot()
	lines, next, bytes := e.TakeState(sn.Window)
	sn.Lines(lines)
	sn.Stream(next, bytes)
	if err := s.SaveSnapshot(sn, e.TakeChanges(), nil, t0, nil); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(s.Size())/n, "file-B/window")
	s.Close()
	b.ReportAllocs()
	for b.Loop() {
		s, err := Open(dir)
		if err != nil {
			b.Fatal(err)
		}
		r := pipeline.NewEngine(e.Matcher(), pipeline.Config{Origin: "t", MaxWindows: 1_000_000})
		rs := r.NewRestorer()
		if _, _, err := s.LoadInto(rs); err != nil {
			b.Fatal(err)
		}
		rs.Done(t0)
		s.Close()
		if r.Counter().Len() != n {
			b.Fatalf("%d windows restored, want %d", r.Counter().Len(), n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/window")
}
