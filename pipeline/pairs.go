package pipeline

import (
	"net/netip"
	"strings"
	"time"
)

// PairWindow is how long a line marked Hit.Pair waits for its partner from
// the same process. sshd logs "Failed password" 2-3 s after pam_unix's
// failure line (PAM's fail delay); 10 s leaves room for a loaded host.
const PairWindow = 10 * time.Second

// ConnWindow is how long after a connection's last counted line a line
// marked Hit.Close is taken to close that connection: sshd's
// LoginGraceTime (120 s by default) bounds an unauthenticated one.
const ConnWindow = 2 * time.Minute

type pairKey struct {
	policy  int
	addr    netip.Addr
	pid     int
	host    string
	program string
}

// paired reports whether h is one more line about an attempt that already
// counted, by the same process (a connection) about the same address:
//   - a line right after a line marked Pair (within PairWindow), unless it
//     is marked Pair itself: pam_unix's failure, then sshd's "Failed
//     password" for the same attempt;
//   - a line right after a line marked Open, unless it is marked Open
//     itself: "Invalid user", then the pam_unix and "Failed password"
//     lines of its password; a Pair line that follows it so keeps the
//     attempt open ("Invalid user", "Failed none", pam_unix, "Failed
//     password" are one attempt);
//   - a line marked Close after any line of the connection (within
//     ConnWindow): the close or the summary of attempts counted already.
//
// A line marked Pair counts when nothing announced it, so a PAM failure
// that sshd never follows up still counts, and so does each of a run of
// PAM failures whose sshd lines went to another log. A line marked Open
// always counts: sshd logs it once per connection. A Close line counts
// when the connection logged nothing else. Only policies with
// Connections set are followed.
//
// Connections are kept per partition of their address, like windows, and
// old ones are dropped when a partition's maps have doubled: when that
// happens depends only on the partition's own lines.
func (e *Engine) paired(h Hit, part int, target netip.Addr, ev *Event) bool {
	if ev.PID == 0 || !h.Policy.Connections {
		return false
	}
	pp := &e.pairs[part]
	k := pairKey{policy: h.Policy.ID, addr: target, pid: ev.PID, host: ev.Host, program: ev.Program}
	wk, slotted := makeConnSlot(h.Policy.ID, target, ev.PID)
	ts := ev.Time.UnixNano()
	if slotted && pp.waits != nil && pp.len()-1 < pp.sweepAt {
		// The connection's next line, from the same host and program, with
		// no sweep due: what take and put below would do, in its slot.
		if s, ok := pp.waits.get(&wk); ok && pp.names[s.host] == k.host && pp.names[s.program] == k.program {
			same := follows(h, s.waiting(pp.names), ts)
			s.at, s.kind = ts, nextKind(h, same)
			return same
		}
	}
	same := false
	if w, ok := pp.take(k, wk, slotted); ok {
		same = follows(h, w, ts)
	}
	if pp.waits == nil {
		pp.waits, pp.sweepAt, pp.names = &connTable{}, sweepMin, []string{""}
	}
	if pp.len() >= pp.sweepAt {
		pp.sweep(ts)
	}
	pp.put(k, wk, slotted, ts, nextKind(h, same))
	return same
}

// follows reports whether h, at ts, is one more line of the attempt the
// connection's last line w counted (see paired).
func follows(h Hit, w waiting, ts int64) bool {
	d := ts - w.at
	switch {
	case h.Close:
		return d >= 0 && d <= int64(ConnWindow)
	case h.Open:
		return false
	case h.Pair:
		return w.kind == openedBy && d >= 0 && d <= int64(PairWindow)
	}
	return w.kind != closed && d >= 0 && d <= int64(PairWindow)
}

// nextKind is what h says of the connection's next line.
func nextKind(h Hit, same bool) lineKind {
	switch {
	case h.Open, h.Pair && same:
		// The attempt is still open: its "Failed password" is to come.
		return openedBy
	case h.Pair:
		return pairedBy
	}
	return closed
}

// pairPart is one partition of the connections followed, each under its
// rule, address, process, host and program: in waits by the first three
// (a key of fixed size, cheap to hash) with the host and program by
// number, and in more when another line from another host or program is
// kept under them (rare: two hosts' logs in one file, the same pid), or
// when its names or its pid do not fit a slot.
type pairPart struct {
	waits     *connTable
	more      map[pairKey]waiting
	sweepAt   int
	fullSwept int64 // log time of the last sweep of a full partition
	// names holds a copy of each host and program name kept, so that a
	// connection costs no copy of its own (a log has a few of each), and
	// a slot names them by number: names[0] is "".
	names   []string
	nameIDs map[string]uint16
}

// maxNames bounds a partition's names: past it, a name is copied for
// its connection alone (a log that names thousands of hosts).
const maxNames = 256

// intern returns a copy of s that does not alias the line buffer, and its
// number, if it has one.
func (pp *pairPart) intern(s string) (string, uint16, bool) {
	if s == "" {
		return "", 0, true
	}
	if id, ok := pp.nameIDs[s]; ok {
		return pp.names[id], id, true
	}
	c := strings.Clone(s)
	if len(pp.names) > maxNames {
		return c, 0, false
	}
	if pp.nameIDs == nil {
		pp.nameIDs = map[string]uint16{}
	}
	id := uint16(len(pp.names))
	pp.names = append(pp.names, c)
	pp.nameIDs[c] = id
	return c, id, true
}

// waiting is a connection's last line.
type waiting struct {
	host, program string
	at            int64 // unix ns
	kind          lineKind
}

// lineKind is what a connection's last line says of the next one.
type lineKind uint8

const (
	closed   lineKind = iota // nothing: the next line is another attempt
	pairedBy                 // Hit.Pair: the next line, unless Pair, is its partner
	openedBy                 // Hit.Open: the next line is its partner
)

func (pp *pairPart) len() int {
	if pp.waits == nil {
		return len(pp.more)
	}
	return pp.waits.len() + len(pp.more)
}

// take removes the connection kept under k (wk in waits, when slotted),
// if there is one, and returns its last line.
func (pp *pairPart) take(k pairKey, wk connSlot, slotted bool) (waiting, bool) {
	if pp.waits == nil {
		return waiting{}, false
	}
	if s, ok := pp.waits.get(&wk); slotted && ok && pp.names[s.host] == k.host && pp.names[s.program] == k.program {
		w := s.waiting(pp.names)
		pp.waits.del(s)
		return w, true
	}
	if w, ok := pp.more[k]; ok {
		delete(pp.more, k)
		return w, true
	}
	return waiting{}, false
}

// put keeps the connection's last line, at ts, under k (which take found
// empty).
func (pp *pairPart) put(k pairKey, wk connSlot, slotted bool, ts int64, kind lineKind) {
	w := waiting{at: ts, kind: kind}
	if pp.len() >= maxConnsPerPart {
		// Sweep a full partition at most every ConnWindow/8 of log time:
		// sweeping on every line of a flood would cost a pass over the
		// partition per line.
		if w.at-pp.fullSwept > int64(ConnWindow/8) {
			pp.sweep(w.at)
			pp.fullSwept = w.at
		}
		if pp.len() >= maxConnsPerPart {
			// A flood of connections from many addresses: this one is not
			// followed, so its next line counts as an attempt of its own,
			// as every line did before connections were followed. Counting
			// more never lets an attacker off; an unbounded map would let
			// one exhaust memory (a million addresses in ten seconds held
			// 190 MB for ConnWindow).
			return
		}
	}
	host, hid, hok := pp.intern(k.host)
	program, pid, pok := pp.intern(k.program)
	if _, ok := pp.waits.get(&wk); slotted && hok && pok && !ok {
		wk.host, wk.program, wk.at, wk.kind = hid, pid, ts, kind
		pp.waits.put(wk)
		return
	}
	w.host, w.program = host, program
	if pp.more == nil {
		pp.more = map[pairKey]waiting{}
	}
	k.host, k.program = w.host, w.program
	pp.more[k] = w
}

// maxConnsPerPart bounds the connections followed per partition: 4,096 of
// 64 partitions, about 260,000 connections and 30 MB at most.
const maxConnsPerPart = 4096

// sweep drops the connections whose last line is older than ConnWindow
// before ts.
func (pp *pairPart) sweep(ts int64) {
	pp.waits.sweep(ts)
	for k, w := range pp.more {
		if ts-w.at > int64(ConnWindow) {
			delete(pp.more, k)
		}
	}
	pp.sweepAt = max(sweepMin, 2*pp.len())
}
