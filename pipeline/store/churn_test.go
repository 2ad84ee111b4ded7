package store

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/stockade-ids/stockade/pipeline"
)

// BenchmarkSaveChurn is the daemon's steady state under a flood of new
// addresses (the soak's): a store holding 300,000 windows, and each commit
// adding 2,000 windows and deleting the 2,000 oldest. It reports the state
// files' size per live window: the log's growth is bounded by the
// snapshots the daemon writes when the store asks (here, of the windows
// quoting their lines in full, as a state upgraded from state.db does).
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
		if s.WantsSnapshot() {
			// What the daemon does: the engine's whole state.
			sn := NewSnapshot()
			for i := max(0, next-live); i < next; i++ {
				w := win(i)
				sn.Window(&w)
			}
			if err := s.SaveSnapshot(sn, pipeline.Changes{}, nil, t0, nil); err != nil {
				b.Fatal(err)
			}
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
	b.ReportMetric(float64(s.Size())/live, "file-B/window")
}
