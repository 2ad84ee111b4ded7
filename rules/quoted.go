package rules

import (
	"strings"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/rules/regex"
)

// quotedMemo remembers what the line's scan found in the quoted user
// agents it last read (see Set.readLine). The user agent is most of an
// access line (a browser's is a hundred bytes of the line's two
// hundred, where the scan stops at "on", "OS", "Ma" of the literals
// that hold them), and a log's agents repeat: a site's visitors come
// with a few browsers, a scanner with its one agent, address after
// address. A look-up costs a hash, a compare and the replay of what it
// found.
//
// What it answers is what the scan found in the same text, where: the
// literals that lie wholly inside it, at the same places from its
// start, and whether it is ASCII. It is a Set's own, bounded
// (quotedSlots × memoLen bytes and the slots, made at the first use);
// a flood of distinct agents only scans each, as without it, plus a
// hash and a copy.
type quotedMemo struct {
	texts textSlots
	slots []quotedSlot
	// occ collects what a scan of a text found, for its slot; rec is
	// record, bound at the first use (a method value made on every
	// scan would be an allocation).
	occ []quotedFind
	rec func(id int32, start, end int)
}

type quotedSlot struct {
	n     int8 // finds in occ; -1: more than fit, the text is scanned
	ascii bool
	occ   [quotedFinds]quotedFind
}

// quotedFind is a literal the scan found, where it lies in the text.
type quotedFind struct {
	id         int32
	start, end uint8 // the text is at most memoLen bytes
}

const (
	quotedSlots = 512
	// quotedFinds is more than an ordinary agent holds of the line's
	// literals (none; a scanner's its name, once): an agent with more
	// is scanned every time.
	quotedFinds = 6
)

// noQuote reports whether no literal of lits holds a double quote: a
// quote in the line then bounds every literal the line holds (see
// Set.readLine).
func noQuote(lits []string) bool {
	for _, l := range lits {
		if strings.IndexByte(l, '"') >= 0 {
			return false
		}
	}
	return true
}

// quoted returns where the user agent of ev lies in its line, between
// the quotes the line has on each side of it, and whether it does: a
// text the line's scan can read apart from the rest of the line (see
// Set.readLine). The quotes are read in the line, not taken from the
// parser's word: whatever the parser made of the line, a literal with
// no quote cannot lie across one.
func quoted(ev *pipeline.Event) (lo, hi int, ok bool) {
	ua, line := ev.UserAgent, ev.Line
	if len(ua) < 16 || len(ua) > memoLen {
		return 0, 0, false
	}
	if lo, ok = span(ua, line); !ok {
		return 0, 0, false
	}
	hi = lo + len(ua)
	if lo == 0 || hi >= len(line) || line[lo-1] != '"' || line[hi] != '"' {
		return 0, 0, false
	}
	return lo, hi, true
}

// find calls mark with each literal of m's that lies wholly in text, at
// its place in the line (text starts at base), from the memo when it
// holds text, and reports whether text is ASCII (see regex.Multi.Scan).
func (qm *quotedMemo) find(m *regex.Multi, text string, base int, mark func(id int32, start, end int)) bool {
	if qm.slots == nil {
		qm.slots = make([]quotedSlot, quotedSlots)
		qm.rec = qm.record
	}
	i, held := qm.texts.slot(text, quotedSlots)
	sl := &qm.slots[i]
	if !held {
		qm.occ = qm.occ[:0]
		ascii := m.Scan(text, qm.rec)
		sl.ascii, sl.n = ascii, -1
		if len(qm.occ) <= quotedFinds {
			sl.n = int8(copy(sl.occ[:], qm.occ))
		}
	} else if sl.n < 0 {
		qm.occ = qm.occ[:0]
		m.Scan(text, qm.rec)
	}
	occ := qm.occ
	if sl.n >= 0 {
		occ = sl.occ[:sl.n]
	}
	for _, f := range occ {
		mark(f.id, base+int(f.start), base+int(f.end))
	}
	return sl.ascii
}

func (qm *quotedMemo) record(id int32, start, end int) {
	qm.occ = append(qm.occ, quotedFind{id: id, start: uint8(start), end: uint8(end)})
}
