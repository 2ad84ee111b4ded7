package pipeline

import (
	"fmt"
	"strings"
	"testing"
)

func TestEvidenceRing(t *testing.T) {
	var r evidence
	first := r.put("Failed password for root from 203.0.113.7 port 22 ssh2")
	if got, ok := r.get(first); !ok || got != "Failed password for root from 203.0.113.7 port 22 ssh2" {
		t.Fatalf("get: %q %v", got, ok)
	}
	if _, ok := r.get(0); ok {
		t.Fatal("line 0 exists")
	}
	long := strings.Repeat("x", 3*maxEvidenceLine)
	if got, _ := r.get(r.put(long)); len(got) != maxEvidenceLine {
		t.Fatalf("a long line is quoted with %d bytes, want %d", len(got), maxEvidenceLine)
	}
	// Fill more than the ring holds, in bytes: the first line goes, the
	// recent ones stay, and every line that is returned is the one put.
	var seqs []uint64
	for i := 0; i < 2*evidenceBytes/1000; i++ {
		seqs = append(seqs, r.put(fmt.Sprintf("%04d %s", i%10000, strings.Repeat("y", 995))))
	}
	if _, ok := r.get(first); ok {
		t.Fatal("a line overwritten long ago is still returned")
	}
	for i, s := range seqs[len(seqs)-100:] {
		got, ok := r.get(s)
		want := fmt.Sprintf("%04d %s", (len(seqs)-100+i)%10000, strings.Repeat("y", 995))
		if !ok || got != want {
			t.Fatalf("recent line %d: %q %v", i, got[:10], ok)
		}
	}
	// More lines than entries: old numbers are refused, not mistaken.
	for i := 0; i < evidenceLines+10; i++ {
		r.put("z")
	}
	if _, ok := r.get(seqs[len(seqs)-1]); ok {
		t.Fatal("a line whose entry was reused is still returned")
	}
}

func BenchmarkEvidencePut(b *testing.B) {
	var r evidence
	line := "2025-11-08T22:01:00.000000+00:00 web1 sshd[4198]: Failed password for root from 203.0.113.10 port 41000 ssh2"
	b.ReportAllocs()
	for b.Loop() {
		r.put(line)
	}
}
