package rules

import (
	"fmt"
	"regexp/syntax"
	"sort"
	"strings"
)

// Address patterns for the fail2ban tags. They are deliberately loose: a
// match is confirmed by netip.ParseAddr, so they only need to find the
// candidate text, never to validate it.
const (
	ipv4Pat = `(?:\d{1,3}\.){3}\d{1,3}`
	ipv6Pat = `(?:[0-9A-Fa-f]{0,4}:){2,7}(?:` + ipv4Pat + `|[0-9A-Fa-f]{1,4}|:?)`
	addrPat = `(?:` + ipv4Pat + `|` + ipv6Pat + `)`
)

// hostTags are the tags that capture the offending address; a regex must
// have exactly one of them.
var hostTags = map[string]string{
	"<HOST>": addrPat,
	"<ADDR>": addrPat,
	"<IP4>":  ipv4Pat,
	"<IP6>":  ipv6Pat,
}

// failRegex is one compiled filter regex.
type failRegex struct {
	src      string
	re       engine
	host     int      // submatch index of the address, -1 for ignore regexes
	names    []string // capture name per submatch index ("" = unnamed)
	literals []string // must all occur in any matching text: a cheap prefilter, longest first
	anyOf    []litSet // each set must have a member in any matching text (fail2ban dialect)
	pair     bool     // the same process follows this line with another about the same attempt
}

// compileFailRegex translates fail2ban-style tags to RE2 and compiles:
//
//	<HOST> <ADDR> <IP4> <IP6>   the offending address (exactly one, failregex)
//	<F-USER>…</F-USER>          a named capture "user" (any <F-NAME>: "name")
//
// RE2 guarantees linear time, so no pack can stall the pipeline with a
// pathological pattern.
func compileFailRegex(src string, needHost bool) (*failRegex, error) {
	out, nhost, err := translate(src)
	if err != nil {
		return nil, err
	}
	if needHost && nhost != 1 {
		if nhost == 0 {
			return nil, fmt.Errorf("failregex needs a <HOST> (or <ADDR>, <IP4>, <IP6>) tag")
		}
		return nil, fmt.Errorf("failregex has %d address tags; exactly one is allowed", nhost)
	}
	re, err := compileEngine(out)
	if err != nil {
		return nil, fmt.Errorf("bad regex: %v", unwrapSyntax(err))
	}
	f := &failRegex{src: src, re: re, host: -1, names: re.Names()}
	for i, n := range f.names {
		if n == "host" {
			f.host = i
		}
	}
	f.literals = requiredLiterals(out)
	return f, nil
}

func translate(src string) (string, int, error) {
	var b strings.Builder
	nhost := 0
	var open []string
	for i := 0; i < len(src); {
		if src[i] == '\\' && i+1 < len(src) {
			b.WriteString(src[i : i+2])
			i += 2
			continue
		}
		if src[i] != '<' {
			b.WriteByte(src[i])
			i++
			continue
		}
		end := strings.IndexByte(src[i:], '>')
		if end < 0 {
			b.WriteByte(src[i])
			i++
			continue
		}
		tag := src[i : i+end+1]
		switch {
		case hostTags[tag] != "":
			nhost++
			if nhost == 1 {
				b.WriteString(`(?P<host>` + hostTags[tag] + `)`)
			} else {
				b.WriteString(`(?:` + hostTags[tag] + `)`)
			}
		case strings.HasPrefix(tag, "<F-") && isTagName(tag[3:len(tag)-1]):
			name := strings.ToLower(tag[3 : len(tag)-1])
			open = append(open, name)
			b.WriteString(`(?P<` + name + `>`)
		case strings.HasPrefix(tag, "</F-") && isTagName(tag[4:len(tag)-1]):
			name := strings.ToLower(tag[4 : len(tag)-1])
			if len(open) == 0 || open[len(open)-1] != name {
				return "", 0, fmt.Errorf("%s closes a capture that is not open", tag)
			}
			open = open[:len(open)-1]
			b.WriteByte(')')
		default:
			// Not a tag: a literal '<' (named groups (?P<x>...) never reach
			// here with a name we would mistake, since tags are upper case).
			b.WriteByte('<')
			i++
			continue
		}
		i += end + 1
	}
	if len(open) > 0 {
		return "", 0, fmt.Errorf("<F-%s> is never closed", strings.ToUpper(open[len(open)-1]))
	}
	return b.String(), nhost, nil
}

func isTagName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func unwrapSyntax(err error) string {
	// The translated pattern would confuse: name the problem only, the
	// position points at the regex as the user wrote it.
	if se, ok := err.(*syntax.Error); ok {
		return se.Code.String()
	}
	return err.Error()
}

// requiredLiterals returns the case-sensitive literals (3 bytes or more)
// every match must contain, longest first. Checking them with
// strings.Contains before running the regex turns most misses into
// memchr-speed scans; the second literal catches lines that share the first
// with benign ones ("Received disconnect from" … ": Auth fail").
func requiredLiterals(pattern string) []string {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil
	}
	var lits []string
	var walk func(r *syntax.Regexp)
	walk = func(r *syntax.Regexp) {
		switch r.Op {
		case syntax.OpLiteral:
			if r.Flags&syntax.FoldCase == 0 && len(string(r.Rune)) >= 3 {
				lits = append(lits, string(r.Rune))
			}
		case syntax.OpCapture:
			walk(r.Sub[0])
		case syntax.OpConcat:
			for _, s := range r.Sub {
				walk(s)
			}
		case syntax.OpPlus:
			walk(r.Sub[0])
		case syntax.OpRepeat:
			if r.Min >= 1 {
				walk(r.Sub[0])
			}
		}
	}
	walk(re.Simplify())
	sort.SliceStable(lits, func(i, j int) bool { return len(lits[i]) > len(lits[j]) })
	if len(lits) > 3 {
		lits = lits[:3]
	}
	return lits
}

// prefilter reports whether text contains every required literal (and a
// member of every required set).
func (f *failRegex) prefilter(text string) bool {
	for _, l := range f.literals {
		if !strings.Contains(text, l) {
			return false
		}
	}
	for i := range f.anyOf {
		if !f.anyOf[i].in(text) {
			return false
		}
	}
	return true
}
