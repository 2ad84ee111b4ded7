package pipeline

// evidence keeps the raw lines that matched, for the decisions that quote
// them, in one bounded ring shared by every window: a window holds only the
// sequence numbers of its last few lines (8 bytes each) instead of copies
// of them. Matching a line costs a copy into the ring, no allocation; a ban
// copies its lines out. A flood of a million addresses keeps the ring at
// its size: the oldest lines are overwritten, and a window whose lines are
// gone quotes those it still finds (always the deciding line, written
// last).
type evidence struct {
	buf     []byte
	written uint64 // bytes ever written; buf holds the last len(buf) of them
	ents    []evidenceEntry
	seq     uint64 // the next line's number; 0 is never used
}

type evidenceEntry struct {
	seq, start uint64
	n          uint32
}

const (
	evidenceBytes   = 4 << 20
	evidenceLines   = 1 << 16
	maxEvidenceLine = 2048 // longer lines are quoted cut
)

// put stores line and returns its number.
func (r *evidence) put(line string) uint64 {
	if r.buf == nil {
		r.buf = make([]byte, evidenceBytes)
		r.ents = make([]evidenceEntry, evidenceLines)
		r.seq = 1
	}
	if len(line) > maxEvidenceLine {
		line = line[:maxEvidenceLine]
	}
	size := uint64(len(r.buf))
	pos := r.written % size
	if pos+uint64(len(line)) > size {
		// Never split a line across the end: skip to the start.
		r.written += size - pos
		pos = 0
	}
	copy(r.buf[pos:], line)
	seq := r.seq
	r.seq++
	r.ents[seq%uint64(len(r.ents))] = evidenceEntry{seq: seq, start: r.written, n: uint32(len(line))}
	r.written += uint64(len(line))
	return seq
}

// get returns a copy of line seq, if it was not overwritten since.
func (r *evidence) get(seq uint64) (string, bool) {
	if seq == 0 || r.ents == nil {
		return "", false
	}
	e := r.ents[seq%uint64(len(r.ents))]
	size := uint64(len(r.buf))
	if e.seq != seq || r.written > size && e.start < r.written-size {
		return "", false
	}
	pos := e.start % size
	return string(r.buf[pos : pos+uint64(e.n)]), true
}
