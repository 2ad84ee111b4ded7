package pyre

// A parser for Python's `re` syntax (the dialect of fail2ban's filters),
// into a small tree that print.go writes out for RE2 when that is exact
// and for regexp2 otherwise. Parsing it ourselves, rather than handing the
// text to either engine, is what makes the translation exact: Python's \d,
// \w and \s are Unicode classes, its $ also matches before a final newline,
// {,n} is a quantifier and (?P=name) a back reference, and each engine
// spells these differently or not at all.

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

type nodeOp uint8

const (
	opEmpty     nodeOp = iota
	opLit              // runes
	opAnyNoNL          // . (any character but \n)
	opAnyChar          // . under DOTALL
	opClass            // [...], \d, \w, \s and their negations
	opBeginText        // ^, \A
	opBeginLine        // ^ under MULTILINE
	opEndTextNL        // $: end of text, or before a newline that ends it
	opEndLine          // $ under MULTILINE
	opEndText          // \Z
	opWordB            // \b
	opNotWordB         // \B
	opConcat           // subs
	opAlt              // subs
	opRepeat           // subs[0]{min,max}
	opGroup            // (subs[0]): capturing when cap > 0
	opLook             // lookahead or lookbehind
	opBackref          // \N, (?P=name)
	opCond             // (?(ref)subs[0]|subs[1])
)

type node struct {
	op    nodeOp
	runes []rune
	fold  bool // IGNORECASE on a literal, class or back reference
	ascii bool // ASCII flag on a class or word boundary
	cls   *classSet
	subs  []*node

	min, max   int // repeat; max < 0: unbounded
	lazy       bool
	possessive bool

	cap    int // capture index, from 1; 0 for a non-capturing group
	name   string
	atomic bool

	behind, neg bool // lookaround

	ref int // back reference or condition: a capture index
}

// classSet is a character class: the union of its items, negated when
// neg is set.
type classSet struct {
	neg   bool
	items []classItem
}

// classItem is a range lo-hi, or a category: 'd', 'w', 's' or their
// negations 'D', 'W', 'S' (Python's Unicode meaning, ASCII under (?a)).
type classItem struct {
	lo, hi rune
	cat    byte
	ascii  bool
}

// Regexp is a parsed pattern: the tree and its capture names by index.
type Regexp struct {
	root  *node
	names []string // names[i] names capture i ("" = unnamed); names[0] is the match
}

// Python's flags, as far as they change what a pattern means.
const (
	flagI = 1 << iota // IGNORECASE
	flagM             // MULTILINE
	flagS             // DOTALL
	flagX             // VERBOSE
	flagA             // ASCII
	flagU             // UNICODE (the default for str patterns)
	flagL             // LOCALE: not for str patterns
)

var flagLetters = map[rune]int{'i': flagI, 'm': flagM, 's': flagS, 'x': flagX, 'a': flagA, 'u': flagU, 'L': flagL}

// maxRepeat is Python's MAXREPEAT bound on counted repetition.
const maxRepeat = 4294967295

// maxDepth bounds nesting, so a hostile pattern cannot exhaust the stack.
const maxDepth = 500

type parser struct {
	src    []rune
	pos    int
	flags  int
	groups int
	names  []string
	byName map[string]int
	open   map[int]bool
	depth  int
}

// syntaxError is a syntax error at a rune offset of the pattern.
type syntaxError struct {
	msg string
	pos int
}

func (e *syntaxError) Error() string { return fmt.Sprintf("%s at position %d", e.msg, e.pos) }

func (p *parser) errorf(format string, args ...any) error {
	return &syntaxError{msg: fmt.Sprintf(format, args...), pos: p.pos}
}

// Parse parses a pattern as Python 3's re module does for a str.
func Parse(src string) (*Regexp, error) {
	p := &parser{src: []rune(src), byName: map[string]int{}, open: map[int]bool{}, names: []string{""}}
	if !utf8.ValidString(src) {
		return nil, &syntaxError{msg: "pattern is not valid UTF-8"}
	}
	// Global flags are only allowed at the start (Python 3.11); VERBOSE
	// changes how everything after them is read, so take them first.
	for {
		f, n, ok := p.globalFlags()
		if !ok {
			break
		}
		p.flags |= f
		p.pos += n
	}
	if p.flags&flagL != 0 {
		return nil, p.errorf("bad inline flags: cannot use 'L' flag with a str pattern")
	}
	if p.flags&flagA != 0 && p.flags&flagU != 0 {
		return nil, p.errorf("bad inline flags: flags 'a' and 'u' are incompatible")
	}
	root, err := p.alternation()
	if err != nil {
		return nil, err
	}
	if p.pos < len(p.src) {
		if p.src[p.pos] == ')' {
			return nil, p.errorf("unbalanced parenthesis")
		}
		return nil, p.errorf("unexpected %q", p.src[p.pos])
	}
	return &Regexp{root: root, names: p.names}, nil
}

// globalFlags reads a (?flags) group at the current position.
func (p *parser) globalFlags() (flags, n int, ok bool) {
	s := p.src[p.pos:]
	if len(s) < 4 || s[0] != '(' || s[1] != '?' {
		return 0, 0, false
	}
	i := 2
	for i < len(s) && flagLetters[s[i]] != 0 {
		flags |= flagLetters[s[i]]
		i++
	}
	if i == 2 || i >= len(s) || s[i] != ')' {
		return 0, 0, false
	}
	return flags, i + 1, true
}

func (p *parser) more() bool { return p.pos < len(p.src) }
func (p *parser) peek() rune { return p.src[p.pos] }

// skipVerbose skips whitespace and comments under VERBOSE.
func (p *parser) skipVerbose(flags int) {
	if flags&flagX == 0 {
		return
	}
	for p.more() {
		c := p.peek()
		switch {
		case c == '#':
			for p.more() && p.peek() != '\n' {
				p.pos++
			}
		case strings.ContainsRune(" \t\n\r\v\f", c):
			p.pos++
		default:
			return
		}
	}
}

func (p *parser) alternation() (*node, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxDepth {
		return nil, p.errorf("pattern nests too deeply")
	}
	var alts []*node
	for {
		c, err := p.concat()
		if err != nil {
			return nil, err
		}
		alts = append(alts, c)
		if p.more() && p.peek() == '|' {
			p.pos++
			continue
		}
		break
	}
	if len(alts) == 1 {
		return alts[0], nil
	}
	return &node{op: opAlt, subs: alts}, nil
}

func (p *parser) concat() (*node, error) {
	var items []*node
	for {
		p.skipVerbose(p.flags)
		if !p.more() || p.peek() == '|' || p.peek() == ')' {
			break
		}
		start := p.pos
		atom, err := p.atom()
		if err != nil {
			return nil, err
		}
		if atom == nil { // a comment or a flag group
			continue
		}
		atom, err = p.quantifiers(atom, start)
		if err != nil {
			return nil, err
		}
		// Merge adjacent literals with the same case rule.
		if n := len(items); n > 0 && atom.op == opLit && items[n-1].op == opLit && items[n-1].fold == atom.fold {
			items[n-1].runes = append(items[n-1].runes, atom.runes...)
			continue
		}
		items = append(items, atom)
	}
	switch len(items) {
	case 0:
		return &node{op: opEmpty}, nil
	case 1:
		return items[0], nil
	}
	return &node{op: opConcat, subs: items}, nil
}

// quantifiers applies *, +, ?, {m,n} (and their lazy and possessive forms).
func (p *parser) quantifiers(atom *node, start int) (*node, error) {
	for {
		p.skipVerbose(p.flags)
		if !p.more() {
			return atom, nil
		}
		min, max := 0, 0
		here := p.pos
		switch p.peek() {
		case '*':
			min, max = 0, -1
			p.pos++
		case '+':
			min, max = 1, -1
			p.pos++
		case '?':
			min, max = 0, 1
			p.pos++
		case '{':
			lo, hi, ok, err := p.braces()
			if err != nil {
				return nil, err
			}
			if !ok {
				return atom, nil // a literal brace: the next atom reads it
			}
			min, max = lo, hi
		default:
			return atom, nil
		}
		if isZeroWidth(atom) {
			p.pos = here
			return nil, p.errorf("nothing to repeat")
		}
		if atom.op == opRepeat && p.pos > here && start >= 0 {
			p.pos = here
			return nil, p.errorf("multiple repeat")
		}
		r := &node{op: opRepeat, subs: []*node{atom}, min: min, max: max}
		if p.more() && p.peek() == '?' {
			r.lazy = true
			p.pos++
		} else if p.more() && p.peek() == '+' {
			r.possessive = true
			p.pos++
		}
		atom = r
	}
}

// braces reads {m}, {m,}, {,n}, {m,n} or {,}; ok is false (and the position
// unchanged) when the brace is a literal.
func (p *parser) braces() (lo, hi int, ok bool, err error) {
	here := p.pos
	p.pos++ // {
	if p.more() && p.peek() == '}' {
		p.pos = here
		return 0, 0, false, nil
	}
	var los, his string
	for p.more() && isDigit(p.peek()) {
		los += string(p.peek())
		p.pos++
	}
	if p.more() && p.peek() == ',' {
		p.pos++
		for p.more() && isDigit(p.peek()) {
			his += string(p.peek())
			p.pos++
		}
	} else {
		his = los
		if his == "" {
			his = "x" // "{" then something else: literal
		}
	}
	if !p.more() || p.peek() != '}' || his == "x" {
		p.pos = here
		return 0, 0, false, nil
	}
	p.pos++
	lo, hi = 0, -1
	if los != "" {
		v, perr := strconv.ParseUint(los, 10, 64)
		if perr != nil || v >= maxRepeat {
			return 0, 0, false, p.errorf("the repetition number is too large")
		}
		lo = int(v)
	}
	if his != "" {
		v, perr := strconv.ParseUint(his, 10, 64)
		if perr != nil || v >= maxRepeat {
			return 0, 0, false, p.errorf("the repetition number is too large")
		}
		hi = int(v)
		if hi < lo {
			return 0, 0, false, p.errorf("min repeat greater than max repeat")
		}
	}
	return lo, hi, true, nil
}

func isZeroWidth(n *node) bool {
	switch n.op {
	case opBeginText, opBeginLine, opEndTextNL, opEndLine, opEndText, opWordB, opNotWordB:
		return true
	}
	return false
}

func isDigit(c rune) bool { return c >= '0' && c <= '9' }

// atom reads one item; nil means nothing to add (a comment).
func (p *parser) atom() (*node, error) {
	c := p.peek()
	fold := p.flags&flagI != 0
	switch c {
	case '(':
		return p.group()
	case '[':
		cls, err := p.class()
		if err != nil {
			return nil, err
		}
		return &node{op: opClass, cls: cls, fold: fold}, nil
	case '.':
		p.pos++
		if p.flags&flagS != 0 {
			return &node{op: opAnyChar}, nil
		}
		return &node{op: opAnyNoNL}, nil
	case '^':
		p.pos++
		if p.flags&flagM != 0 {
			return &node{op: opBeginLine}, nil
		}
		return &node{op: opBeginText}, nil
	case '$':
		p.pos++
		if p.flags&flagM != 0 {
			return &node{op: opEndLine}, nil
		}
		return &node{op: opEndTextNL}, nil
	case '\\':
		return p.escape()
	case '*', '+', '?':
		return nil, p.errorf("nothing to repeat")
	case '{':
		// A brace that does not start a repetition is a literal.
		if _, _, ok, err := p.braces(); err != nil {
			return nil, err
		} else if ok {
			return nil, p.errorf("nothing to repeat")
		}
	}
	p.pos++
	return &node{op: opLit, runes: []rune{c}, fold: fold}, nil
}

func (p *parser) escape() (*node, error) {
	start := p.pos
	p.pos++ // backslash
	if !p.more() {
		return nil, p.errorf("bad escape (end of pattern)")
	}
	c := p.peek()
	p.pos++
	ascii := p.flags&flagA != 0
	switch c {
	case 'A':
		return &node{op: opBeginText}, nil
	case 'Z':
		return &node{op: opEndText}, nil
	case 'b':
		return &node{op: opWordB, ascii: ascii}, nil
	case 'B':
		return &node{op: opNotWordB, ascii: ascii}, nil
	case 'd', 'D', 'w', 'W', 's', 'S':
		return &node{op: opClass, cls: &classSet{items: []classItem{{cat: byte(c), ascii: ascii}}}}, nil
	}
	if c >= '1' && c <= '9' {
		// A back reference, or an octal escape of three octal digits.
		digits := string(c)
		if p.more() && isDigit(p.peek()) {
			digits += string(p.peek())
			p.pos++
			if isOctal(rune(digits[0])) && isOctal(rune(digits[1])) && p.more() && isOctal(p.peek()) {
				digits += string(p.peek())
				p.pos++
				v, _ := strconv.ParseUint(digits, 8, 32)
				if v > 0o377 {
					return nil, p.errorf("octal escape value \\%s outside of range 0-0o377", digits)
				}
				return p.lit(rune(v)), nil
			}
		}
		n, _ := strconv.Atoi(digits)
		if n >= p.groups+1 {
			p.pos = start
			return nil, p.errorf("invalid group reference %d", n)
		}
		if p.open[n] {
			return nil, p.errorf("cannot refer to an open group")
		}
		return &node{op: opBackref, ref: n, fold: p.flags&flagI != 0}, nil
	}
	r, err := p.charEscape(c, false)
	if err != nil {
		return nil, err
	}
	return p.lit(r), nil
}

func (p *parser) lit(r rune) *node {
	return &node{op: opLit, runes: []rune{r}, fold: p.flags&flagI != 0}
}

func isOctal(c rune) bool { return c >= '0' && c <= '7' }

// charEscape reads the escapes that stand for one character (c is the
// letter after the backslash, already consumed).
func (p *parser) charEscape(c rune, inClass bool) (rune, error) {
	switch c {
	case 'a':
		return 7, nil
	case 'f':
		return '\f', nil
	case 'n':
		return '\n', nil
	case 'r':
		return '\r', nil
	case 't':
		return '\t', nil
	case 'v':
		return '\v', nil
	case 'x':
		return p.hexEscape(2)
	case 'u':
		return p.hexEscape(4)
	case 'U':
		return p.hexEscape(8)
	case 'N':
		return 0, p.errorf("\\N{...} named characters are not supported")
	case '0':
		digits := "0"
		for i := 0; i < 2 && p.more() && isOctal(p.peek()); i++ {
			digits += string(p.peek())
			p.pos++
		}
		v, _ := strconv.ParseUint(digits, 8, 32)
		return rune(v), nil
	}
	if inClass && isOctal(c) {
		digits := string(c)
		for i := 0; i < 2 && p.more() && isOctal(p.peek()); i++ {
			digits += string(p.peek())
			p.pos++
		}
		v, _ := strconv.ParseUint(digits, 8, 32)
		if v > 0o377 {
			return 0, p.errorf("octal escape value \\%s outside of range 0-0o377", digits)
		}
		return rune(v), nil
	}
	if c < utf8.RuneSelf && (unicode.IsLetter(c) || unicode.IsDigit(c)) {
		return 0, p.errorf("bad escape \\%c", c)
	}
	return c, nil
}

func (p *parser) hexEscape(n int) (rune, error) {
	var v rune
	for i := 0; i < n; i++ {
		if !p.more() {
			return 0, p.errorf("incomplete escape")
		}
		d := p.peek()
		var x rune
		switch {
		case d >= '0' && d <= '9':
			x = d - '0'
		case d >= 'a' && d <= 'f':
			x = d - 'a' + 10
		case d >= 'A' && d <= 'F':
			x = d - 'A' + 10
		default:
			return 0, p.errorf("incomplete escape")
		}
		v = v*16 + x
		p.pos++
	}
	if v > unicode.MaxRune {
		return 0, p.errorf("bad escape: code point out of range")
	}
	return v, nil
}

// class reads [...] into a set.
func (p *parser) class() (*classSet, error) {
	start := p.pos
	p.pos++ // [
	set := &classSet{}
	if p.more() && p.peek() == '^' {
		set.neg = true
		p.pos++
	}
	ascii := p.flags&flagA != 0
	first := true
	for {
		if !p.more() {
			p.pos = start
			return nil, p.errorf("unterminated character set")
		}
		c := p.peek()
		if c == ']' && !first {
			p.pos++
			break
		}
		first = false
		lo, cat, err := p.classAtom(ascii)
		if err != nil {
			return nil, err
		}
		if cat != 0 {
			set.items = append(set.items, classItem{cat: cat, ascii: ascii})
			continue
		}
		// A range?
		if p.pos+1 < len(p.src) && p.peek() == '-' && p.src[p.pos+1] != ']' {
			p.pos++
			hi, hcat, err := p.classAtom(ascii)
			if err != nil {
				return nil, err
			}
			if hcat != 0 {
				return nil, p.errorf("bad character range")
			}
			if hi < lo {
				return nil, p.errorf("bad character range")
			}
			set.items = append(set.items, classItem{lo: lo, hi: hi})
			continue
		}
		set.items = append(set.items, classItem{lo: lo, hi: lo})
	}
	return set, nil
}

// classAtom reads one character of a class, or a category escape.
func (p *parser) classAtom(ascii bool) (rune, byte, error) {
	c := p.peek()
	p.pos++
	if c != '\\' {
		return c, 0, nil
	}
	if !p.more() {
		return 0, 0, p.errorf("bad escape (end of pattern)")
	}
	c = p.peek()
	p.pos++
	switch c {
	case 'd', 'D', 'w', 'W', 's', 'S':
		return 0, byte(c), nil
	case 'b':
		return 8, 0, nil
	}
	r, err := p.charEscape(c, true)
	return r, 0, err
}
