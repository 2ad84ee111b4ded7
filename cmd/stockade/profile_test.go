package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestProfilesWritten: STOCKADE_CPUPROFILE and STOCKADE_MEMPROFILE give
// files go tool pprof reads (gzipped protocol buffers); an unwritable
// path is told, not fatal.
func TestProfilesWritten(t *testing.T) {
	dir := t.TempDir()
	cpu, mem := filepath.Join(dir, "cpu.prof"), filepath.Join(dir, "mem.prof")
	stop := startProfile(cpu)
	var sink [][]byte
	for i := range 1000 {
		sink = append(sink, make([]byte, 1024+i))
	}
	stop()
	writeAllocs(mem)
	for _, p := range []string{cpu, mem} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, []byte{0x1f, 0x8b}) {
			t.Errorf("%s: %d bytes, not a gzipped profile", filepath.Base(p), len(b))
		}
	}
	writeAllocs(filepath.Join(dir, "no", "such", "dir", "mem.prof")) // told on stderr
	_ = sink
}
