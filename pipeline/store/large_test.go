package store

import (
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

// bigTargets is n targets whose JSON is each over 3,000 bytes: a
// history of ten bans, each reason quoting what the rule said.
func bigTargets(n int) []pipeline.TargetState {
	reason := strings.Repeat("x", 300)
	ts := make([]pipeline.TargetState, n)
	for i := range ts {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		ts[i] = pipeline.TargetState{Target: netip.PrefixFrom(a, 32), Offenses: 10}
		for k := range 10 {
			ts[i].History = append(ts[i].History, pipeline.HistoryEntry{At: t0.Add(time.Duration(k) * time.Hour), Action: "ban",
				Rule: "sshd", Reason: reason, Expires: t0.Add(time.Duration(k+1) * time.Hour), Offense: k + 1})
		}
	}
	return ts
}

// TestLargeCommitLoads saves over 64 MB of banned targets (22,000 with
// ten bans each in their history: a busy server's month) in one commit
// to the log, then in one snapshot, and every one must load again. With
// records bounded at 64 MB as read, the log's commit was read as a torn
// end and dropped without a word (and every commit after it), and the
// snapshot as corrupt: the daemon refused to start.
func TestLargeCommitLoads(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("writes 70 MB of targets twice: one goroutine, left to the plain run")
	}
	const n = 22_000
	window := pipeline.WindowState{Rule: "sshd", Addr: netip.MustParseAddr("198.51.100.1"), Times: []int64{1}, Evidence: []string{"line"}}
	for _, snapshot := range []bool{false, true} {
		dir := t.TempDir()
		s, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		// With a window, a commit goes to the log, not to a snapshot.
		ch := pipeline.Changes{Targets: bigTargets(n), Windows: []pipeline.WindowState{window}}
		if snapshot {
			err = s.SaveSnapshot(NewSnapshot(), ch, nil, t0, nil)
		} else {
			err = s.Save(ch, nil, t0)
		}
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		s, err = Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		st, bad, err := s.Load()
		s.Close()
		if err != nil || bad != 0 {
			t.Fatalf("snapshot %v: load: %v, %d bad", snapshot, err, bad)
		}
		if len(st.Targets) != n || len(st.Windows) != 1 {
			t.Errorf("snapshot %v: %d targets and a window saved, %d and %d loaded", snapshot, n, len(st.Targets), len(st.Windows))
		}
	}
}

// TestLargeKeptLoads: a firewall remembers, as kept records, what it
// applied per origin and target (enforce's memory): 500,000 of them,
// about what a few origins' blocklists of 262,144 entries make, are
// about 75 MB. Saved in one snapshot they must load again; before, the
// snapshot held them in one record, read back as corrupt, and the
// firewall refused to start.
func TestLargeKeptLoads(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("writes 75 MB of kept records: one goroutine, left to the plain run")
	}
	const n = 500_000
	kept := make(map[string][]byte, n)
	val := []byte(`{"at":"2025-11-08T22:00:00Z","ids":["0123456789abcdef0123456789abcdef"],"forget":"2025-11-15T22:00:00Z","pad":"` + strings.Repeat("p", 32) + `"}`)
	for i := range n {
		kept["seen/sensor-"+strconv.Itoa(i%4)+"\x00"+netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}).String()] = val
	}
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SaveSnapshot(NewSnapshot(), pipeline.Changes{}, nil, t0, kept); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = Open(dir); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Kept()
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if len(got) != len(kept) {
		t.Fatalf("%d kept records saved, %d loaded", len(kept), len(got))
	}
}

// TestCorruptLengthAllocatesNothing appends to the log a frame whose
// length says 4 GB: the reader must take it for the torn end it is,
// without allocating what it says (the file holds a few bytes more).
func TestCorruptLengthAllocatesNothing(t *testing.T) {
	dir := savedTwice(t)
	f, err := os.OpenFile(filepath.Join(dir, logName), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5, 6})
	f.Close()

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, bad, err := s.Load()
	runtime.ReadMemStats(&after)
	if err != nil || bad != 0 || len(st.Targets) != 1 || st.Targets[0].Offenses != 2 {
		t.Fatalf("load after a corrupt length: %v, %d bad, %+v", err, bad, st.Targets)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
		t.Errorf("loading allocated %d MB", grew>>20)
	}
	save(t, s, 3) // over the torn end
	s.Close()
}
