package store

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/stockade-ids/stockade/pipeline"
)

// BenchmarkSaveChurn is the daemon's steady state under a flood of new
// addresses (the soak's): a store holding 300,000 windows, and each commit
// adding 2,000 windows and deleting the 2,000 oldest. It reports the state
// file's size per live window, which shows whether freed pages are reused.
func BenchmarkSaveChurn(b *testing.B) {
	const live, per = 300_000, 2_000
	dir := b.TempDir()
	s, err := Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	win := func(i int) pipeline.WindowState {
		a := netip.AddrFrom4([4]byte{100, byte(64 + i>>16&63), byte(i >> 8), byte(i)})
		return pipeline.WindowState{Rule: "sshd/sshd", Addr: a, Times: []int64{int64(i) * 1e6},
			Evidence: []string{fmt.Sprintf("2026-11-30T10:00:00.000000+00:00 web1 sshd[4242]: Failed password for invalid user admin from %s port 50000 ssh2", a)}}
	}
	next := 0
	commit := func(gone int) {
		var ch pipeline.Changes
		for range per {
			ch.Windows = append(ch.Windows, win(next))
			next++
		}
		for i := gone; i < gone+per && i >= 0; i++ {
			ch.GoneWindows = append(ch.GoneWindows, win(i).ID())
		}
		if err := s.Save(ch, nil, t0); err != nil {
			b.Fatal(err)
		}
	}
	for next < live {
		commit(-1)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		commit(next - live)
	}
	b.StopTimer()
	fi, err := os.Stat(filepath.Join(dir, "state.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(fi.Size())/live, "file-B/window")
}
