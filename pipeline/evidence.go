package pipeline

import (
	"slices"
)

// evidence keeps the raw lines that matched, for the decisions that quote
// them, in one bounded ring shared by every window: a window holds only the
// numbers of its last few lines (8 bytes each) instead of copies of them.
// Matching a line costs a copy into the ring, no allocation; a ban copies
// its lines out. A flood of a million addresses keeps the ring at its size:
// old lines are overwritten, and a window whose lines are gone quotes those
// it still finds (always the deciding line, written last).
//
// Which lines are still there is decided by the stream of hits, not by the
// ring: every hit the engine counts (whether it stores a line or not) gets
// the next number, and a line is kept while fewer than evidenceLines hits
// and evidenceBytes of their lines came after it. A parallel replay's
// workers each write only their own hits' lines, in a ring of their own,
// numbered from that one stream (the merge numbers the hits); a ring holds
// at least what the stream keeps, so every worker quotes exactly the lines
// one engine would. And one ring written in order, rather than a ring per
// partition, keeps the writes sequential: sixty-four rings written in turn
// cost a cache miss a line.
type evidence struct {
	// The hit stream: the next hit's number (from 1) and the bytes of the
	// lines of the hits before it.
	next, bytes uint64

	buf     []byte
	written uint64 // bytes ever written; buf holds the last len(buf) of them
	ents    []evidenceEntry
	last    uint64 // where the last line written starts
}

type evidenceEntry struct {
	seq, bytes uint64 // the hit's number and its place in the stream
	start      uint64 // where it was written
	n          uint32
}

const (
	evidenceBytes   = 4 << 20
	evidenceLines   = 1 << 16
	maxEvidenceLine = 2048 // longer lines are quoted cut
	// The ring holds evidenceBytes of lines and the room a line that does
	// not fit at the end leaves there, twice over.
	evidenceRing = evidenceBytes + 2*maxEvidenceLine
)

func quoted(line string) string {
	if len(line) > maxEvidenceLine {
		return line[:maxEvidenceLine]
	}
	return line
}

// hit numbers the next hit of the stream; line is its line.
func (r *evidence) hit(line string) uint64 {
	if r.next == 0 {
		r.next = 1
	}
	seq := r.next
	r.next++
	r.bytes += uint64(len(quoted(line)))
	return seq
}

// put numbers a hit and stores its line; it returns the hit's number.
func (r *evidence) put(line string) uint64 {
	at := r.bytes
	seq := r.hit(line)
	r.store(seq, at, quoted(line))
	return seq
}

// store writes line, the line of hit seq that came at byte at of the
// stream.
func (r *evidence) store(seq, at uint64, line string) {
	if r.buf == nil {
		r.buf = make([]byte, evidenceRing)
		r.ents = make([]evidenceEntry, evidenceLines)
	}
	size := uint64(len(r.buf))
	if n := uint64(len(line)); n > 0 && r.last+n == r.written {
		// A line several rules hit (a scanner's request is a hit of two
		// or three) is written once: its hits' entries share it. What the
		// stream keeps is decided by next and bytes, which count every
		// hit, so this keeps exactly the lines it did.
		if p := r.last % size; UnsafeString(r.buf[p:p+n]) == line {
			r.ents[seq%evidenceLines] = evidenceEntry{seq: seq, bytes: at, start: r.last, n: uint32(n)}
			return
		}
	}
	pos := r.written % size
	if pos+uint64(len(line)) > size {
		// Never split a line across the end: skip to the start.
		r.written += size - pos
		pos = 0
	}
	copy(r.buf[pos:], line)
	r.last = r.written
	r.ents[seq%evidenceLines] = evidenceEntry{seq: seq, bytes: at, start: r.written, n: uint32(len(line))}
	r.written += uint64(len(line))
}

// get returns a copy of the line of hit seq, if the stream still keeps it.
func (r *evidence) get(seq uint64) (string, bool) {
	b, _, ok := r.line(seq)
	if !ok {
		return "", false
	}
	return string(b), true
}

// line is the line of hit seq in the ring, and its entry, if the stream
// still keeps it.
func (r *evidence) line(seq uint64) ([]byte, evidenceEntry, bool) {
	if seq == 0 || seq >= r.next || r.ents == nil || r.next-seq > evidenceLines {
		return nil, evidenceEntry{}, false
	}
	e := r.ents[seq%evidenceLines]
	size := uint64(len(r.buf))
	if e.seq != seq || r.bytes-e.bytes > evidenceBytes || r.written-e.start > size {
		return nil, evidenceEntry{}, false
	}
	pos := e.start % size
	return r.buf[pos : pos+uint64(e.n)], e, true
}

// clone returns a copy, for a worker that needs the lines of the windows
// it is given.
func (r *evidence) clone() evidence {
	c := *r
	c.buf, c.ents = slices.Clone(r.buf), slices.Clone(r.ents)
	return c
}

// merge rebuilds r from rings written by workers over one stream, whose
// position is now next and bytes: the lines it still keeps, in order.
//
// It runs once a parallel replay's workers are done, on one goroutine,
// while nothing else does: the lines are copied from ring to ring, with no
// string of their own, in one walk over the numbers the stream can still
// keep (a hit is in one worker's ring; a line the engine held before the
// split is in all of them, and kept once), with nothing to sort.
func (r *evidence) merge(rings []*evidence, next, bytes uint64) {
	for _, g := range rings {
		g.next, g.bytes = next, bytes
	}
	*r = evidence{next: next, bytes: bytes}
	from := uint64(1)
	if next > evidenceLines {
		from = next - evidenceLines
	}
	for seq := from; seq < next; seq++ {
		for _, g := range rings {
			if line, e, ok := g.line(seq); ok {
				r.store(seq, e.bytes, UnsafeString(line))
				break
			}
		}
	}
}

// since returns the lines the stream still keeps from hit from on, in
// order, their text in one string.
func (r *evidence) since(from uint64) []EvidenceLine {
	from = max(from, 1)
	if r.next > evidenceLines {
		from = max(from, r.next-evidenceLines)
	}
	out := make([]EvidenceLine, 0, r.next-min(from, r.next))
	size := 0
	for seq := from; seq < r.next; seq++ {
		if b, e, ok := r.line(seq); ok {
			size += len(b)
			out = append(out, EvidenceLine{Seq: seq, At: e.bytes})
		}
	}
	text := make([]byte, 0, size)
	for _, l := range out {
		b, _, _ := r.line(l.Seq)
		text = append(text, b...)
	}
	all, at := UnsafeString(text), 0 // text is not written again
	for i := range out {
		_, e, _ := r.line(out[i].Seq)
		out[i].Line = all[at : at+int(e.n)]
		at += int(e.n)
	}
	return out
}
