package filter

import (
	"math/bits"
	"strings"
	"time"

	"github.com/stockade-ids/stockade/rules/regex"

	"github.com/stockade-ids/stockade/rules/fail2ban/datepattern"
)

// Session is what fail2ban's filter remembers between the lines of one
// log: the date detector's state, the last date, the line buffer and the
// open connections (<F-MLFID>).
type Session struct {
	f        *Filter
	dates    *datepattern.State
	lastDate time.Time
	lastText string
	buf      []tupleLine
	mlf      mlfCache
	// pref and fail are the submatch indexes the prefregex and the
	// failregexes fill, reused: each is read before the next search.
	pref, fail []int
	// tail is the submatch indexes of the prefregex's tail (prefixLine).
	tail []int
	// With one line searched at a time (maxlines 1), the line and the
	// content the failregexes see live in these, reused from line to
	// line: the texts are copied out only when a failregex matches,
	// since only then do their parts outlive the line (see scratch).
	one, cont   [1]tupleLine
	text, ctext []byte
	// kept is this line's copy (see keepOne), "" until a match needs
	// it; line is the line as written, in the same copy.
	kept, line string
	// arena is the chunk kept lines are carved from (see carve).
	arena []byte
	// texts holds a one-line match's line: the failure copies it out.
	texts [1]string
	// out is the Failure of the last Result, reused: a Result's Failure
	// is valid until the next Judge (see Failure.Clone).
	out Failure
	// outLines backs out's Users and Lines.
	outLines []string
	// outGroups backs out's Groups.
	outGroups []Group
	// prefDict holds the prefregex's groups while they are merged (see
	// mergePref).
	prefDict []value
}

// lineTexts is tupleTexts, in the session's array for one line: the
// failure and the connection append the texts, never keep the slice.
func (s *Session) lineTexts(ts []tupleLine) []string {
	if len(ts) != 1 {
		return tupleTexts(ts)
	}
	if &ts[0] == &s.one[0] {
		if s.kept == "" {
			s.keepOne()
		}
		s.texts[0] = s.line
	} else {
		s.texts[0] = ts[0].pre + ts[0].date + ts[0].post
	}
	return s.texts[:1:1]
}

// takeFailure is a failure to read a match's groups into: one the
// connection cache dropped, cleared, or a new one.
func (s *Session) takeFailure() *failure {
	fs := s.mlf.fails
	if len(fs) == 0 {
		return &failure{g: make([]value, len(s.f.sl.names))}
	}
	f := fs[len(fs)-1]
	s.mlf.fails = fs[:len(fs)-1]
	clear(f.g)
	clear(f.users)
	clear(f.matches)
	clear(f.nofailMatches)
	*f = failure{g: f.g, users: f.users[:0], matches: f.matches[:0], nofailMatches: f.nofailMatches[:0]}
	return f
}

// putFailure gives back a failure nothing holds.
func (s *Session) putFailure(f *failure) {
	if len(s.mlf.fails) < mlfMax {
		s.mlf.fails = append(s.mlf.fails, f)
	}
}

// NewSession starts the state of one log.
func (f *Filter) NewSession() *Session {
	f.index.Do(f.buildIndex)
	return &Session{f: f, dates: datepattern.NewState()}
}

// tupleLine is a line split around its date.
type tupleLine struct{ pre, date, post string }

func (t tupleLine) text() string { return t.pre + t.post }

// own is t in a string of its own: a line's text is the source's until
// it reads the next line (a reader hands out views of its buffer), and a
// session searches its last maxlines lines together.
func (t tupleLine) own() tupleLine {
	all := t.pre + t.date + t.post
	d := len(t.pre) + len(t.date)
	return tupleLine{pre: all[:len(t.pre)], date: all[len(t.pre):d], post: all[d:]}
}

// Judge reads one line of the session's log. now is the reference of year
// inference (the line's time, or the clock), loc the zone of dates written
// without one.
func (s *Session) Judge(ln Line, now time.Time, loc *time.Location) Result {
	res := Result{Outcome: Miss, Regex: -1, Ignore: -1}
	f := s.f
	tuple, date, haveDate := s.readDate(ln, now, loc)
	orgBuf, buf := s.push(tuple)
	if len(f.Ignore) > 0 && len(f.Ignore) < len(f.Fail)-2 {
		if i := firstMatch(f.Ignore, buf); i >= 0 {
			res.Outcome, res.Ignore = Ignored, i
			return res
		}
	}
	// The failregexes' required literals in one scan of the whole text,
	// before the prefregex: what the failregexes search is a part of it,
	// so a literal missing here is missing there, and a line no
	// failregex can match is a miss whatever the prefregex makes of it.
	// A prefix line read by structure is cheaper than the scan, so the
	// scan waits for it, unless the prefregex's tail after it is read by
	// regex, a match the scan can spare.
	found := ^uint64(0)
	early := f.lits != nil && f.prefix != nil && f.prefix.tail != nil
	if early {
		found, _ = f.lits.Mask(buf)
		if !f.viable(found) {
			return res
		}
	}
	pm, read := s.prefixLine(buf)
	if f.lits != nil && !read && !early {
		found, _ = f.lits.Mask(buf)
		if !f.viable(found) {
			return res
		}
	}
	var pref pmatch
	cand := ^uint64(0)
	if f.Pref != nil {
		m := pm
		if !read {
			m = f.Pref.Search(buf, grow(&s.pref, f.Pref))
		}
		if m == nil {
			return res
		}
		pref = pmatch{buf: buf, m: m}
		buf = s.content(buf, m)
		if f.leads != nil {
			if cand = f.leads.candidates(buf); cand == 0 {
				return res
			}
		}
	}
	n := len(f.Fail)
	for i := nextCandidate(cand, 0, n); i < n; i = nextCandidate(cand, i+1, n) {
		if buf == "" {
			buf = joinTuples(s.buf)
		}
		if f.lits != nil && !f.could(i, found) {
			continue
		}
		fr := f.Fail[i]
		m := fr.Search(buf, grow(&s.fail, fr))
		if m == nil {
			continue
		}
		res.Regex = i
		buf = s.keepMatch(buf, &pref)
		fail := s.takeFailure()
		f.failGroups[i].read(buf, m, fail.g)
		matched, unmatched := splitMatched(buf, m, orgBuf, fail.g, f.sl.skiplines)
		if j := s.ignored(buf, matched); j >= 0 {
			s.buf = unmatched
			s.putFailure(fail)
			res.Outcome, res.Ignore = Ignored, j
			return res
		}
		if !haveDate {
			// fail2ban: "Found a match ... but no valid date/time": the
			// next regex may still match.
			res.Outcome = NoDate
			s.putFailure(fail)
			continue
		}
		if f.MaxLines > 1 {
			s.buf, buf = unmatched, ""
		}
		s.mergePref(pref, fail.g)
		return s.failure(res, fail, s.lineTexts(matched), date, now)
	}
	return res
}

// nextCandidate is the first failregex from i on, of n, that cand (a
// bit for each of the first 64) leaves: sshd's twenty-two are passed
// over in a step, not a test each. Those past the 64th are all tried.
func nextCandidate(cand uint64, i, n int) int {
	if i >= 64 {
		return i
	}
	if m := cand >> uint(i); m != 0 {
		return min(i+bits.TrailingZeros64(m), n)
	}
	return min(n, 64)
}

// prefixLine is the prefregex's match read by structure, false when the
// filter has no such reading or leaves this line to the prefregex (see
// prefixLine).
func (s *Session) prefixLine(buf string) ([]int, bool) {
	p := s.f.prefix
	if p == nil {
		return nil, false
	}
	var tm []int
	if p.tail != nil {
		tm = grow(&s.tail, p.tail)
	}
	return p.search(buf, grow(&s.pref, s.f.Pref), tm)
}

// grow makes *sub long enough for re's submatch indexes.
func grow(sub *[]int, re *regex.Regex) []int {
	if need := 2 * len(re.Names); cap(*sub) < need {
		*sub = make([]int, need)
	}
	return (*sub)[:cap(*sub)]
}

// readDate is processLine: the date of the line, and the line split
// around it.
func (s *Session) readDate(ln Line, now time.Time, loc *time.Location) (tuple tupleLine, date time.Time, ok bool) {
	line := ln.Text
	tuple = tupleLine{post: line}
	if ln.FindDate {
		if dm, found := s.f.Dates.Find(line, s.dates); found {
			start, end := dm.Span()
			tuple = tupleLine{pre: line[:start], date: line[start:end], post: line[end:]}
			switch {
			case start < end:
				if d, parsed := s.dates.Date(&dm, line, now, loc); parsed {
					date, ok = d, true
					s.lastDate = d
					if tuple.date != s.lastText {
						// Kept for the dateless lines after it, past
						// the source's next read: a copy (see own).
						s.lastText = strings.Clone(tuple.date)
					}
				}
			case s.recentDate(now):
				// An optional date that is absent: the last one, if
				// recent, else now.
				tuple = tupleLine{date: s.lastText, post: line}
				date, ok = s.lastDate, true
			default:
				date, ok = now, true
			}
		}
	}
	if ok {
		return tuple, date, true
	}
	switch {
	case ln.FindDate && s.recentDate(now):
		return tupleLine{date: s.lastText, post: line}, s.lastDate, true
	case !ln.Time.IsZero():
		// The source dated the line (stockade's parsers, the journal).
		return tuple, ln.Time, true
	}
	return tuple, date, false
}

// recentDate reports whether the last date found is under a minute old.
func (s *Session) recentDate(now time.Time) bool {
	return !s.lastDate.IsZero() && s.lastDate.After(now.Add(-time.Minute))
}

// push adds a line to the buffer the regexes search (the last maxlines
// lines) and returns the buffer's lines and text.
func (s *Session) push(t tupleLine) ([]tupleLine, string) {
	if n := s.f.MaxLines; n > 1 {
		s.buf = append(s.buf, t.own())
		if len(s.buf) > n {
			s.buf = s.buf[len(s.buf)-n:]
		}
	} else {
		// One line: the buffer itself serves as its copy, since Judge
		// only ever replaces s.buf (content) and the next push comes
		// after Judge is done with this one.
		s.one[0] = t
		s.buf = s.one[:1:1]
		s.kept, s.line = "", ""
		s.text = append(append(append(s.text[:0], t.pre...), t.post...), '\n')
		return s.buf, scratch(s.text)
	}
	org := append([]tupleLine(nil), s.buf...)
	return org, joinTuples(org)
}

// content is what the failregexes search: the prefregex's <F-CONTENT>
// when it is not empty, else the whole buffer.
func (s *Session) content(buf string, m []int) string {
	g := s.f.content
	if g < 0 || 2*g+1 >= len(m) || m[2*g] < 0 || m[2*g] == m[2*g+1] {
		return buf
	}
	content := buf[m[2*g]:m[2*g+1]]
	if s.f.MaxLines > 1 {
		s.buf = []tupleLine{{post: content}}
		return content + "\n"
	}
	s.cont[0] = tupleLine{post: content}
	s.buf = s.cont[:1:1]
	if e := m[2*g+1]; e < len(buf) && buf[e] == '\n' {
		// The content runs to the line's end (sshd's .+$): it and
		// its newline are already there.
		return buf[m[2*g] : e+1]
	}
	s.ctext = append(append(s.ctext[:0], content...), '\n')
	return scratch(s.ctext)
}

// keepMatch copies what a match's groups are read from out of the
// session's reused buffers (see keep): the prefregex's text and the
// content, the content cut from the text's copy when it is there as is
// (a line's tail, as with sshd's prefregex): one copy, not two.
func (s *Session) keepMatch(buf string, pref *pmatch) string {
	if pref.m == nil {
		return s.keep(buf)
	}
	pref.buf = s.keep(pref.buf)
	if g := s.f.content; g >= 0 && 2*g+1 < len(pref.m) && pref.m[2*g] >= 0 {
		// buf is the content and a newline (see content): it is in
		// the text as is when a newline follows the content there.
		if i, e := pref.m[2*g], pref.m[2*g+1]; i < e && len(buf) == e-i+1 && e < len(pref.buf) && pref.buf[e] == '\n' {
			return pref.buf[i : e+1]
		}
	}
	return s.keep(buf)
}

// pmatch is the prefregex's match: its groups are read only when a
// failregex matches.
type pmatch struct {
	buf string
	m   []int
}

// mergePref puts the prefregex's groups (but its content) under the
// failregex's: a failregex's group wins where it has a value, or where
// the prefregex's has none either.
func (s *Session) mergePref(p pmatch, groups []value) {
	if p.m == nil {
		return
	}
	f := s.f
	if f.prefGroups.plain {
		p.mergePlain(&f.prefGroups, f.sl.content, groups)
		return
	}
	if len(s.prefDict) != len(groups) {
		s.prefDict = make([]value, len(groups))
	}
	f.prefGroups.read(p.buf, p.m, s.prefDict)
	for k, v := range s.prefDict {
		if !v.in || k == f.sl.content {
			continue
		}
		if g := groups[k]; !g.in || (!g.set && v.set) {
			groups[k] = v
		}
	}
}

// mergePlain is mergePref for a prefregex whose groups need no dict of
// their own (no alt_ group, no name twice): each is merged as read.
func (p pmatch) mergePlain(gs *groupSet, content int, groups []value) {
	for j, i := range gs.named {
		k := gs.slot[j]
		if 2*i+1 >= len(p.m) || k == content {
			continue
		}
		var v value
		switch {
		case p.m[2*i] >= 0:
			v = value{s: p.buf[p.m[2*i]:p.m[2*i+1]], set: true, in: true}
		case gs.skip[j]:
			v = value{in: true}
		default:
			continue
		}
		if g := groups[k]; !g.in || (!g.set && v.set) {
			groups[k] = v
		}
	}
}

// ignored is the ignoreregex that matches the lines a failregex matched,
// or -1.
func (s *Session) ignored(buf string, matched []tupleLine) int {
	if len(s.f.Ignore) == 0 {
		return -1
	}
	if s.f.MaxLines > 1 {
		buf = joinTuples(matched)
	}
	return firstMatch(s.f.Ignore, buf)
}

// failure makes the failure of a failregex's match (its groups, the
// prefregex's merged in), merged with its connection's, and its address.
func (s *Session) failure(res Result, own *failure, lines []string, date, now time.Time) Result {
	fail := own
	mlfid := fail.get(s.f.sl.mlfid)
	kept := false
	if mlfid.set {
		fail, kept = s.mergeFailure(mlfid.s, fail, lines, now)
	} else {
		fail.matches = append(fail.matches, lines...)
	}
	if fail.get(s.f.sl.nofail).truthy() {
		// A helper line (in a connection or not): no failure.
		res.Outcome = Helper
		res.Failure = s.failureOf(fail, "", date, true)
	} else {
		res = s.hostOf(res, fail, mlfid.set, date)
	}
	// The Failure holds copies of the groups: own is free again unless
	// the connection's cache took it.
	if !kept {
		s.putFailure(own)
	}
	return res
}
