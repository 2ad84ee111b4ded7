package sources

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSplitProgress: a plain file read in place counts each byte it reads
// once. The head read to detect its format is not the workers' reading;
// counted with it, a split replay's progress passed the file's size.
func TestSplitProgress(t *testing.T) {
	var b strings.Builder
	for i := 0; b.Len() < 3*chunkSize; i++ {
		fmt.Fprintf(&b, "Nov  8 22:%02d:%02d host sshd[%d]: Failed password for root from 203.0.113.%d port 22 ssh2\n", i/60%60, i%60, 100+i%7, i%250)
	}
	path := filepath.Join(t.TempDir(), "auth.log")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	readChunked(t, f)
	if read, size := f.Progress(); read != size {
		t.Errorf("progress after reading in place: %d of %d bytes", read, size)
	}
}
