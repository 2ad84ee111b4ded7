package store

import (
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

// sighted is vals as a distinct() key's values.
func sighted(vals map[string]int64) []pipeline.Sighted {
	var out []pipeline.Sighted
	for v, t := range vals {
		out = append(out, pipeline.Sighted{Value: v, At: t})
	}
	return out
}

// loadDistinct opens dir and returns what distinct() saw, by key.
func loadDistinct(t *testing.T, dir string) map[string]map[string]int64 {
	t.Helper()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, bad, err := s.Load()
	if err != nil || bad != 0 {
		t.Fatalf("load: %v, %d bad", err, bad)
	}
	out := map[string]map[string]int64{}
	for _, d := range st.Distinct {
		out[d.Key] = map[string]int64{}
		for _, v := range d.Values {
			out[d.Key][v.Value] = v.At
		}
	}
	return out
}

// TestDistinctSaved: what distinct() saw (the sensors that banned a
// target) is read back after a save to the log, after a snapshot, and
// once a key is forgotten it stays forgotten through both.
func TestDistinctSaved(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	a := map[string]int64{"web1": t0.UnixNano(), "web2": t0.Add(time.Minute).UnixNano()}
	b := map[string]int64{"ids1": t0.UnixNano()}
	ch := pipeline.Changes{Distinct: []pipeline.DistinctState{{Key: "203.0.113.5", Values: sighted(a)}, {Key: "203.0.113.6", Values: sighted(b)}}}
	if err := s.Save(ch, nil, t0); err != nil {
		t.Fatal(err)
	}
	s.Close()
	got := loadDistinct(t, dir)
	if len(got) != 2 || !maps.Equal(got["203.0.113.5"], a) || !maps.Equal(got["203.0.113.6"], b) {
		t.Fatalf("from the log: %v", got)
	}

	// Forgotten in the log, then a snapshot of what is left.
	s, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Save(pipeline.Changes{Distinct: []pipeline.DistinctState{{Key: "203.0.113.6"}}}, nil, t0); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveSnapshot(NewSnapshot(), pipeline.Changes{}, nil, t0, nil); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if fi, err := os.Stat(filepath.Join(dir, logName)); err != nil || fi.Size() != headerSize {
		t.Fatalf("the log after the snapshot: %v, %v (want an empty log)", fi, err)
	}
	got = loadDistinct(t, dir)
	if len(got) != 1 || !maps.Equal(got["203.0.113.5"], a) {
		t.Fatalf("from the snapshot: %v", got)
	}
}

// TestReadsFormat2: a state written by the stockade before distinct()
// was saved (format 2, testdata/state-v2 from its store: a window, a ban,
// a checkpoint, a kept record) is read whole, its files are marked format
// 3 (an older stockade refuses them by version rather than skip records
// it cannot read), and what distinct() sees from then on is saved.
func TestReadsFormat2(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{snapName, logName} {
		b, err := os.ReadFile(filepath.Join("testdata", "state-v2", n))
		if err != nil {
			t.Fatal(err)
		}
		if b[versionAt] != 2 {
			t.Fatalf("%s is format %d, not 2: the test shows nothing", n, b[versionAt])
		}
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, bad, err := s.Load()
	if err != nil || bad != 0 {
		t.Fatalf("load: %v, %d bad", err, bad)
	}
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	if len(st.Windows) != 1 || st.Windows[0].Addr != netip.MustParseAddr("198.51.100.7") || len(st.Windows[0].Evidence) != 1 {
		t.Fatalf("windows %+v", st.Windows)
	}
	if len(st.Targets) != 1 || len(st.Targets[0].Records) != 1 || string(st.Offsets["f"]) != `{"offset":42}` || !st.Clock.Equal(at) || len(st.Distinct) != 0 {
		t.Fatalf("state %+v", st)
	}
	if kept, _ := s.Kept(); string(kept["k"]) != "v" {
		t.Fatalf("kept %q", kept)
	}
	vals := map[string]int64{"web1": at.UnixNano()}
	if err := s.Save(pipeline.Changes{Distinct: []pipeline.DistinctState{{Key: "203.0.113.5", Values: sighted(vals)}}}, nil, at); err != nil {
		t.Fatal(err)
	}
	s.Close()
	for _, n := range []string{snapName, logName} {
		b, _ := os.ReadFile(filepath.Join(dir, n))
		if b[versionAt] != formatVersion {
			t.Errorf("%s still format %d", n, b[versionAt])
		}
	}
	if got := loadDistinct(t, dir); !maps.Equal(got["203.0.113.5"], vals) {
		t.Fatalf("distinct after the upgrade: %v", got)
	}
}

// TestRefusesNewerFormat: a state of a newer format is refused whole, by
// its version.
func TestRefusesNewerFormat(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	p := filepath.Join(dir, snapName)
	b, _ := os.ReadFile(p)
	b[versionAt] = formatVersion + 1
	os.WriteFile(p, b, 0o600)
	s, err = Open(dir)
	if err == nil {
		_, _, err = s.Load()
		s.Close()
	}
	if err == nil {
		t.Fatal("a state of format 4 was read")
	}
}
