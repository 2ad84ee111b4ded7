package datepattern

// fail2ban's date templates: a pattern of %-directives (or EPOCH, TAI64N)
// turned into a regex with fail2ban's word and line bounds, as its
// DatePatternRegex and DateTemplate build them, and compiled.

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stockade-ids/stockade/rules/fail2ban/pyre"
	"github.com/stockade-ids/stockade/rules/regex"
)

// Template flags, as fail2ban's DateTemplate.
const (
	tmplLineBegin = 8
	tmplLineEnd   = 4
	tmplWordBegin = 2
	tmplWordEnd   = 1
)

type tmplKind uint8

const (
	tmplPattern   tmplKind = iota // %-directives, read by strptime
	tmplEpoch                     // seconds since 1970, possibly with a fraction
	tmplLongEpoch                 // seconds, milliseconds or microseconds
	tmplTAI64N
)

// template is one compiled template.
type template struct {
	name  string
	kind  tmplKind
	grp   int // the group holding the date (1, or 2 for {EPOCH} patterns)
	flags int
	re    regex.Engine
	names []string
	// prefixChar: the word-begin boundary was written for RE2 as "the
	// start, or one non-word character", consumed before the date.
	prefixChar bool
	// suffixGroup: the group of the non-word character consumed after the
	// date by the RE2 form of the word-end boundary (0: none).
	suffixGroup int
	// anyOf: literal sets a match needs (month names): a cheap test
	// before the regex.
	anyOf []regex.LitSet
	// byName are the indexes of the named groups, in name order (stable).
	byName []int
	// build, for one of fail2ban's defaults, compiles the template at its
	// first search (see ready): a log's lines keep to one template, and
	// compiling all thirty took a process longer (12 ms) than judging
	// 20,000 lines of an auth.log.
	build func() error
	once  sync.Once
}

// ready is t, compiled. A default template cannot fail to compile
// (TestDefaultTemplatesCompile compiles each): an error is a bug, as
// regexp.MustCompile's of a constant.
func (t *template) ready() *template {
	if t.build != nil {
		t.once.Do(func() {
			if err := t.build(); err != nil {
				panic("datepattern: fail2ban's default template " + t.name + ": " + err.Error())
			}
		})
	}
	return t
}

// beginMode is how a template's start is bounded.
type beginMode uint8

const (
	beginNone  beginMode = iota // no bound
	beginWord                   // at a word start: (?=^|\b|\W)
	beginStart                  // at the start of the line, after at most two non-word characters
)

var defaultPatterns = []string{
	`%ExY(?P<_sep>[-/.])%m(?P=_sep)%d(?:T|  ?)%H:%M:%S(?:[.,]%f)?(?:\s*%z)?`,
	`(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?`,
	`(?:%a )?%b %d %ExY %k:%M:%S(?:\.%f)?`,
	`%d(?P<_sep>[-/])%m(?P=_sep)(?:%ExY|%Exy) %k:%M:%S`,
	`%d(?P<_sep>[-/])%b(?P=_sep)%ExY[ :]?%H:%M:%S(?:\.%f)?(?: %z)?`,
	`%m/%d/%ExY:%H:%M:%S`,
	`%m-%d-%ExY %k:%M:%S(?:\.%f)?`,
	`EPOCH`,
	`{^LN-BEG}%H:%M:%S`,
	`^<%m/%d/%Exy@%H:%M:%S>`,
	`%Exy%Exm%Exd  ?%H:%M:%S`,
	`%b %d, %ExY %I:%M:%S %p`,
	`^%b-%d-%Exy %k:%M:%S`,
	`%ExY%Exm%Exd(?:T|  ?)%ExH%ExM%ExS(?:[.,]%f)?(?:\s*%z)?`,
	`(?:%Z )?(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?`,
	`(?:%z )?(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?`,
	`TAI64N`,
}

const epochRE = `\d{10,11}\b(?:\.\d{3,6})?`
const longEpochRE = `\d{10,11}(?:\d{3}(?:\.\d{1,6}|\d{3})?)?`

var epochPlaceholder = regexp.MustCompile(`(?i)\{L?EPOCH\}`)

// compiler builds templates; exY is %ExY for the current years. A lazy
// one leaves each template's compilation to its first search (see
// template.build): for fail2ban's defaults only, which cannot be refused.
type compiler struct {
	exY  string
	lazy bool
}

func newCompiler() *compiler { return &compiler{exY: yearRE(time.Now())} }

// template builds one template the way fail2ban's _getPatternTemplate
// does from a pattern (a line of datepattern, or a default).
func (c *compiler) template(pattern string) (*template, error) {
	key := pattern
	if !strings.Contains(pattern, "%") {
		key = strings.ToUpper(pattern)
	}
	if strings.Contains(key, "EPOCH") {
		if loc := epochPlaceholder.FindStringIndex(pattern); loc != nil && (loc[0] == 0 || pattern[loc[0]-1] != '\\') {
			long := strings.Contains(key, "LEPOCH")
			re := longEpochRE
			kind := tmplLongEpoch
			if !long {
				re, kind = epochRE, tmplEpoch
			}
			regex := epochPlaceholder.ReplaceAllLiteralString(pattern, "("+re+")")
			if !grouped(pattern) {
				regex = "(" + regex + ")"
			}
			return c.regexTemplate(pattern, regex, kind, 2, beginWord, true)
		}
		switch key {
		case "EPOCH":
			return c.regexTemplate("Epoch", `((?:^|(?P<square>(?<=^\[))|(?P<selinux>(?<=\baudit\()))`+epochRE+`)(?:(?(selinux)(?=:\d+\)))|(?(square)(?=\])))`, tmplEpoch, 1, beginNone, true)
		case "{^LN-BEG}EPOCH", "^EPOCH":
			return c.regexTemplate("{^LN-BEG}Epoch", `((?P<square>(?<=^\[))?`+epochRE+`)(?(square)(?=\]))`, tmplEpoch, 1, beginStart, true)
		case "LEPOCH":
			return c.regexTemplate("LongEpoch", `((?:^|(?P<square>(?<=^\[))|(?P<selinux>(?<=\baudit\()))`+longEpochRE+`)(?:(?(selinux)(?=:\d+\)))|(?(square)(?=\])))`, tmplLongEpoch, 1, beginNone, true)
		case "{^LN-BEG}LEPOCH", "^LEPOCH":
			return c.regexTemplate("{^LN-BEG}LongEpoch", `((?P<square>(?<=^\[))?`+longEpochRE+`)(?(square)(?=\]))`, tmplLongEpoch, 1, beginStart, true)
		}
	}
	switch key {
	case "TAI64N":
		return c.regexTemplate("TAI64N", `@[0-9a-f]{24}`, tmplTAI64N, 1, beginNone, true)
	case "{^LN-BEG}TAI64N", "^TAI64N":
		return c.regexTemplate("{^LN-BEG}TAI64N", `@[0-9a-f]{24}`, tmplTAI64N, 1, beginStart, true)
	}
	return c.patternTemplate(pattern)
}

// patternTemplate is fail2ban's DatePatternRegex.setRegex.
func (c *compiler) patternTemplate(pattern string) (*template, error) {
	begin, end := beginWord, true
	p := pattern
	if strings.HasPrefix(p, "{UNB}") {
		p = p[len("{UNB}"):]
		begin, end = beginNone, false
	}
	if begin != beginNone && strings.HasPrefix(p, "{^LN-BEG}") {
		p = p[len("{^LN-BEG}"):]
		begin = beginStart
	}
	regex, alpha, err := substituteTimeRE(p, c.exY)
	if err != nil {
		return nil, err
	}
	if alpha {
		regex = "(?iu)" + regex
	}
	return c.regexTemplate(pattern, regex, tmplPattern, 1, begin, end)
}

var (
	reGlobalFlags   = regexp.MustCompile(`\(\?[a-z]+\)`)
	reNoWordBoundBg = regexp.MustCompile(`^\(*(?:\(\?\w+\))?(?:\^|\(*\*\*|\((?:\?:)?\^)`)
	reGroup         = regexp.MustCompile(`^((?:\(\?\w+\))?\^?(?:\(\?\w+\))?)(.*?)(\$?)$`)
	reLineBoundBeg  = regexp.MustCompile(`^(?:\(\?\w+\))?(?:(\^)|\((?:\?:)?\^)`)
	reDelBoundsBeg  = regexp.MustCompile(`^\(*(?:\(\?\w+\))?\(*\*\*`)
	reDelBoundsEnd  = regexp.MustCompile(`^\*\*\)*$`)
)

// regexTemplate is fail2ban's DateTemplate.setRegex, and the compilation.
func (c *compiler) regexTemplate(name, regex string, kind tmplKind, grp int, begin beginMode, wordEnd bool) (*template, error) {
	regex = strings.TrimSpace(regex)
	gf := ""
	if loc := reGlobalFlags.FindStringIndex(regex); loc != nil {
		gf = regex[loc[0]:loc[1]]
		regex = regex[:loc[0]] + regex[loc[1]:]
	}
	boundBegin := begin != beginNone && !reNoWordBoundBg.MatchString(regex)
	boundEnd := wordEnd && !noWordBoundEnd(regex)
	if !grouped(regex) {
		regex = reGroup.ReplaceAllString(regex, "${1}(${2})${3}")
	}
	t := &template{name: name, kind: kind, grp: grp}
	wordPrefix := false
	if boundBegin {
		if begin == beginStart {
			t.flags |= tmplLineBegin
			regex = `^(?:\W{0,2})?` + regex
			if !strings.HasPrefix(t.name, "{^LN-BEG}") {
				t.name = "{^LN-BEG}" + t.name
			}
		} else {
			t.flags |= tmplWordBegin
			wordPrefix = true
		}
	}
	if boundEnd {
		t.flags |= tmplWordEnd
	}
	if t.flags&tmplLineBegin == 0 && lineBoundBeg(regex) {
		t.flags |= tmplLineBegin
	}
	if t.flags&tmplLineEnd == 0 && lineBoundEnd(regex) {
		t.flags |= tmplLineEnd
	}
	regex = delWordBounds(regex)
	if c.lazy {
		t.build = func() error { return c.compile(t, gf, regex, wordPrefix, boundEnd) }
		return t, nil
	}
	if err := c.compile(t, gf, regex, wordPrefix, boundEnd); err != nil {
		return nil, fmt.Errorf("date pattern %q: %v", name, err)
	}
	return t, nil
}

// compile builds the engine. fail2ban wraps the pattern in (?=^|\b|\W)
// and (?=\b|\W|$); when the date always starts (ends) with a word
// character, the same boundary is "the start, or a non-word character
// before it" ("a non-word character after it, or the end"), which RE2 can
// say by consuming that character outside the date's group. Otherwise the
// lookarounds stay, and the template runs on regexp2.
func (c *compiler) compile(t *template, gf, core string, wordPrefix, wordSuffix bool) error {
	tree, err := pyre.Parse(gf + core)
	if err != nil {
		return err
	}
	prefix, suffix := "", ""
	if wordPrefix {
		switch first := tree.Edge(true); {
		case first.Word && !first.NonWord && !first.Empty:
			prefix = `(?:\A|[^\w])`
			t.prefixChar = true
		case first.NonWord && !first.Word && !first.Empty:
			// Always starts with a non-word character: the bound holds.
		default:
			prefix = `(?=^|\b|\W)`
		}
	}
	if wordSuffix {
		switch last := tree.Edge(false); {
		case last.Word && !last.NonWord && !last.Empty:
			suffix = `(?:([^\w])|\Z)`
			t.suffixGroup = -1
		case last.NonWord && !last.Word && !last.Empty:
		default:
			suffix = `(?=\b|\W|$)`
		}
	}
	full, err := pyre.Parse(gf + prefix + core + suffix)
	if err != nil {
		return err
	}
	full.ExpandBackref("_sep")
	re, err := full.Compile(true)
	if err != nil {
		return err
	}
	t.re, t.names, t.anyOf = re, full.Names(), full.LiteralSets()
	for i, n := range t.names {
		if n != "" {
			t.byName = append(t.byName, i)
		}
	}
	slices.SortStableFunc(t.byName, func(a, b int) int { return strings.Compare(t.names[a], t.names[b]) })
	if t.suffixGroup < 0 {
		t.suffixGroup = len(t.names) - 1
	}
	return nil
}

// grouped reports whether a regex has a capturing group: an unescaped "("
// not followed by "?" (fail2ban's RE_GROUPED).
func grouped(regex string) bool {
	for i := 0; i < len(regex); i++ {
		if regex[i] != '(' {
			continue
		}
		if i+1 < len(regex) && regex[i+1] == '?' {
			continue
		}
		if i > 0 && regex[i-1] == '\\' {
			continue
		}
		if i > 1 && regex[i-2:i] == "(?" {
			continue
		}
		return true
	}
	return false
}

// noWordBoundEnd is RE_NO_WRD_BOUND_END: the regex ends with $, $), \b,
// \s or ** (and closing parentheses), not escaped.
func noWordBoundEnd(regex string) bool {
	for i := 0; i < len(regex); i++ {
		if isNoWordBoundEnd(regex[i:]) && (i == 0 || regex[i-1] != '\\') {
			return true
		}
	}
	return false
}

// isNoWordBoundEnd reports whether tail is one of RE_NO_WRD_BOUND_END's
// forms, ^(?:\$\)?|\\b|\\s|\*\*\)*)$, read by hand: as a regex tried at
// every position of every template's pattern it was a share of start-up
// (each of the detector's templates, for every filter).
func isNoWordBoundEnd(tail string) bool {
	switch tail {
	case "$", "$)", `\b`, `\s`:
		return true
	}
	rest, ok := strings.CutPrefix(tail, "**")
	return ok && strings.Trim(rest, ")") == ""
}

// lineBoundBeg is RE_LINE_BOUND_BEG: ^ at the start (after flags), or
// (^ / (?:^ not followed by |.
func lineBoundBeg(regex string) bool {
	m := reLineBoundBeg.FindStringSubmatchIndex(regex)
	if m == nil {
		return false
	}
	if m[2] >= 0 {
		return true
	}
	return !(m[1] < len(regex) && regex[m[1]] == '|')
}

// lineBoundEnd is RE_LINE_BOUND_END: ends with $ or $), the $ not escaped
// and not after |.
func lineBoundEnd(regex string) bool {
	s := strings.TrimSuffix(regex, ")")
	if !strings.HasSuffix(s, "$") {
		return false
	}
	i := len(s) - 1
	return i == 0 || (s[i-1] != '\\' && s[i-1] != '|')
}

// delWordBounds removes the ** markers (RE_DEL_WRD_BOUNDS).
func delWordBounds(regex string) string {
	if loc := reDelBoundsBeg.FindStringIndex(regex); loc != nil {
		regex = strings.Replace(regex[:loc[1]], "**", "", -1) + regex[loc[1]:]
	}
	for i := 0; i < len(regex); i++ {
		if reDelBoundsEnd.MatchString(regex[i:]) && (i == 0 || regex[i-1] != '\\') {
			regex = regex[:i] + strings.Replace(regex[i:], "**", "", -1)
			break
		}
	}
	return regex
}
