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

// evidenceSplit writes lines into one ring and, as a parallel replay
// does, into workers rings cloned from what that ring held before: hits
// numbered by one stream, each stored by one worker.
func evidenceSplit(workers, before, after int) (whole *evidence, rings []*evidence, next, bytes uint64) {
	whole = &evidence{}
	line := func(i int) string { return fmt.Sprintf("line %d %s", i, strings.Repeat("w", i%1500)) }
	for i := range before {
		whole.put(line(i))
	}
	for range workers {
		c := whole.clone()
		rings = append(rings, &c)
	}
	stream := whole.clone()
	for i := before; i < before+after; i++ {
		l := line(i)
		if i%5 == 0 {
			// A hit whose line is not stored (allowlisted, paired):
			// numbered all the same.
			whole.hit(l)
			stream.hit(l)
			continue
		}
		seq := whole.put(l)
		at := stream.bytes
		stream.hit(l)
		rings[(i*7)%workers].store(seq, at, quoted(l))
	}
	return whole, rings, stream.next, stream.bytes
}

// TestEvidenceMerge: rings written by workers over one stream, merged,
// keep exactly the lines one ring written in order keeps, under the same
// numbers, whether the stream overran the ring's lines or bytes or not,
// and whatever the ring held before the split.
func TestEvidenceMerge(t *testing.T) {
	for _, tc := range []struct{ before, after int }{
		{0, 1000}, {3000, 1000}, {0, evidenceLines + 5000}, {20_000, 30_000},
	} {
		whole, rings, next, bytes := evidenceSplit(3, tc.before, tc.after)
		var got evidence
		got.merge(rings, next, bytes)
		if got.next != whole.next || got.bytes != whole.bytes {
			t.Fatalf("%+v: stream at %d/%d, want %d/%d", tc, got.next, got.bytes, whole.next, whole.bytes)
		}
		kept := 0
		for seq := uint64(1); seq < whole.next; seq++ {
			w, wok := whole.get(seq)
			g, gok := got.get(seq)
			if wok != gok || w != g {
				t.Fatalf("%+v: line %d: merged %v %.20q, one ring %v %.20q", tc, seq, gok, g, wok, w)
			}
			if wok {
				kept++
			}
		}
		if kept == 0 {
			t.Fatalf("%+v: no line kept: the test tests nothing", tc)
		}
	}
}

func BenchmarkEvidenceMerge(b *testing.B) {
	_, rings, next, bytes := evidenceSplit(2, 0, evidenceLines+1000)
	b.ReportAllocs()
	for b.Loop() {
		var r evidence
		r.merge(rings, next, bytes)
	}
}

// TestEvidenceSharedLine: the hits of several rules on one line store it
// once, and every hit still quotes it, for as long as the stream keeps
// it (each hit counts its bytes in the stream, as a copy would), and as
// long as a copy of its own would have lasted.
func TestEvidenceSharedLine(t *testing.T) {
	var r evidence
	line := "203.0.113.9 - - [01/Nov/2025:00:00:00 +0000] \"GET /.env HTTP/1.1\" 404 153 \"-\" \"zgrab\""
	var seqs []uint64
	for range 3 {
		seqs = append(seqs, r.put(line))
	}
	if r.written != uint64(len(line)) {
		t.Fatalf("three hits of one line wrote %d bytes, want %d", r.written, len(line))
	}
	if r.bytes != 3*uint64(len(line)) {
		t.Fatalf("the stream counts %d bytes, want %d", r.bytes, 3*len(line))
	}
	other := r.put("another line") // breaks the run: the same text after it is written again
	again := r.put(line)
	for _, s := range append(seqs, again) {
		if got, ok := r.get(s); !ok || got != line {
			t.Fatalf("hit %d quotes %q (%v), want the line", s, got, ok)
		}
	}
	if got, _ := r.get(other); got != "another line" {
		t.Fatalf("hit %d quotes %q", other, got)
	}
	// The stream drops the shared line when it would have dropped a copy:
	// evidenceBytes of later hits' lines.
	filler := strings.Repeat("x", 1000)
	for r.bytes-uint64(3*len(line)) <= evidenceBytes {
		r.put(filler)
	}
	for _, s := range seqs {
		if _, ok := r.get(s); ok {
			t.Fatalf("hit %d still quoted after %d bytes of later lines", s, r.bytes)
		}
	}
}
