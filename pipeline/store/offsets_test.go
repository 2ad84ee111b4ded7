package store

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"testing"

	"github.com/stockade-ids/stockade/pipeline"
)

// TestOffsetsSavedAsChanges: a daemon following 5,000 logs hands every
// save the whole set of their checkpoints, and one log was written to.
// The save writes that one checkpoint, not 5,000 (700 KB a save, about a
// second apart, measured with the daemon); what is read back is the whole
// set, a checkpoint gone included, after a snapshot too.
func TestOffsetsSavedAsChanges(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Load(); err != nil {
		t.Fatal(err)
	}
	cps := map[string]json.RawMessage{}
	for i := range 5000 {
		k := fmt.Sprintf("/var/www/site%d/access.log\x00%016x", i, i)
		cps[k] = json.RawMessage(fmt.Sprintf(`{"Path":"/var/www/site%d/access.log","Fingerprint":%d,"Offset":%d}`, i, i, 1000+i))
	}
	logSize := func() int64 {
		fi, err := os.Stat(filepath.Join(dir, logName))
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	if err := s.Save(pipeline.Changes{}, cps, t0); err != nil {
		t.Fatal(err)
	}
	first := logSize()
	want := maps.Clone(cps)
	want["/var/www/site7/access.log\x000000000000000007"] = json.RawMessage(`{"Path":"/var/www/site7/access.log","Fingerprint":7,"Offset":5555}`)
	delete(want, "/var/www/site8/access.log\x000000000000000008")
	if err := s.Save(pipeline.Changes{}, want, t0); err != nil {
		t.Fatal(err)
	}
	if grew := logSize() - first; grew > 512 {
		t.Errorf("a save with one checkpoint moved and one gone wrote %d bytes (the first save of 5,000: %d)", grew, first)
	}
	// Nothing moved: nothing of the checkpoints is written.
	before := logSize()
	if err := s.Save(pipeline.Changes{}, maps.Clone(want), t0); err != nil {
		t.Fatal(err)
	}
	if grew := logSize() - before; grew > 64 {
		t.Errorf("a save with no checkpoint moved wrote %d bytes", grew)
	}
	s.Close()

	check := func(when string) {
		t.Helper()
		s, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		st, bad, err := s.Load()
		if err != nil || bad != 0 {
			t.Fatalf("%s: load: %v, %d bad", when, err, bad)
		}
		if !maps.EqualFunc(st.Offsets, want, func(a, b json.RawMessage) bool { return string(a) == string(b) }) {
			t.Fatalf("%s: %d checkpoints read back, want %d (site7: %s; site8 there: %v)", when, len(st.Offsets), len(want),
				st.Offsets["/var/www/site7/access.log\x000000000000000007"], st.Offsets["/var/www/site8/access.log\x000000000000000008"] != nil)
		}
	}
	check("from the log")
	s, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Load(); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveSnapshot(NewSnapshot(), pipeline.Changes{}, want, t0, nil); err != nil {
		t.Fatal(err)
	}
	s.Close()
	check("from a snapshot")
}
