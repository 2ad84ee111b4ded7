// Package golden compares a test's output with a golden file under
// testdata, and rewrites the file instead when the test runs with -update
// (go test ./... -update): one flag and one comparison for every package.
package golden

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// update is the one -update flag of every test binary that compares with
// golden files; it is set once, by the test's command line.
var update = flag.Bool("update", false, "rewrite golden files with the output of the tests")

// Update reports whether the tests run with -update.
func Update() bool { return *update }

// Check compares got with the golden file at path. Under -update it writes
// got there instead (creating its directory), and the test passes.
func Check(t testing.TB, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (go test -update rewrites it if the change is intended):\n%s", path, Diff(want, got))
	}
}

// maxShown bounds the lines Diff shows: enough to see what changed.
const maxShown = 10

// Diff shows the first lines that differ between want and got.
func Diff(want, got []byte) string {
	w, g := strings.Split(string(want), "\n"), strings.Split(string(got), "\n")
	var b strings.Builder
	shown := 0
	for i := 0; i < max(len(w), len(g)) && shown < maxShown; i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			shown++
			b.WriteString("line " + strconv.Itoa(i+1) + ":\n  want " + wl + "\n  got  " + gl + "\n")
		}
	}
	return b.String()
}
