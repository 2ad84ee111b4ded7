// Package filter judges lines the way a fail2ban filter does
// (server/filter.py, processLine and findFailure): the date is found and
// cut out of the line, the last maxlines lines are searched together,
// prefregex picks the part the failregexes see (<F-CONTENT>), and the
// failure is read from the named groups: the address (ip4, ip6), a host
// name (dns), an id (fid), the user, and the fields that tie the lines of
// one connection together (<F-MLFID>, <F-NOFAIL>, <F-MLFFORGET>,
// <F-MLFGAINED>).
//
// A Filter is compiled once and shared; what fail2ban remembers between
// the lines of one log lives in a Session, one per log.
package filter

import (
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/rules/fail2ban/datepattern"
	"github.com/stockade-ids/stockade/rules/regex"
)

// Filter is a fail2ban filter, compiled: its regexes (see Compile), its
// date templates and how many lines it searches together.
type Filter struct {
	Dates    *datepattern.Detector
	Pref     *regex.Regex // the prefregex, nil for none
	Fail     []*regex.Regex
	Ignore   []*regex.Regex
	MaxLines int

	// lits holds the failregexes' required literals and members of
	// required sets, need[i] the bits of failregex i's literals and
	// anyOf[i] one mask per set of its: one scan of a line tells which
	// failregexes can match (sshd's has twenty-two, each prefiltered
	// apart before). Built with the first session; nil when not worth it
	// or not possible.
	index sync.Once
	lits  *regex.Multi
	need  []uint64
	anyOf [][]uint64
	// prefix reads the prefregex's __prefix_line by structure, and leads
	// then take the literal scan's place (see buildIndex); nil when the
	// prefregex is not so written.
	prefix *prefixLine
	leads  *leadIndex
	// content is the prefregex's <F-CONTENT> group, -1 for none.
	content int
	// sl numbers the regexes' group names; prefGroups and failGroups are
	// how each regex's groups are read, for every match.
	sl         slots
	prefGroups groupSet
	failGroups []groupSet
}

// indexMin is how many failregexes make one scan cheaper than their
// prefilters one by one.
const indexMin = 4

// buildIndex sets lits and need when the failregexes require literals,
// at most 64 in all, and the buffer is one line (with several, the text
// a failregex searches can change between them).
//
// It also finds the prefregex's content group.
func (f *Filter) buildIndex() { f.buildIndexWith(true) }

// buildIndexWith is buildIndex, with the prefregex read by structure and
// the failregexes told apart by their lead when fast says so (tests
// compare the two ways).
func (f *Filter) buildIndexWith(fast bool) {
	f.content = -1
	f.sl = slotsOf(append([]*regex.Regex{f.Pref}, f.Fail...)...)
	if f.Pref != nil {
		f.content = slices.Index(f.Pref.Names, "content")
		f.prefGroups = groupSetOf(f.Pref, &f.sl)
	}
	f.failGroups = make([]groupSet, len(f.Fail))
	for i, re := range f.Fail {
		f.failGroups[i] = groupSetOf(re, &f.sl)
	}
	if f.MaxLines != 1 {
		return
	}
	if fast && f.Pref != nil && f.content >= 0 {
		// With the header read in one pass, the prefregex costs less
		// than a scan of the line for the failregexes' literals: the
		// first bytes of its content leave one or two failregexes of
		// sshd's twenty-two, whose own prefilter then runs. The scan
		// below still serves the lines whose header is left to the
		// prefregex.
		if f.prefix = prefixLineOf(f.Pref); f.prefix != nil {
			if f.leads = leadIndexOf(f.Fail); f.leads == nil {
				f.prefix = nil
			}
		}
	}
	if len(f.Fail) < indexMin {
		return
	}
	// Each failregex's longest literal: it sets the failregex apart
	// ("Failed ", " not allowed because listed in DenyUsers"), where the
	// others are what many share and ordinary lines hold (" from ",
	// " for ", " user "): each occurrence of a literal in a line is a
	// comparison, and a scan that holds them all cost a fifth more. The
	// failregex's own prefilter checks every literal before it runs.
	var ix litIndex
	need := make([]uint64, len(f.Fail))
	for i, re := range f.Fail {
		for j, l := range re.Literals {
			if strings.ContainsRune(l, '\n') {
				// The content searched ends with a newline the
				// whole text may not have there: a literal with one
				// could be in the content and not in the text.
				return
			}
			if j == 0 {
				need[i] |= ix.bit(l)
			}
		}
	}
	// The sets after the literals, while the 64 bits last: sshd's
	// "(Connection (?:closed|reset)|Disconnected)" has no literal, and
	// only its set keeps every cron or sudo line from its prefregex. A
	// set with a member of two bytes is left to the prefilter: "by"
	// anchors on every pair that starts with a "y".
	anyOf := make([][]uint64, len(f.Fail))
	for i, re := range f.Fail {
		for _, set := range re.AnyOf {
			if slices.ContainsFunc(set.Lits, func(l string) bool { return len(l) < 3 }) {
				continue
			}
			if bits, ok := ix.set(set.Lits); ok {
				anyOf[i] = append(anyOf[i], bits)
			}
		}
	}
	if len(ix.lits) == 0 || len(ix.lits) > 64 {
		return
	}
	f.lits, f.need, f.anyOf = regex.NewMulti(ix.lits), need, anyOf
}

// litIndex numbers the literals of a filter's scan.
type litIndex struct {
	ids  map[string]int
	lits []string
}

func (x *litIndex) bit(l string) uint64 {
	if x.ids == nil {
		x.ids = map[string]int{}
	}
	id, ok := x.ids[l]
	if !ok {
		id = len(x.lits)
		x.ids[l] = id
		x.lits = append(x.lits, l)
	}
	return 1 << (id & 63)
}

// set gives the bits of a required set's members, false (and nothing
// added) when the set cannot be checked on the whole line or does not fit:
// a member that is empty (always there), holds a newline (see
// buildIndex) or is not ASCII (the scan folds ASCII only).
func (x *litIndex) set(members []string) (uint64, bool) {
	added := 0
	for _, l := range members {
		if l == "" || strings.ContainsRune(l, '\n') || !regex.IsASCII(l) {
			return 0, false
		}
		if _, ok := x.ids[l]; !ok {
			added++
		}
	}
	if len(members) == 0 || len(x.lits)+added > 64 {
		return 0, false
	}
	var bits uint64
	for _, l := range members {
		bits |= x.bit(l)
	}
	return bits, true
}

// could reports whether the literals found let failregex i match.
func (f *Filter) could(i int, found uint64) bool {
	if found&f.need[i] != f.need[i] {
		return false
	}
	for _, set := range f.anyOf[i] {
		if found&set == 0 {
			return false
		}
	}
	return true
}

// viable reports whether the literals found let a failregex match.
func (f *Filter) viable(found uint64) bool {
	for i := range f.need {
		if f.could(i, found) {
			return true
		}
	}
	return false
}

// Line is a line as a filter reads it.
type Line struct {
	Text string
	// FindDate says the date is to be found in Text and cut out of it;
	// otherwise the line is dated by Time.
	FindDate bool
	// Time is when the source says the line was written (zero: unknown).
	Time time.Time
}

// Outcome is what a filter made of a line.
type Outcome uint8

const (
	Found      Outcome = iota // a failure with an address to ban
	Miss                      // no failregex matched (or the prefregex did not)
	Ignored                   // an ignoreregex matched
	NoDate                    // a failregex matched, but the line has no date fail2ban could read
	Helper                    // a line that is no failure: <F-NOFAIL>, or a connection still waiting for its address
	NoAddress                 // the failure has no id at all
	HostName                  // the failure names a host (or an <F-ID>), not an address
	BadAddress                // the address group holds no address
)

// Result is the outcome of one line.
type Result struct {
	Outcome Outcome
	Addr    netip.Addr // when Found
	Key     string     // the <F-ID> when it differs from the address
	Regex   int        // the failregex that matched, or -1
	Ignore  int        // the ignoreregex that matched, or -1
	// Failure is what the failregex found, nil when none matched. It is
	// the session's and valid until its next Judge: Clone keeps it.
	Failure *Failure
}

// Failure is what a filter found on a line: fail2ban's failure (the
// fields of its ticket), for explain and the conformance test.
type Failure struct {
	// ID is what fail2ban would ban: the address as written, a host name,
	// or the <F-ID>.
	ID string
	// Time is the date found on the line (or the line's Time).
	Time time.Time
	// Groups are the named groups with a value (user, alt_user, ...), in
	// name order (see Field).
	Groups []Group
	// Users are the user names of the connection (<F-MLFID>), if any.
	Users []string
	// Lines are the lines the failure carries: its own and those of its
	// connection that came before.
	Lines []string
	// Helper: the line matched, but is no failure (<F-NOFAIL>, or a
	// connection still waiting for its address).
	Helper bool
}

// hostOf reads the failure id and address from a failure.
func (s *Session) hostOf(res Result, fail *failure, mlfid bool, date time.Time) Result {
	sl := &s.f.sl
	fid := fail.get(sl.fid)
	host, isAddr := fail.get(sl.ip4), true
	if !host.set {
		host = fail.get(sl.ip6)
	}
	if !host.set {
		host, isAddr = fail.get(sl.dns), false
		if !host.set {
			if !fid.set && !mlfid {
				// No failure id at all: fail2ban logs an error.
				res.Outcome = NoAddress
				return res
			}
			host = fid
		}
	}
	if !host.set {
		// A connection still waiting for its address: the failure is
		// pending.
		fail.pending = true
		res.Outcome = Helper
		res.Failure = s.failureOf(fail, "", date, true)
		return res
	}
	id := host.s
	if fid.set && fid.s != host.s {
		id = fid.s
	}
	res.Failure = s.failureOf(fail, id, date, false)
	if !isAddr {
		res.Outcome = HostName
		return res
	}
	addr, ok := pipeline.ParseAddr(host.s)
	if !ok {
		res.Outcome = BadAddress
		return res
	}
	res.Addr, res.Outcome = addr, Found
	if id != host.s {
		res.Key = id
	}
	return res
}

// failureOf is the Failure of a failure: the session's, overwritten by
// the next Judge.
func (s *Session) failureOf(f *failure, id string, date time.Time, helper bool) *Failure {
	// The slots are in name order: so are the groups.
	groups := s.outGroups[:0]
	for k, v := range f.g {
		if v.set {
			groups = append(groups, Group{Name: s.f.sl.names[k], Value: v.s})
		}
	}
	s.outGroups = groups
	out := &s.out
	*out = Failure{ID: id, Time: date, Helper: helper, Groups: groups}
	// Users and Lines share one array (each capped, so that an append to
	// one cannot write over the other).
	nu, nl := len(f.users), len(f.matches)
	if nu+nl > 0 {
		clear(s.outLines)
		both := append(append(s.outLines[:0], f.users...), f.matches...)
		s.outLines = both
		if nu > 0 {
			out.Users = both[:nu:nu]
		}
		if nl > 0 {
			out.Lines = both[nu : nu+nl : nu+nl]
		}
	}
	return out
}

// Group is a named group of a failure and its value.
type Group struct{ Name, Value string }

// Field is the value of the named group, false when it has none.
func (f *Failure) Field(name string) (string, bool) {
	i, ok := slices.BinarySearchFunc(f.Groups, name, func(g Group, n string) int { return strings.Compare(g.Name, n) })
	if !ok {
		return "", false
	}
	return f.Groups[i].Value, true
}

// Clone returns a copy of f that the next Judge leaves as it is.
func (f *Failure) Clone() *Failure {
	if f == nil {
		return nil
	}
	c := *f
	c.Groups = slices.Clone(f.Groups)
	c.Users = slices.Clone(f.Users)
	c.Lines = slices.Clone(f.Lines)
	return &c
}
