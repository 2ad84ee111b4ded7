package filter

// The buffer fail2ban's regexes search (the lines joined, with a final
// newline), and what a match of a fail2ban regex yields: its groups, and
// the lines it covers.

import (
	"slices"
	"strings"
	"unsafe"

	"github.com/stockade-ids/stockade/rules/regex"
)

func joinTuples(ts []tupleLine) string {
	var b strings.Builder
	for i, t := range ts {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(t.pre)
		b.WriteString(t.post)
	}
	b.WriteByte('\n')
	return b.String()
}

func tupleTexts(ts []tupleLine) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.pre + t.date + t.post
	}
	return out
}

func firstMatch(res []*regex.Regex, text string) int {
	for i, re := range res {
		if re.Match(text) {
			return i
		}
	}
	return -1
}

// groupSet is what reading a regex's groups into a failure's dict needs,
// worked out once per regex rather than per match: which groups are
// named and their slots, which are <SKIPLINES>, and the alt_ groups in
// name order with the slot each fills.
//
// read is fail2ban's getGroups: every named group that took part, with
// the alt_ groups filling their base name when it is empty (alt_user_1
// for user). A group that did not take part (None) is left out of the
// dict, as every reader takes a missing group for None, but for the
// <SKIPLINES> groups, whose numbering splitMatched follows.
type groupSet struct {
	named []int
	slot  []int  // by position in named
	skip  []bool // by position in named
	alts  []altGroup
	// plain: no alt_ group and no name twice, so the groups can be read
	// straight into another dict (see pmatch.mergeInto).
	plain bool
}

type altGroup struct{ slot, base int }

func groupSetOf(f *regex.Regex, sl *slots) groupSet {
	gs := groupSet{plain: true}
	seen := map[string]bool{}
	type alt struct {
		name string
		altGroup
	}
	var alts []alt
	for i, name := range f.Names {
		if name == "" {
			continue
		}
		gs.named = append(gs.named, i)
		gs.slot = append(gs.slot, sl.slot(name))
		gs.skip = append(gs.skip, strings.HasPrefix(name, "skiplines"))
		if seen[name] {
			gs.plain = false
		}
		seen[name] = true
		if base, ok := altBase(name); ok {
			alts = append(alts, alt{name, altGroup{slot: sl.slot(name), base: sl.slot(base)}})
			gs.plain = false
		}
	}
	// In name order, each once: an alt_ group fills its base only when
	// the base is still empty, so the first in order wins.
	slices.SortFunc(alts, func(a, b alt) int { return strings.Compare(a.name, b.name) })
	alts = slices.CompactFunc(alts, func(a, b alt) bool { return a.name == b.name })
	for _, a := range alts {
		gs.alts = append(gs.alts, a.altGroup)
	}
	return gs
}

// read is getGroups over a match m of buf, into g (cleared; a value per
// slot).
func (gs *groupSet) read(buf string, m []int, g []value) {
	clear(g)
	for j, i := range gs.named {
		if 2*i+1 >= len(m) {
			continue
		}
		if m[2*i] >= 0 {
			g[gs.slot[j]] = value{s: buf[m[2*i]:m[2*i+1]], set: true, in: true}
		} else if gs.skip[j] {
			g[gs.slot[j]] = value{in: true}
		}
	}
	for _, a := range gs.alts {
		if v := g[a.slot]; v.truthy() && !g[a.base].truthy() {
			g[a.base] = v
		}
	}
}

// trimNumberSuffix drops a "_N" suffix (alt_user_1 is user).
func trimNumberSuffix(s string) string {
	i := strings.LastIndexByte(s, '_')
	if i <= 0 || i == len(s)-1 {
		return s
	}
	for _, c := range s[i+1:] {
		if c < '0' || c > '9' {
			return s
		}
	}
	return s[:i]
}

// splitMatched is fail2ban's Regex.search bookkeeping: the lines of the
// buffer the match covers (less those <SKIPLINES> skipped), and the rest.
func splitMatched(buf string, m []int, org []tupleLine, groups []value, skiplines []int) (matched, unmatched []tupleLine) {
	if len(org) <= 1 {
		return org, nil
	}
	start := strings.LastIndexByte(buf[:min(m[0]+1, len(buf))], '\n') + 1
	end := len(buf)
	if i := strings.IndexByte(buf[max(m[1]-1, 0):], '\n'); i >= 0 {
		end = max(m[1]-1, 0) + i + 1
	}
	n1 := strings.Count(buf[:start], "\n")
	n2 := strings.Count(buf[:end], "\n")
	n1, n2 = min(n1, len(org)), min(n2, len(org))
	matched = append([]tupleLine(nil), org[n1:n2]...)
	unmatched = append([]tupleLine(nil), org[:n1]...)
	var skipped []string
	for _, k := range skiplines {
		v := groups[k]
		if !v.in {
			break
		}
		if v.set {
			skipped = append(skipped, strings.Split(strings.TrimSuffix(v.s, "\n"), "\n")...)
		}
	}
	n := 0
	for _, sk := range skipped {
		if sk == "" {
			continue
		}
		for j := n; j < len(matched); j++ {
			if matched[j].text() == sk {
				unmatched = append(unmatched, matched[j])
				matched = append(matched[:j], matched[j+1:]...)
				n = j
				break
			}
		}
	}
	unmatched = append(unmatched, org[n2:]...)
	return matched, unmatched
}

// scratch is the text of a session's reused buffer, without a copy: it
// is valid until the buffer is written again (the next line), so
// whatever must outlive the line is copied with keep first.
func scratch(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// keep returns text, copied when it is in one of the session's reused
// buffers: the groups of a match outlive the line (the failure, the
// connection's cache). A part of the line's text is cut from the line's
// copy (see keepOne).
func (s *Session) keep(text string) string {
	switch {
	case text == "":
		return text
	case inside(text, s.text):
		if s.kept == "" {
			s.keepOne()
		}
		off := uintptr(unsafe.Pointer(unsafe.StringData(text))) - uintptr(unsafe.Pointer(unsafe.SliceData(s.text)))
		return s.kept[off : off+uintptr(len(text))]
	case inside(text, s.ctext):
		return strings.Clone(text)
	}
	return text
}

// keepOne copies the line of a one-line buffer into the session's arena
// (see carve): the line as written (s.line: the failure's lines) and the text the regexes
// search (s.kept: the groups), the line less its date and with a final
// newline. The text is the line's tail when the date starts the line, as
// it does in every syslog file: one copy then serves both.
func (s *Session) keepOne() {
	t := s.one[0]
	n := len(t.pre) + len(t.date) + len(t.post)
	size := n + 1
	if t.pre != "" {
		size = n + len(s.text)
	}
	b := s.carve(size)
	b = append(append(append(b, t.pre...), t.date...), t.post...)
	if t.pre != "" {
		b = append(b, s.text...)
		all := unsafe.String(unsafe.SliceData(b), len(b))
		s.line, s.kept = all[:n], all[n:]
		return
	}
	b = append(b, '\n')
	all := unsafe.String(unsafe.SliceData(b), len(b))
	s.line, s.kept = all[:n], all[len(t.date):]
}

// Lines kept are carved from chunks of arenaChunk bytes, several to a
// chunk: sshd's every other line is a match whose line outlives it (the
// failure, the connection's cache), and an allocation for each cost more
// than the copy (on 200,000 auth.log lines the chunks run 14 M
// instructions and 3 M instruction-cache misses fewer). A chunk lives as
// long as the last string cut from it, and what outlives a line here is
// what the connections' cache keeps (at most mlfMax connections, each
// with its failure's matches, its lines that matched no failregex and its
// groups, within the connection's time to live), the failures pooled for
// reuse, and the failure reported until the next Judge (the pipeline
// copies what it keeps). So the bound on what is kept is the cache's, as
// before, but each kept line may pin the whole chunk it was cut from: at
// worst a chunk a kept line (interleaved connections, each keeping one
// line of a chunk), about twenty times a short line's bytes. A line too
// long for a chunk to be shared well gets an allocation of its own.
const (
	arenaChunk = 1 << 10
	arenaLine  = arenaChunk / 4
)

// carve returns an empty slice with room for size bytes that nothing else
// will write: what is appended to it becomes the bytes of kept strings.
func (s *Session) carve(size int) []byte {
	if size > arenaLine {
		return make([]byte, 0, size)
	}
	if cap(s.arena)-len(s.arena) < size {
		s.arena = make([]byte, 0, arenaChunk)
	}
	n := len(s.arena)
	s.arena = s.arena[:n+size]
	return s.arena[n : n : n+size]
}

// inside reports whether text lies in b's memory.
func inside(text string, b []byte) bool {
	if len(b) == 0 {
		return false
	}
	p, lo := uintptr(unsafe.Pointer(unsafe.StringData(text))), uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	return p >= lo && p < lo+uintptr(cap(b))
}
