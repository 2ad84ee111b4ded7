package datepattern

// fail2ban's date detection: the templates of `datepattern` (or fail2ban's
// default list), found in a line so that the date can be cut out of it
// before the filter's regexes see it, and read into a time.

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/stockade-ids/stockade/rules/fail2ban/pyre"
)

// Match is a date found in a line: the span of its date group, the
// span of the template's whole match (as fail2ban counts it, without the
// characters consumed for the RE2 form of its bounds), and the template.
type Match struct {
	start, end int // the date (group of the template)
	dist, last int // the template's match
	idx        int // the template's index
	t          *template
	m          []int
}

// Detector finds dates with a list of templates.
type Detector struct {
	templates []*template
	// stamp is the index of the syslog template (see stampName), -1
	// when the list has none.
	stamp int
	// lazy, when set, builds the detector at its first line: one made of
	// fail2ban's defaults only, which cannot be refused, so nothing is
	// lost by not compiling them at load, and a process whose dialect
	// rules see no line (a replay of an access log, `stockade check`)
	// never compiles them.
	lazy func() *Detector
}

// stampName is the template of RFC 3164 syslog's "Nov  8 22:00:01", in
// fail2ban's default list and {^LN-BEG}.
const stampName = `{^LN-BEG}(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?`

// setStamp finds the syslog template.
func (d *Detector) setStamp() *Detector {
	d.stamp = -1
	for i, t := range d.templates {
		if t.name == stampName {
			d.stamp = i
		}
	}
	return d
}

// New builds the detector of a datepattern value (its lines),
// or fail2ban's default one for none. A pattern of its own is compiled
// (and refused) here; a detector of defaults only at its first line.
func New(patterns []string) (*Detector, error) {
	if !onlyDefaults(patterns) {
		return build(patterns)
	}
	return &Detector{lazy: sync.OnceValue(func() *Detector {
		d, err := build(patterns)
		if err != nil {
			// fail2ban's own templates, as regexp.MustCompile for a
			// constant: TestDefaultsShared compiles them.
			panic("datepattern: fail2ban's default templates: " + err.Error())
		}
		return d
	})}, nil
}

// onlyDefaults reports a datepattern of fail2ban's default markers only
// ({DEFAULT}, {^LN-BEG}, or none), which New cannot refuse.
func onlyDefaults(patterns []string) bool {
	for _, p := range patterns {
		if k := strings.ToUpper(p); p != "" && k != "{DEFAULT}" && k != "{^LN-BEG}" {
			return false
		}
	}
	return true
}

// resolved is the detector with its templates (see lazy).
func (d *Detector) resolved() *Detector {
	if d.lazy != nil {
		return d.lazy()
	}
	return d
}

func build(patterns []string) (*Detector, error) {
	c := newCompiler()
	d := &Detector{}
	if len(patterns) == 0 {
		err := d.addDefaults(c, nil, "")
		return d.setStamp(), err
	}
	seen := map[string]bool{}
	for _, p := range patterns {
		if p == "" {
			continue
		}
		key := p
		if !strings.Contains(p, "%") {
			key = strings.ToUpper(p)
		}
		switch {
		case key == "{^LN-BEG}" || key == "{DEFAULT}":
			var only func(*template) bool
			if key == "{^LN-BEG}" {
				only = func(t *template) bool { return t.flags&tmplLineBegin != 0 }
			}
			if err := d.addDefaultsDedup(c, only, "", seen); err != nil {
				return nil, err
			}
		case strings.Contains(key, "{DATE}"):
			if err := d.addDefaultsDedup(c, nil, p, seen); err != nil {
				return nil, err
			}
		default:
			t, err := c.template(p)
			if err != nil {
				return nil, err
			}
			if seen[t.name] {
				return nil, fmt.Errorf("date pattern %q is given twice", p)
			}
			seen[t.name] = true
			d.templates = append(d.templates, t)
		}
	}
	return d.setStamp(), nil
}

func (d *Detector) addDefaults(c *compiler, only func(*template) bool, preMatch string) error {
	return d.addDefaultsDedup(c, only, preMatch, map[string]bool{})
}

// addDefaultsDedup adds fail2ban's default templates (see defaults); with
// preMatch, each default pattern replaces {DATE} in it instead. Templates
// already there (by name) are skipped.
func (d *Detector) addDefaultsDedup(c *compiler, only func(*template) bool, preMatch string, seen map[string]bool) error {
	var list []*template
	if preMatch != "" {
		var err error
		if list, err = c.preMatchDefaults(preMatch); err != nil {
			return err
		}
	} else {
		defs := defaultsFor(c)
		if defs.err != nil {
			return defs.err
		}
		list = defs.templates
	}
	for _, t := range list {
		if only != nil && !only(t) {
			continue
		}
		if seen[t.name] {
			continue
		}
		seen[t.name] = true
		d.templates = append(d.templates, t)
	}
	return nil
}

// defaults are fail2ban's default templates compiled: every default that
// is not anchored gets an anchored twin ({^LN-BEG}), and the twins come
// first.
type defaults struct {
	exY       string // the %ExY they were compiled with
	templates []*template
	err       error
}

// sharedDefaults builds the default templates once per process, as
// fail2ban's DateDetectorCache does: every rule of the dialect without a
// datepattern compiled its own thirty before, a quarter of the time the
// built-in packs took to load. Each is compiled at its first search (see
// template.ready), and does not change after (what a log's lines teach
// the detector is in State), so every detector, of every rule and
// goroutine, can hold the same ones.
var sharedDefaults = sync.OnceValue(func() *defaults { return compileDefaults(newCompiler()) })

// defaultsFor returns the defaults for c's years: the shared ones, or new
// ones in a process that has lived into years whose %ExY differs from the
// one they were compiled with (a reload must see what a restart would).
func defaultsFor(c *compiler) *defaults {
	if d := sharedDefaults(); d.exY == c.exY {
		return d
	}
	return compileDefaults(c)
}

func compileDefaults(c *compiler) *defaults {
	c = &compiler{exY: c.exY, lazy: true}
	var anchored, plain []*template
	for _, p := range defaultPatterns {
		t, err := c.template(p)
		if err != nil {
			return &defaults{exY: c.exY, err: err}
		}
		if !strings.HasPrefix(p, "{^LN-BEG}") && !strings.HasPrefix(p, "^") {
			a, err := c.template("{^LN-BEG}" + p)
			if err != nil {
				return &defaults{exY: c.exY, err: err}
			}
			anchored = append(anchored, a)
		}
		plain = append(plain, t)
	}
	return &defaults{exY: c.exY, templates: append(anchored, plain...)}
}

// preMatchDefaults are the templates of a datepattern holding {DATE}: the
// pattern with each default in place of {DATE}.
func (c *compiler) preMatchDefaults(preMatch string) ([]*template, error) {
	var out []*template
	for _, p := range defaultPatterns {
		name := p
		switch p {
		case "EPOCH":
			name = "Epoch"
		case "TAI64N":
			name = "TAI64N"
		}
		t, err := c.patternTemplate(replaceDate(preMatch, unboundPattern(name)))
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

var datePlaceholder = regexp.MustCompile(`(?i)\{DATE\}`)

// replaceDate replaces every {DATE} (not escaped) with the pattern.
func replaceDate(preMatch, pattern string) string {
	var b strings.Builder
	last := 0
	for _, loc := range datePlaceholder.FindAllStringIndex(preMatch, -1) {
		if loc[0] > 0 && preMatch[loc[0]-1] == '\\' {
			continue
		}
		b.WriteString(preMatch[last:loc[0]])
		b.WriteString(pattern)
		last = loc[1]
	}
	b.WriteString(preMatch[last:])
	return b.String()
}

// unboundPattern strips fail2ban's bound markers from a pattern.
func unboundPattern(p string) string {
	p = strings.TrimPrefix(p, "{UNB}")
	p = strings.TrimPrefix(p, "{^LN-BEG}")
	for _, pre := range []string{`(?:^|\b|\W)`, `(^|\b|\W)`} {
		p = strings.TrimPrefix(p, pre)
	}
	return strings.TrimSuffix(p, `(?=\b|\W|$)`)
}

// State is what fail2ban's date detector remembers between the lines
// of one log: the template that found the last date and where, so that a
// log keeps its template, and where each template last found one.
type State struct {
	// from is the detector the state was last used with, det it resolved.
	from, det *Detector
	lastIdx   int // -1: none yet
	lastDist  int
	lastPrev  string
	lastEnd   int
	lastNext  string
	tmplDist  map[int]int
	parsed    parsedDate
	stamp     stampMemo
}

// stampMemo is the syslog template's last match on a line of the syslog
// shape (see stampShape): on such a line the template reads no further
// than the character after the time, so its match depends on the
// first 15 characters only, and a log's lines share them for a second.
type stampMemo struct {
	text string
	dm   Match
}

// NewState is the state of a log no date was found in yet.
func NewState() *State { return &State{lastIdx: -1, lastDist: 1, lastEnd: 1 << 30} }

// parsedDate is the last date text parsed and what it gave: lines of the
// same second share their date text, and strptime was a seventh of the
// dialect's time per line.
type parsedDate struct {
	t    *template
	text string
	now  time.Time
	loc  *time.Location
	val  time.Time
}

// Date reads the time of a match found in line: now is the reference of
// year inference, loc the zone of times written without one. It takes the
// last line's when the text, the template, the zone and the reference time
// are the same (the result depends on nothing else).
func (st *State) Date(m *Match, line string, now time.Time, loc *time.Location) (time.Time, bool) {
	text := line[m.start:m.end]
	p := &st.parsed
	if p.t != nil && p.t == m.t && p.loc == loc && p.text == text && p.now.Equal(now) {
		return p.val, true
	}
	d, ok := m.date(line, now, loc)
	if ok {
		*p = parsedDate{t: m.t, text: strings.Clone(text), now: now, loc: loc, val: d}
	}
	return d, ok
}

// Span is where the date is in the line.
func (m *Match) Span() (start, end int) { return m.start, m.end }

// search runs one template over line.
func (d *Detector) search(i int, line string) (Match, bool) {
	t := d.templates[i].ready()
	for j := range t.anyOf {
		if !t.anyOf[j].In(line) {
			return Match{}, false
		}
	}
	m := t.re.Submatch(line, nil)
	if m == nil || m[2*t.grp] < 0 {
		return Match{}, false
	}
	dm := Match{start: m[2*t.grp], end: m[2*t.grp+1], dist: m[0], last: m[1], idx: i, t: t, m: m}
	if t.prefixChar && !(m[0] == 0 && pyre.IsWord(firstRune(line))) {
		dm.dist += runeLen(line, m[0])
	}
	if t.suffixGroup > 0 && m[2*t.suffixGroup] >= 0 {
		dm.last = m[2*t.suffixGroup]
	}
	return dm, true
}

// searchAnchored is search for the template of the last date, when it is
// anchored: the syslog template's match is remembered for the lines of
// the same stamp, and of the same minute (see sameMinute).
func (d *Detector) searchAnchored(i int, line string, st *State) (Match, bool) {
	if i != d.stamp || !stampShape(line) {
		return d.search(i, line)
	}
	if m := &st.stamp; m.text != "" && m.text == line[:stampLen] {
		return m.dm, true
	}
	if m := &st.stamp; m.text != "" && sameMinute(m.text, line) {
		m.text = strings.Clone(line[:stampLen])
		return m.dm, true
	}
	dm, ok := d.search(i, line)
	if ok && dm.start == 0 && dm.end == stampLen && dm.dist == 0 && dm.last == stampLen {
		st.stamp = stampMemo{text: strings.Clone(line[:stampLen]), dm: dm}
	}
	return dm, ok
}

// stampLen is the length of "Nov  8 22:00:01".
const stampLen = 15

// stampShape reports whether line starts with a syslog stamp of fixed
// layout ("Nov  8 22:00:01 h", three ASCII letters, a day of one digit
// after a space or two, the time's two digits each) followed by a space
// and no digit. On such a line the syslog template (stampName,
// "^(?:\W{0,2})?((?:%a )?%b %d ?%H:%M:%S(?:\.%f)?(?: %ExY)?)(?:([^\w])|\Z)")
// decides within its first 17 characters: its two colons can only be
// the ones at 9 and 12, so the seconds end at 14 or 15; at 14 a digit
// follows, which no fraction, year or bound takes; at 15 the fraction
// wants a '.', the year a space and a '2', the bound a non-word
// character: all read by 16. The line's first 15 characters therefore
// decide the match, its spans and groups (TestStampMemo checks them
// against the template on every day, hour and a spread of minutes).
func stampShape(line string) bool {
	if len(line) < stampLen+2 || line[3] != ' ' || line[6] != ' ' || line[9] != ':' || line[12] != ':' || line[15] != ' ' || isDigit(line[16]) {
		return false
	}
	for _, i := range [...]int{0, 1, 2} {
		if c := line[i] | 0x20; c < 'a' || c > 'z' {
			return false
		}
	}
	if line[4] != ' ' && !isDigit(line[4]) {
		return false
	}
	for _, i := range [...]int{5, 7, 8, 10, 11, 13, 14} {
		if !isDigit(line[i]) {
			return false
		}
	}
	return true
}

// sameStamp reports whether line is dated as the last line was: the
// syslog template found the last date, at the place of its remembered
// match (see stampMemo), and line has the same stamp and the syslog
// shape. Find's answer is then the memo's, and what it would write in
// the state is there already: the lines of one second of an auth.log
// skip the search of the template and the state's update, most of what
// the date cost a line.
func (st *State) sameStamp(d *Detector, line string) bool {
	m := &st.stamp
	return m.text != "" && st.lastIdx == d.stamp && m.dm.idx == d.stamp &&
		st.lastDist == m.dm.dist && st.lastEnd == m.dm.last && st.lastNext == " " &&
		len(line) >= stampLen+2 && line[stampLen] == ' ' && !isDigit(line[stampLen+1]) &&
		line[:stampLen] == m.text
}

// sameMinute reports whether the stamp line starts with is the
// remembered one's but for its seconds, both from 00 to 59: the syslog
// template then takes the same path through both (its %S,
// "[0-5]?\d|6[0-1]", takes two digits by its first branch; nothing
// else reads them), so its match, spans and groups are the memo's. The
// seconds 60 and 61 take the other branch, and 62 to 99 no match: those
// are searched. A log's new second then costs no search (a search, with
// the month names looked for, was a fifth of what the date cost).
func sameMinute(memo, line string) bool {
	return memo[:stampLen-2] == line[:stampLen-2] && lowSecond(memo[stampLen-2:stampLen]) && lowSecond(line[stampLen-2:stampLen])
}

func lowSecond(s string) bool { return s[0] >= '0' && s[0] <= '5' && isDigit(s[1]) }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// find returns the date of line, the way fail2ban's DateDetector.matchTime
// chooses (without its reordering of templates by hits): the template of
// the last date first when the date stands at the same place; else the
// first template that is anchored or matches at most one character in (or
// where it matched last), keeping the nearest match otherwise.
func (d *Detector) Find(line string, st *State) (Match, bool) {
	if st.from != d {
		// The resolved detector kept in the state: resolved's call
		// through sync.OnceValue on every line cost what the line of a
		// known stamp costs.
		st.from, st.det = d, d.resolved()
	}
	d = st.det
	if st.sameStamp(d, line) {
		return st.stamp.dm, true
	}
	anchored := func(t *template) bool { return t.flags&(tmplLineBegin|tmplLineEnd) != 0 }
	skip := -1
	if i := st.lastIdx; i >= 0 && i < len(d.templates) {
		t := d.templates[i]
		var dm Match
		ok := false
		if anchored(t) {
			dm, ok = d.searchAnchored(i, line, st)
			skip = i
		} else if sliceAt(line, st.lastDist-1, st.lastDist) == st.lastPrev && sliceAt(line, st.lastEnd, st.lastEnd+1) == st.lastNext && st.lastEnd <= len(line) {
			dm, ok = d.search(i, line[:st.lastEnd])
		}
		if ok && (anchored(t) || (dm.dist == st.lastDist && dm.last == st.lastEnd)) {
			st.won(dm, line)
			return dm, true
		}
	}
	var found Match
	haveFound := false
	for i, t := range d.templates {
		if i == skip {
			continue
		}
		dm, ok := d.search(i, line)
		if !ok {
			continue
		}
		if i+1 >= len(d.templates) || anchored(t) {
			st.won(dm, line)
			return dm, true
		}
		td, seen := st.tmplDist[i]
		if (seen && dm.dist > td) || dm.dist > st.lastDist {
			if !haveFound || dm.dist < found.dist {
				found, haveFound = dm, true
			}
			continue
		}
		st.won(dm, line)
		return dm, true
	}
	if haveFound {
		st.won(found, line)
		return found, true
	}
	return Match{}, false
}

func (st *State) won(dm Match, line string) {
	if st.tmplDist == nil {
		st.tmplDist = map[int]int{}
	}
	st.tmplDist[dm.idx] = dm.dist
	st.lastIdx = dm.idx
	st.lastDist, st.lastPrev = dm.dist, sliceAt(line, dm.dist-1, dm.dist)
	st.lastEnd, st.lastNext = dm.last, sliceAt(line, dm.last, dm.last+1)
}

// sliceAt is Python's line[i:j] for small ranges (negative i clamps).
func sliceAt(s string, i, j int) string {
	if i < 0 {
		i = 0
	}
	if j > len(s) {
		j = len(s)
	}
	if i >= j {
		return ""
	}
	return s[i:j]
}

func firstRune(s string) rune {
	for _, r := range s {
		return r
	}
	return 0
}

func runeLen(s string, i int) int {
	if i >= len(s) {
		return 0
	}
	_, n := utf8.DecodeRuneInString(s[i:])
	return n
}

// date reads the time of a match. now is the reference of year inference,
// loc the zone of times written without one.
func (m *Match) date(line string, now time.Time, loc *time.Location) (time.Time, bool) {
	text := line[m.start:m.end]
	switch m.t.kind {
	case tmplEpoch, tmplLongEpoch:
		f, err := strconv.ParseFloat(strings.TrimSpace(text), 64)
		if err != nil {
			return time.Time{}, false
		}
		if m.t.kind == tmplLongEpoch && len(text) >= 13 {
			if len(text) >= 16 && !strings.Contains(text, ".") {
				f /= 1e6
			} else {
				f /= 1e3
			}
		}
		sec := int64(f)
		return time.Unix(sec, int64((f-float64(sec))*1e9)).In(loc), true
	case tmplTAI64N:
		if len(text) < 17 {
			return time.Time{}, false
		}
		s, err := strconv.ParseInt(text[2:17], 16, 64)
		if err != nil {
			return time.Time{}, false
		}
		return time.Unix(s, 0).In(loc), true
	}
	// The groups in name order (readFields' order), on the stack: a
	// map of them, its keys sorted, was most of a date's reading.
	var stack [16]dateGroup
	groups := stack[:0]
	for _, i := range m.t.byName {
		if m.m[2*i] < 0 {
			continue
		}
		g := dateGroup{name: m.t.names[i], v: line[m.m[2*i]:m.m[2*i+1]]}
		if n := len(groups); n > 0 && groups[n-1].name == g.name {
			// A name twice (a map kept the last that took part).
			groups[n-1] = g
			continue
		}
		groups = append(groups, g)
	}
	return strptime(groups, now, loc)
}
