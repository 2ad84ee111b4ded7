package store

import (
	"encoding/json"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

var t0 = time.Date(2025, 11, 8, 22, 0, 0, 0, time.UTC)

func save(t testing.TB, s *Store, i int) {
	target := netip.MustParsePrefix("203.0.113.7/32")
	ch := pipeline.Changes{
		Windows: []pipeline.WindowState{{Rule: "sshd", Addr: netip.MustParseAddr("198.51.100.1"), Times: []int64{int64(i)}, Evidence: []string{"line " + strconv.Itoa(i)}}},
		Targets: []pipeline.TargetState{{Target: target, Offenses: i, Records: []pipeline.BanRecord{{Rule: "sshd", Expires: t0.Add(time.Duration(i) * time.Hour)}}}},
	}
	off := map[string]json.RawMessage{"/var/log/auth.log": json.RawMessage(strconv.Itoa(i))}
	if err := s.Save(ch, off, t0.Add(time.Duration(i)*time.Second)); err != nil {
		t.Fatal(err)
	}
}

func TestSaveLoad(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	save(t, s, 3)
	// A window that fired is deleted; a target with no record and no
	// offense is deleted.
	if err := s.Save(pipeline.Changes{GoneWindows: []string{pipeline.WindowState{Rule: "sshd", Addr: netip.MustParseAddr("198.51.100.1")}.ID()}}, nil, t0); err != nil {
		t.Fatal(err)
	}
	st, bad, err := s.Load()
	if err != nil || bad != 0 {
		t.Fatal(err, bad)
	}
	if len(st.Windows) != 0 || len(st.Targets) != 1 || st.Targets[0].Offenses != 3 || string(st.Offsets["/var/log/auth.log"]) != "3" || !st.Clock.Equal(t0) {
		t.Fatalf("loaded %+v", st)
	}
	fi, err := os.Stat(s.Path())
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file mode %v", fi.Mode())
	}
	// A second daemon on the same directory is refused.
	if _, err := Open(dir); err == nil {
		t.Fatal("second Open succeeded")
	}
	s.Close()
}

// TestSurvivesKill9 kills a writer at random moments: the store must open
// afterwards and hold one whole save (window, target, offset and clock all
// from the same transaction), never a mix.
func TestSurvivesKill9(t *testing.T) {
	if os.Getenv("STOCKADE_STORE_CHILD") != "" {
		t.Skip("child")
	}
	dir := t.TempDir()
	for round := range 5 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestStoreWriterChild$")
		cmd.Env = append(os.Environ(), "STOCKADE_STORE_CHILD="+dir)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(150+round*70) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()

		s, err := Open(dir)
		if err != nil {
			t.Fatalf("round %d: reopen after kill -9: %v", round, err)
		}
		st, bad, err := s.Load()
		s.Close()
		if err != nil || bad != 0 {
			t.Fatalf("round %d: load: %v, %d bad entries", round, err, bad)
		}
		if len(st.Targets) == 0 {
			continue // killed before its first commit
		}
		i := st.Targets[0].Offenses
		off, _ := strconv.Atoi(string(st.Offsets["/var/log/auth.log"]))
		if len(st.Windows) != 1 || st.Windows[0].Times[0] != int64(i) || off != i || !st.Clock.Equal(t0.Add(time.Duration(i)*time.Second)) {
			t.Fatalf("round %d: torn state: offense %d, offset %d, window %+v, clock %v", round, i, off, st.Windows, st.Clock)
		}
		t.Logf("round %d: consistent at save %d", round, i)
	}
}

// TestStoreWriterChild is the writer TestSurvivesKill9 kills; it runs only
// as that child.
func TestStoreWriterChild(t *testing.T) {
	dir := os.Getenv("STOCKADE_STORE_CHILD")
	if dir == "" {
		t.Skip("runs only as TestSurvivesKill9's child")
	}
	var s *Store
	var err error
	for range 100 { // the previous child may still hold the lock briefly
		if s, err = Open(dir); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	st, _, _ := s.Load()
	i := 0
	if len(st.Targets) > 0 {
		i = st.Targets[0].Offenses
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		i++
		save(t, s, i)
	}
}

func BenchmarkSave(b *testing.B) {
	s, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		save(b, s, i)
	}
}

// TestKept: records kept beside the ledger are committed with it, deleted
// by a nil value, and still there after the database is reopened.
func TestKept(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SaveWith(pipeline.Changes{}, nil, t0, map[string][]byte{"a": []byte("1"), "b": []byte("2")}); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveWith(pipeline.Changes{}, nil, t0, map[string][]byte{"a": nil, "c": []byte("3")}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = Open(dir); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Kept()
	if err != nil || len(got) != 2 || string(got["b"]) != "2" || string(got["c"]) != "3" {
		t.Fatalf("kept %q, %v; want b=2 c=3", got, err)
	}
}
