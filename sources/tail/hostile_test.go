package tail

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLongFirstLine: a file whose first line is 10 MB, written in pieces,
// is still detected from the lines after it and followed; the long line is
// counted as bad and never held whole.
func TestLongFirstLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.log")
	writeFile(t, path, "")
	h := start(t, Config{Globs: []string{path}})
	waitFor(t, "auth.log followed", func() bool { return len(h.tl.Stats()) == 1 })
	long := strings.Repeat("\x00garbage\xff", 1<<20) // 10 MB
	for i := 0; i < len(long); i += 2 << 20 {
		appendFile(t, path, long[i:min(i+2<<20, len(long))])
		time.Sleep(2 * testPoll)
	}
	appendFile(t, path, "\n"+strings.Repeat("y", 100<<10)+"\n"+authLines("a", 0, 3))
	evs := h.wait(3)
	checkLines(t, evs, map[string]int{"a": 3})
	fi, _ := os.Stat(path)
	st := h.stats(path)
	if st.Lines != 5 || st.Events != 3 || st.Bad["line too long"] != 2 || st.Offset != fi.Size() {
		t.Errorf("stats: %+v, size %d", st, fi.Size())
	}
}
