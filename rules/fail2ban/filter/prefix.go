package filter

import (
	"slices"
	"strings"

	"github.com/stockade-ids/stockade/rules/fail2ban/pyre"
	"github.com/stockade-ids/stockade/rules/regex"
)

// fail2ban's filters start their prefregex with common.conf's
// __prefix_line (logtype file), sshd's in <F-MLFID>: a syslog header's
// host, program and pid, each part optional,
//
//	(?:\[\])?\s*(?:<[^.]+\.[^.]+>\s+)?(?:\S+\s+)?(?:kernel:...\s+)?(?:@vserver_\S+\s+)?(?:(?:DAEMON...)\s+)?(?:\[ID \d+ \S+\]\s+)?
//
// On a backtracking engine that is some thirty steps on every line a
// failregex might match, each trying a part that is not there. Read by
// structure, it is one pass over the header: prefixLine takes the first
// way the backtracker would go through it (every part that can match,
// greedily: nothing after a part can fail, all of it being optional),
// then runs the rest of the prefregex (the tail) from there. When the
// tail matches, that is the prefregex's match, groups and all, since the
// backtracker tries the tail after that first way before any other.
// Whatever the one pass does not read exactly (a part that is there but
// rare: a syslog priority, "kernel:", "@vserver_", "[ID ...]", a
// bracketed daemon, a character that is not ASCII) and a tail that does
// not match are left to the whole prefregex.

// prefixHead, prefixMid and prefixEnd are the __prefix_line around its
// daemon (twice), as fail2ban 0.10 to 1.1 write it.
const (
	prefixHead = `(?:\[\])?\s*(?:<[^.]+\.[^.]+>\s+)?(?:\S+\s+)?(?:kernel:\s?\[ *\d+\.\d+\]:?\s+)?(?:@vserver_\S+\s+)?(?:(?:(?:\[\d+\])?:\s+[\[\(]?`
	prefixMid  = `(?:\(\S+\))?[\]\)]?:?|[\[\(]?`
	prefixEnd  = `(?:\(\S+\))?[\]\)]?:?(?:\[\d+\])?:?)\s+)?(?:\[ID \d+ \S+\]\s+)?`
	// shortHead and shortEnd are lt_short's __prefix_line (logtype
	// journal, fail2ban's rendering of a journal entry) around its
	// daemon.
	shortHead = `\s*(?:\S+\s+)?(?:`
	shortEnd  = `(?:\[\d+\])?:?\s+)?(?:kernel:\s?\[ *\d+\.\d+\]:?\s+)?`
	// contentTail is how a prefregex ends: the rest of the line is the
	// content.
	contentTail = `<F-CONTENT>.+</F-CONTENT>$`
	// optsMax bounds the strings an optional part before the content
	// may stand for (sshd's __pref is five).
	optsMax = 16
)

// prefixLine is a prefregex that starts with __prefix_line, read by
// structure.
type prefixLine struct {
	// daemons are the spellings of the daemon, in the order the
	// backtracker tries them: sshd(?:-session)? is "sshd-session",
	// "sshd".
	daemons []string
	// mlfid: the prefix line is the prefregex's group 1, <F-MLFID>.
	mlfid bool
	// short: the prefix line is lt_short's (host, daemon, kernel), not
	// lt_file's.
	short bool
	// opts are what may stand between the header and the content, in
	// the order the backtracker tries them, when the rest of the
	// prefregex is that and contentTail (sshd's "error: ", "fatal: ",
	// ...); nil for a tail read by regex.
	opts []string
	// optLead holds the first bytes of opts, optEmpty says "" is one.
	optLead  pyre.ByteSet
	optEmpty bool
	// tail is the prefregex after the prefix line, anchored where it
	// ends, when opts cannot read it. Its groups are the prefregex's
	// after mlfid.
	tail *regex.Regex
}

// prefixLineOf recognises a prefregex written as __prefix_line (in
// <F-MLFID> or not) with a daemon that is a plain word or a few (see
// daemonSpellings), then a tail that means the same run apart (see
// standsAlone) and has no host tag (whose expansion depends on usedns);
// nil otherwise.
func prefixLineOf(pref *regex.Regex) *prefixLine {
	src, ok := strings.CutPrefix(pref.Src, "^")
	if !ok {
		return nil
	}
	p := &prefixLine{}
	src, p.mlfid = strings.CutPrefix(src, "<F-MLFID>")
	var tail string
	if rest, ok := strings.CutPrefix(src, prefixHead); ok {
		n := strings.Index(rest, prefixMid)
		if n <= 0 {
			return nil
		}
		p.daemons = daemonSpellings(rest[:n])
		tail, ok = strings.CutPrefix(rest[n+len(prefixMid):], rest[:n]+prefixEnd)
		if !ok {
			return nil
		}
	} else if rest, ok := strings.CutPrefix(src, shortHead); ok {
		n := strings.Index(rest, shortEnd)
		if n <= 0 {
			return nil
		}
		p.daemons, p.short, tail = daemonSpellings(rest[:n]), true, rest[n+len(shortEnd):]
	} else {
		return nil
	}
	if p.daemons == nil {
		return nil
	}
	if p.mlfid {
		tail, ok = strings.CutPrefix(tail, "</F-MLFID>")
	}
	if !ok || !standsAlone(tail) || expandTags(tail, "no") != expandTags(tail, "yes") {
		return nil
	}
	if !p.readTail(pref, tail) {
		return nil
	}
	return p
}

// readTail sets how the tail after the prefix line is read: as the
// strings that may stand before the content, or as a regex anchored
// where the prefix line ends; false when neither gives the prefregex's
// groups.
func (p *prefixLine) readTail(pref *regex.Regex, tail string) bool {
	head := []string{""}
	if p.mlfid {
		head = append(head, "mlfid")
	}
	if opt, ok := strings.CutSuffix(tail, contentTail); ok && slices.Equal(pref.Names, append(head, "content")) {
		if tree, err := pyre.Parse(opt); err == nil {
			p.opts, _ = tree.Strings(optsMax)
		}
		for _, o := range p.opts {
			if o == "" {
				p.optEmpty = true
			} else {
				p.optLead.Add(o[0])
			}
		}
	}
	if p.opts == nil {
		re, err := Compile("^"+tail, "no", true)
		if err != nil || !slices.Equal(pref.Names, append(head, re.Names[1:]...)) {
			return false
		}
		p.tail = re
	}
	return true
}

// standsAlone reports whether a tail means the same run from where the
// prefix line ends as it does in the whole prefregex: nothing in it
// looks before that place (a look-behind, a word boundary, ^ or \A,
// which would match there), refers to a group by number (the tail
// alone numbers them from 1), or sets flags for the whole pattern.
func standsAlone(tail string) bool {
	for _, bad := range []string{"(?<", `\b`, `\B`, `\A`, "(?P=", "(?("} {
		if strings.Contains(tail, bad) {
			return false
		}
	}
	for i := 0; i < len(tail); i++ {
		switch {
		case tail[i] == '^' && (i == 0 || tail[i-1] != '['):
			return false
		case tail[i] == '\\' && i+1 < len(tail):
			if c := tail[i+1]; c >= '0' && c <= '9' {
				return false
			}
			i++
		}
	}
	return !hasGlobalFlags(tail)
}

// hasGlobalFlags reports a "(?i)" and its like in s: flags for the whole
// pattern, which the tail alone would not carry.
func hasGlobalFlags(s string) bool {
	for i := strings.Index(s, "(?"); i >= 0; {
		j := i + 2
		for j < len(s) && strings.IndexByte("aiLmsux", s[j]) >= 0 {
			j++
		}
		if j > i+2 && j < len(s) && s[j] == ')' {
			return true
		}
		k := strings.Index(s[j:], "(?")
		if k < 0 {
			break
		}
		i = j + k
	}
	return false
}

// daemonSpellings are the words a daemon's pattern stands for, in the
// order the backtracker tries them; nil unless each is a plain word.
func daemonSpellings(src string) []string {
	tree, err := pyre.Parse(src)
	if err != nil {
		return nil
	}
	words, ok := tree.Strings(optsMax)
	if !ok || slices.ContainsFunc(words, func(w string) bool { return w == "" || !plainWord(w) }) {
		return nil
	}
	return words
}

// plainWord: a daemon of letters, digits, '_' and '-', which the pattern
// reads as itself.
func plainWord(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// search is the prefregex's Search on text, false when it is left to the
// prefregex itself. m is reused for the result, tm for the tail's.
func (p *prefixLine) search(text string, m, tm []int) ([]int, bool) {
	end, ok := p.end(text)
	if !ok {
		return nil, false
	}
	g := 2 // the first group after mlfid
	if p.mlfid {
		m[2], m[3] = 0, end
		g = 4
	}
	if p.opts != nil {
		at, stop, ok := p.content(text, end)
		if !ok {
			return nil, false
		}
		m[0], m[1], m[g], m[g+1] = 0, stop, at, stop
		return m[:g+2], true
	}
	n := 2 * len(p.tail.Names)
	t := p.tail.Search(text[end:], tm)
	if len(t) < n || len(m) < n-2+g {
		return nil, false
	}
	m[0], m[1] = 0, end+t[1]
	for k := 2; k < n; k++ {
		if t[k] < 0 {
			m[k-2+g] = -1
		} else {
			m[k-2+g] = t[k] + end
		}
	}
	return m[:n-2+g], true
}

// content reads opts and "(.+)$" at i: where the content starts and
// ends. "." is any character but a newline, and "$" the end or a final
// newline: the content is the rest of the line, if there is any.
func (p *prefixLine) content(text string, i int) (at, end int, ok bool) {
	end = len(text)
	if strings.HasSuffix(text, "\n") {
		end--
	}
	if i >= end || strings.IndexByte(text[i:end], '\n') >= 0 {
		return 0, 0, false
	}
	if !p.optLead.Has(text[i]) {
		// None but the empty ones can stand here.
		if p.optEmpty {
			return i, end, true
		}
		return 0, 0, false
	}
	for _, o := range p.opts {
		if strings.HasPrefix(text[i:], o) && i+len(o) < end {
			return i + len(o), end, true
		}
	}
	return 0, 0, false
}

// isSpace is Python's \s on an ASCII byte (str.isspace: \t to \r, \x1c
// to \x1f and the space).
func isSpace(c byte) bool { return c <= ' ' && spaceBits>>c&1 != 0 }

// spaceBits has bit c set for each space c below 64.
const spaceBits = 1<<' ' | 1<<'\t' | 1<<'\n' | 1<<'\v' | 1<<'\f' | 1<<'\r' | 1<<0x1c | 1<<0x1d | 1<<0x1e | 1<<0x1f

// spaces is the end of the run of spaces at i.
func spaces(text string, i int) int {
	for i < len(text) && isSpace(text[i]) {
		i++
	}
	return i
}

// hostEnd reads (?:\S+\s+)? at i, the host when spaces follow it; false
// when a character past ASCII, which may be a space of another script,
// stands in it.
func hostEnd(text string, i int) (int, bool) {
	j := i
	for j < len(text) && !isSpace(text[j]) {
		if text[j] >= 0x80 {
			return 0, false
		}
		j++
	}
	if j > i && j < len(text) {
		return spaces(text, j), true
	}
	return i, true
}

// end is where the backtracker's first way through __prefix_line ends,
// false when a part it meets is not read here.
func (p *prefixLine) end(text string) (int, bool) {
	if p.short {
		return p.endShort(text)
	}
	if strings.HasPrefix(text, "[]") {
		return 0, false
	}
	i := spaces(text, 0)
	if i < len(text) && (text[i] == '<' || text[i] >= 0x80) {
		return 0, false
	}
	i, ok := hostEnd(text, i)
	if !ok {
		return 0, false
	}
	if rest := text[i:]; rest != "" && (rest[0] == 'k' && strings.HasPrefix(rest, "kernel:") || rest[0] == '@' && strings.HasPrefix(rest, "@vserver_")) {
		return 0, false
	}
	i, ok = p.daemonEnd(text, i)
	if !ok || i < len(text) && (text[i] >= 0x80 || text[i] == '[' && strings.HasPrefix(text[i:], "[ID ")) {
		// A character past ASCII may be a space of another script
		// that the \s+ before it would have taken.
		return 0, false
	}
	return i, true
}

// daemonEnd reads (?:(?:(?:\[\d+\])?:\s+[\[\(]?D(?:\(\S+\))?[\]\)]?:?|[\[\(]?D(?:\(\S+\))?[\]\)]?:?(?:\[\d+\])?:?)\s+)?
// at i, D the daemon: "D[pid]: ", "D: ", "D " and their like, or nothing.
// The first branch starts with '[' or ':', as does a bracketed daemon:
// those are left to the prefregex. The daemon's spellings are tried in
// order, each with what may follow it.
func (p *prefixLine) daemonEnd(text string, i int) (int, bool) {
	if i >= len(text) {
		return i, true
	}
	if c := text[i]; c == '[' || c == '(' || c == ':' || c >= 0x80 {
		return 0, false
	}
	for _, d := range p.daemons {
		if !strings.HasPrefix(text[i:], d) {
			continue
		}
		switch end, st := afterDaemon(text, i+len(d)); st {
		case tookDaemon:
			return end, true
		case leftDaemon:
			return 0, false
		}
	}
	return i, true
}

// What afterDaemon made of the text after a daemon's spelling.
const (
	noDaemon   = iota // the group cannot match with this spelling
	tookDaemon        // it matches, up to end
	leftDaemon        // left to the prefregex
)

// afterDaemon reads (?:\(\S+\))?[\]\)]?:?(?:\[\d+\])?:?\s+ at j, right
// after the daemon.
func afterDaemon(text string, j int) (end, st int) {
	if j >= len(text) {
		return 0, leftDaemon
	}
	switch c := text[j]; {
	case c == '(' || c == ']' || c == ')' || c >= 0x80:
		return 0, leftDaemon
	case c == ':':
		j++
	case c == '[':
		d := j + 1
		for d < len(text) && text[d] >= '0' && text[d] <= '9' {
			d++
		}
		if d == j+1 || d >= len(text) || text[d] != ']' {
			// No pid: nothing after the daemon lets \s+ match at '['.
			if d < len(text) && text[d] >= 0x80 {
				return 0, leftDaemon // a digit of another script?
			}
			return 0, noDaemon
		}
		j = d + 1
		if j < len(text) && text[j] == ':' {
			j++
		}
	}
	if j >= len(text) || text[j] == '[' || text[j] == ':' || text[j] >= 0x80 {
		return 0, leftDaemon
	}
	if !isSpace(text[j]) {
		// \s+ cannot match, however the optional parts before it
		// give back.
		return 0, noDaemon
	}
	return spaces(text, j), tookDaemon
}

// endShort is end for lt_short's prefix line,
//
//	\s*(?:\S+\s+)?(?:D(?:\[\d+\])?:?\s+)?(?:kernel:\s?\[ *\d+\.\d+\]:?\s+)?
//
// the host, then the daemon and its pid, then a kernel's time stamp:
// the first way the backtracker goes through it, each part that can
// match taken greedily, as end does for lt_file's. What it does not read
// exactly (a kernel's time stamp, a character that is not ASCII, which
// may be a space or a digit of another script) is left to the
// prefregex.
func (p *prefixLine) endShort(text string) (int, bool) {
	i, ok := hostEnd(text, spaces(text, 0))
	if !ok {
		return 0, false
	}
	if i < len(text) && text[i] >= 0x80 {
		return 0, false
	}
	i, ok = p.shortDaemon(text, i)
	if !ok || i < len(text) && (text[i] >= 0x80 || text[i] == 'k' && strings.HasPrefix(text[i:], "kernel:")) {
		return 0, false
	}
	return i, true
}

// shortDaemon reads (?:D(?:\[\d+\])?:?\s+)? at i, D the daemon's
// spellings in order: "D[pid]: ", "D: ", "D " and the like, or nothing.
// Giving back the colon or the pid never lets \s+ match (a colon or a
// '[' would stand where it starts), so a spelling either matches with
// all it can take or not at all.
func (p *prefixLine) shortDaemon(text string, i int) (int, bool) {
	for _, d := range p.daemons {
		if !strings.HasPrefix(text[i:], d) {
			continue
		}
		j := i + len(d)
		if j < len(text) && text[j] == '[' {
			k := j + 1
			for k < len(text) && text[k] >= '0' && text[k] <= '9' {
				k++
			}
			switch {
			case k < len(text) && text[k] >= 0x80:
				return 0, false // a digit of another script?
			case k > j+1 && k < len(text) && text[k] == ']':
				j = k + 1
			}
		}
		if j < len(text) && text[j] == ':' {
			j++
		}
		switch {
		case j >= len(text):
		case text[j] >= 0x80:
			return 0, false
		case isSpace(text[j]):
			return spaces(text, j), true
		}
	}
	return i, true
}
