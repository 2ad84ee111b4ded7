package rules

// A rule in fail2ban's dialect judges a line the way fail2ban's filter
// does (server/filter.py, processLine and findFailure): the date is found
// and cut out of the line, the last maxlines lines are searched together,
// prefregex picks the part the failregexes see (<F-CONTENT>), and the
// failure is read from the named groups: the address (ip4, ip6), a host
// name (dns), an id (fid), the user, and the session fields that tie the
// lines of one connection together (<F-MLFID>, <F-NOFAIL>, <F-MLFFORGET>,
// <F-MLFGAINED>).

import (
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

// f2bFilter is what a fail2ban-dialect rule holds beyond its regexes.
type f2bFilter struct {
	dates    *dateDetector
	pref     *failRegex
	maxLines int
	useDNS   string
}

// Failure is what a fail2ban-dialect rule found on a line: fail2ban's
// failure (the fields of its ticket), for explain and the conformance test.
type Failure struct {
	// ID is what fail2ban would ban: the address as written, a host name,
	// or the <F-ID>.
	ID string
	// Time is the date found on the line (or the event's time).
	Time time.Time
	// Fields are the named groups with a value (user, alt_user, ...).
	Fields map[string]string
	// Users are the user names of the session (<F-MLFID>), if any.
	Users []string
	// Lines are the lines the failure carries: its own and those of its
	// session that came before.
	Lines []string
	// Helper: the line matched, but is no failure (<F-NOFAIL>, or a
	// session still waiting for its address).
	Helper bool
}

// f2bResult is the outcome of one line for one rule.
type f2bResult struct {
	verdict Verdict
	addr    netip.Addr
	key     string // the <F-ID> when it differs from the address
	regex   int    // the failregex that matched, or -1
	ignore  int    // the ignoreregex that matched, or -1
	fail    *Failure
}

// f2bKey names the state of a rule for one source.
type f2bKey struct {
	rule   int
	source string
}

// f2bState is what fail2ban's filter remembers between the lines of one
// log: the date detector's state, the line buffer and the sessions.
type f2bState struct {
	dates    *dateState
	lastDate time.Time
	lastText string
	buf      []tupleLine
	sessions mlfCache
	parsed   parsedDate
}

// parsedDate is the last date text parsed and what it gave: lines of the
// same second share their date text, and strptime was a seventh of the
// dialect's time per line.
type parsedDate struct {
	t    *dateTemplate
	text string
	now  time.Time
	loc  *time.Location
	val  time.Time
}

// date parses the date dm found in line, or takes it from the last line
// when the text, the template, the zone and the reference time are the
// same (the result depends on nothing else).
func (st *f2bState) date(dm *dateMatch, line string, now time.Time, loc *time.Location) (time.Time, bool) {
	text := line[dm.start:dm.end]
	p := &st.parsed
	if p.t != nil && p.t == dm.t && p.loc == loc && p.text == text && p.now.Equal(now) {
		return p.val, true
	}
	d, ok := dm.date(line, now, loc)
	if ok {
		*p = parsedDate{t: dm.t, text: strings.Clone(text), now: now, loc: loc, val: d}
	}
	return d, ok
}

// tupleLine is a line split around its date.
type tupleLine struct{ pre, date, post string }

func (t tupleLine) text() string { return t.pre + t.post }

// f2bText is the line a fail2ban rule reads and whether its date is to be
// found in it. A syslog event whose line is only its message (the journal
// gives the header apart) is written as fail2ban's journal backend writes
// it: "HOST PROGRAM[PID]: MESSAGE", and dated by the event.
func (r *Rule) f2bText(ev *pipeline.Event) (string, bool) {
	if !r.UseLine {
		return ev.Message, false
	}
	if ev.Format == pipeline.FormatSyslog && ev.Line == ev.Message && ev.Program != "" {
		var b strings.Builder
		if ev.Host != "" {
			b.WriteString(ev.Host)
			b.WriteByte(' ')
		}
		b.WriteString(ev.Program)
		if ev.PID != 0 {
			b.WriteString("[" + strconv.Itoa(ev.PID) + "]")
		}
		b.WriteString(": ")
		b.WriteString(ev.Message)
		return b.String(), false
	}
	return ev.Line, true
}

// judgeF2B judges ev with a fail2ban-dialect rule.
func (s *Set) judgeF2B(r *Rule, ev *pipeline.Event) f2bResult {
	res := f2bResult{verdict: RegexMiss, regex: -1, ignore: -1}
	f := r.f2b
	st := s.f2bStateOf(r, ev.Source)
	now := ev.Time
	if now.IsZero() {
		now = s.now()
	}
	loc := s.location()
	if !ev.Time.IsZero() {
		loc = ev.Time.Location()
	}
	line, findDate := r.f2bText(ev)

	// processLine: the date, and the line without it.
	tuple := tupleLine{post: line}
	var date time.Time
	haveDate := false
	if findDate {
		if dm, ok := f.dates.find(line, st.dates); ok {
			tuple = tupleLine{pre: line[:dm.start], date: line[dm.start:dm.end], post: line[dm.end:]}
			if dm.start < dm.end {
				if d, ok := st.date(&dm, line, now, loc); ok {
					date, haveDate = d, true
					st.lastDate, st.lastText = d, tuple.date
				}
			} else if !st.lastDate.IsZero() && st.lastDate.After(now.Add(-time.Minute)) {
				// An optional date that is absent: the last one, if recent,
				// else now.
				tuple = tupleLine{date: st.lastText, post: line}
				date, haveDate = st.lastDate, true
			} else {
				date, haveDate = now, true
			}
		}
	}
	if !haveDate {
		switch {
		case findDate && !st.lastDate.IsZero() && st.lastDate.After(now.Add(-time.Minute)):
			tuple = tupleLine{date: st.lastText, post: line}
			date, haveDate = st.lastDate, true
		case !ev.Time.IsZero():
			// The source dated the line (stockade's parsers, the journal).
			date, haveDate = ev.Time, true
		}
	}

	// findFailure.
	if f.maxLines > 1 {
		st.buf = append(st.buf, tuple)
		if len(st.buf) > f.maxLines {
			st.buf = st.buf[len(st.buf)-f.maxLines:]
		}
	} else {
		st.buf = append(st.buf[:0], tuple)
	}
	orgBuf := append([]tupleLine(nil), st.buf...)
	buf := joinTuples(orgBuf)

	if len(r.ignore) > 0 && len(r.ignore) < len(r.fail)-2 {
		if i := firstMatch(r.ignore, buf); i >= 0 {
			res.verdict, res.ignore = Ignored, i
			return res
		}
	}
	var pre map[string]f2bVal
	if f.pref != nil {
		m := f.pref.search(buf)
		if m == nil {
			return res
		}
		pre = f.pref.groups(buf, m)
		content := pre["content"]
		delete(pre, "content")
		if content.truthy() {
			st.buf = []tupleLine{{post: content.s}}
			buf = content.s + "\n"
		}
	}
	for i, fr := range r.fail {
		if buf == "" {
			buf = joinTuples(st.buf)
		}
		m := fr.search(buf)
		if m == nil {
			continue
		}
		res.regex = i
		groups := fr.groups(buf, m)
		matched, unmatched := splitMatched(buf, m, orgBuf, fr, groups)
		if len(r.ignore) > 0 {
			ibuf := buf
			if f.maxLines > 1 {
				ibuf = joinTuples(matched)
			}
			if j := firstMatch(r.ignore, ibuf); j >= 0 {
				st.buf = unmatched
				res.verdict, res.ignore = Ignored, j
				return res
			}
		}
		if !haveDate {
			// fail2ban: "Found a match ... but no valid date/time": the
			// next regex may still match.
			res.verdict = NoDate
			continue
		}
		if f.maxLines > 1 {
			st.buf, buf = unmatched, ""
		}
		fail := &f2bFail{g: groups}
		if pre != nil {
			// The prefregex's groups, with the failregex's values over
			// them where it has one.
			merged := make(map[string]f2bVal, len(pre)+len(groups))
			for k, v := range pre {
				merged[k] = v
			}
			for k, v := range groups {
				if v.set || !merged[k].set {
					merged[k] = v
				}
			}
			fail.g = merged
		}
		lines := tupleTexts(matched)
		mlfid := fail.get("mlfid")
		if mlfid.set {
			fail = st.mergeFailure(mlfid.s, fail, lines, now)
			if fail.get("nofail").truthy() {
				res.verdict = Helper
				res.fail = failureOf(fail, "", date, true)
				return res
			}
		} else {
			fail.matches = append(fail.matches, lines...)
			if fail.get("nofail").truthy() {
				// A helper line outside a session: no failure either.
				res.verdict = Helper
				res.fail = failureOf(fail, "", date, true)
				return res
			}
		}
		return f2bHost(res, fail, mlfid.set, date)
	}
	return res
}

// f2bHost reads the failure id and address from a failure.
func f2bHost(res f2bResult, fail *f2bFail, mlfid bool, date time.Time) f2bResult {
	fid := fail.get("fid")
	host, isAddr := fail.get("ip4"), true
	if !host.set {
		host = fail.get("ip6")
	}
	if !host.set {
		host, isAddr = fail.get("dns"), false
		if !host.set {
			if !fid.set && !mlfid {
				// No failure id at all: fail2ban logs an error.
				res.verdict = NoAddress
				return res
			}
			host = fid
		}
	}
	if !host.set {
		// A session still waiting for its address: the failure is
		// pending.
		fail.pending = true
		res.verdict = Helper
		res.fail = failureOf(fail, "", date, true)
		return res
	}
	id := host.s
	if fid.set && fid.s != host.s {
		id = fid.s
	}
	res.fail = failureOf(fail, id, date, false)
	if !isAddr {
		res.verdict = HostName
		return res
	}
	addr, ok := pipeline.ParseAddr(host.s)
	if !ok {
		res.verdict = BadAddress
		return res
	}
	res.addr, res.verdict = addr, Hit
	if id != host.s {
		res.key = id
	}
	return res
}

func failureOf(f *f2bFail, id string, date time.Time, helper bool) *Failure {
	out := &Failure{ID: id, Time: date, Helper: helper, Fields: map[string]string{}}
	for k, v := range f.g {
		if v.set {
			out.Fields[k] = v.s
		}
	}
	out.Users = append(out.Users, f.users...)
	out.Lines = append(out.Lines, f.matches...)
	return out
}

// f2bStateOf returns the state of a rule for a source.
func (s *Set) f2bStateOf(r *Rule, source string) *f2bState {
	if s.f2b == nil {
		s.f2b = map[f2bKey]*f2bState{}
	}
	k := f2bKey{rule: r.Policy.ID, source: source}
	st := s.f2b[k]
	if st == nil {
		st = &f2bState{dates: newDateState()}
		s.f2b[k] = st
	}
	return st
}

func (s *Set) now() time.Time {
	if s.clock != nil {
		return s.clock()
	}
	return time.Now()
}

func (s *Set) location() *time.Location {
	if s.loc != nil {
		return s.loc
	}
	return time.Local
}

// SetDates sets the reference of year inference for dates a fail2ban rule
// finds on lines that carry no time of their own (default: the wall
// clock), and the zone of dates written without one (default: local).
func (s *Set) SetDates(now func() time.Time, loc *time.Location) {
	s.clock, s.loc = now, loc
}
