package pyre

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stockade-ids/stockade/rules/regex"
)

func TestParsePythonRefuses(t *testing.T) {
	cases := []struct {
		name, pattern, want string
	}{
		{"unbalanced", `a(b`, "missing )"},
		{"extra paren", `a)b`, "unbalanced parenthesis"},
		{"bad escape", `\q`, "bad escape"},
		{"nothing to repeat", `*a`, "nothing to repeat"},
		{"repeat an anchor", `^*`, "nothing to repeat"},
		{"multiple repeat", `a**`, "multiple repeat"},
		{"unknown group name", `(?P=nope)`, "unknown group name"},
		{"group ref to an open group", `(a\1)`, "open group"},
		{"invalid group reference", `(a)\2`, "invalid group reference"},
		{"variable-width lookbehind", `(?<=a+)b`, "fixed-width"},
		{"global flags late", `a(?i)b`, "global flags not at the start"},
		{"duplicate group name", `(?P<a>x)(?P<a>y)`, "redefinition"},
		{"bad range", `[z-a]`, "bad character range"},
		{"unterminated class", `[abc`, "unterminated character set"},
		{"min above max", `a{3,2}`, "min repeat greater"},
		{"bad group name", `(?P<1a>x)`, "bad character in group name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse(c.pattern)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Parse(%q) = %v, want an error containing %q", c.pattern, err, c.want)
			}
		})
	}
}

// TestPythonSemantics checks, on each engine the pattern runs on, what
// Python's re module answers for the same search (re.search on the text
// with fail2ban's trailing newline).
func TestPythonSemantics(t *testing.T) {
	cases := []struct {
		name    string
		pattern string
		engine  string // the engine the pattern must run on
		text    string // searched as text+"\n", as fail2ban does
		match   bool
		group   string // a named group...
		value   string // ...and its value
	}{
		{"unicode digit", `^(?P<n>\d+)$`, "re2", "١٢٣", true, "n", "١٢٣"},
		{"unicode word", `^(?P<w>\w+) `, "re2", "Zoë x", true, "w", "Zoë"},
		{"file separator is space", `^a\sb$`, "re2", "a\x1cb", true, "", ""},
		{"no-break space is space", `^a\sb$`, "re2", "a\u00a0b", true, "", ""},
		{"dollar before final newline", `foo$`, "re2", "foo", true, "", ""},
		{"backslash Z is the very end", `foo\Z`, "re2", "foo", false, "", ""},
		{"whitespace takes the final newline", `foo\s+$`, "re2", "foo", true, "", ""},
		{"dot stops at newline", `^foo.$`, "re2", "foo", false, "", ""},
		{"dotall", `(?s)^foo.$`, "re2", "foo", true, "", ""},
		{"comma repeat", `^a{,2}$`, "re2", "aa", true, "", ""},
		{"comma repeat too many", `^a{,2}$`, "re2", "aaa", false, "", ""},
		{"literal brace", `^{DATE}$`, "re2", "{DATE}", true, "", ""},
		{"ignore case", `(?i)^root$`, "re2", "RoOt", true, "", ""},
		{"scoped flag", `^(?i:ab)C$`, "re2", "ABC", true, "", ""},
		{"scoped flag off", `^(?i:ab)C$`, "re2", "ABc", false, "", ""},
		{"non-greedy", `^(?P<u>.*?) from`, "re2", "a from b from c", true, "u", "a"},
		{"class with negated category", `^[\S]+$`, "re2", "abc", true, "", ""},
		{"negated class", `^[^\s:]+:`, "re2", "abc:d", true, "", ""},
		{"ascii word boundary", `(?a)\bfoo\b`, "re2", "x foo y", true, "", ""},
		{"unicode word boundary", `\bfoo`, "re2+regexp2", "éfoo", false, "", ""},
		{"unicode word boundary matches", `\bfoo`, "re2+regexp2", "é foo", true, "", ""},
		{"negative lookahead", `^Failed (?!publickey)\S+ for`, "re2+regexp2", "Failed publickey for", false, "", ""},
		{"negative lookahead passes", `^Failed (?!publickey)\S+ for`, "re2+regexp2", "Failed password for", true, "", ""},
		{"lookbehind", `(?<=user=)(?P<u>\w+)`, "regexp2", "x user=bob", true, "u", "bob"},
		{"named back reference", `^(?P<q>['"])x(?P=q)$`, "regexp2", `'x'`, true, "", ""},
		{"named back reference fails", `^(?P<q>['"])x(?P=q)$`, "regexp2", `'x"`, false, "", ""},
		// Anchored, a conditional is split into the paths that decide it
		// (see split); unanchored, it stays on regexp2.
		{"conditional yes", `^(?P<b>\[)?x(?(b)\])$`, "re2", "[x]", true, "", ""},
		{"conditional no", `^(?P<b>\[)?x(?(b)\])$`, "re2", "[x", false, "", ""},
		{"unanchored conditional yes", `(?P<b>\[)?x(?(b)\])$`, "regexp2", "[x]", true, "", ""},
		{"unanchored conditional no", `(?P<b>\[)x(?(b)\])$`, "regexp2", "[x", false, "", ""},
		{"negated class minus newline", `^a[^\S\n]b$`, "regexp2", "a b", true, "", ""},
		{"negated class minus newline refuses newline", `^a[^\S\n]+$`, "regexp2", "a", false, "", ""},
		{"atomic group", `^(?>a+)b`, "regexp2", "aab", true, "", ""},
		{"python groups are numbered left to right", `^(?P<a>x)(y)(?P<c>z)$`, "re2", "xyz", true, "c", "z"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			re, _, err := Compile(c.pattern, true)
			if err != nil {
				t.Fatalf("compile %q: %v", c.pattern, err)
			}
			if re.Kind() != c.engine {
				t.Errorf("%q runs on %s, want %s", c.pattern, re.Kind(), c.engine)
			}
			m := re.Submatch(c.text+"\n", nil)
			if (m != nil) != c.match {
				t.Fatalf("search(%q, %q) matched %v, want %v", c.pattern, c.text, m != nil, c.match)
			}
			if !c.match || c.group == "" {
				return
			}
			for i, n := range re.Names() {
				if n == c.group {
					got := (c.text + "\n")[m[2*i]:m[2*i+1]]
					if got != c.value {
						t.Errorf("group %s = %q, want %q", c.group, got, c.value)
					}
					return
				}
			}
			t.Errorf("no group %s in %v", c.group, re.Names())
		})
	}
}

// TestRE2AndRegexp2Agree runs the patterns RE2 takes on both engines: the
// two translations of one tree must find the same spans.
func TestRE2AndRegexp2Agree(t *testing.T) {
	patterns := []string{
		`^(?P<user>\S+) from (?P<host>(?:\d{1,3}\.){3}\d{1,3})(?: port \d+)?\s*$`,
		`(?i)^(?:error|fatal): (?:PAM: )?(?P<m>.+)$`,
		`^\s*\[(?:error|crit)\] \d+#\d+: \*\d+\s+(?P<c>.*), client: (?P<ip>[^,]+)(?:, (?:server|request|host|referrer): (?:"[^"]*"|\S*)){0,4}\s*$`,
		`^[\w\-.^_]*\w$`,
		`^(?P<a>[^\s:]*):(?P<b>[\S]*)$`,
		`x{2,3}?y`,
	}
	texts := []string{
		"root from 192.0.2.1 port 22", "bob from 10.0.0.1", "ERROR: PAM: boom", "fatal: x",
		`[error] 1#1: *5 user "x": password mismatch, client: 192.0.2.3, server: a, request: "GET / HTTP/1.1"`,
		"host-name.example.org", "a:b", "abc:déf", "xxxy", "xxy", "", "\x1c", "é ü",
	}
	for _, p := range patterns {
		tree, err := Parse(p)
		if err != nil {
			t.Fatal(err)
		}
		re2src, err := tree.printRE2(true)
		if err != nil {
			t.Fatalf("%q: %v", p, err)
		}
		re2, err := regex.Compile(re2src)
		if err != nil {
			t.Fatalf("%q: %v", p, err)
		}
		bt, err := regex.CompileRegexp2(tree.printNET(), len(tree.names))
		if err != nil {
			t.Fatalf("%q: %v", p, err)
		}
		for _, s := range texts {
			a, b := re2.Submatch(s+"\n", nil), bt.Submatch(s+"\n", nil)
			if fmt.Sprint(a) != fmt.Sprint(b) {
				t.Errorf("%q on %q: re2 %v, regexp2 %v", p, s, a, b)
			}
		}
	}
}

// FuzzPythonRegex feeds patterns to the Python parser: it must refuse or
// accept, never panic; what RE2 takes must find on both engines what the
// other finds.
func FuzzPythonRegex(f *testing.F) {
	for _, p := range []string{
		`^(?P<user>\S+) from <HOST>$`, `(?i)a{,3}b\Z`, `(?<=x)y(?!z)`, `(?P<a>.)(?P=a)`, `[^\S\n]+`,
		`(?(1)a|b)`, `\bword\b`, `(?a)\w+`, `[\d\-\]]`, `(?x) a # comment`, `\x41\u00e9\0`,
	} {
		f.Add(p, "a word from 192.0.2.1 aab")
	}
	f.Fuzz(func(t *testing.T, pattern, text string) {
		tree, err := Parse(pattern)
		if err != nil {
			return
		}
		netSrc := tree.printNET()
		bt, err := regex.CompileRegexp2(netSrc, len(tree.names))
		if err != nil {
			return // regexp2 refuses what Python takes only for limits
		}
		re2src, err := tree.printRE2(true)
		if err != nil {
			return
		}
		re2, err := regex.Compile(re2src)
		if err != nil {
			return
		}
		text = strings.ReplaceAll(text, "\n", " ") + "\n"
		a, b := re2.Submatch(text, nil), bt.Submatch(text, nil)
		if regex.Faults(bt) == 0 && fmt.Sprint(a) != fmt.Sprint(b) {
			t.Errorf("%q on %q: re2 %v (%s), regexp2 %v (%s)", pattern, text, a, re2src, b, netSrc)
		}
	})
}

// TestEmptyIterationNotRE2 keeps on regexp2 a repeated group that can match
// empty: Python tries one more, empty, iteration and keeps its captures
// ((0*)* on "0" leaves group 1 at 1-1), where RE2 keeps the last non-empty
// one (0-1). The fuzz target found it.
func TestEmptyIterationNotRE2(t *testing.T) {
	for p, exact := range map[string]bool{
		`(0*)*`: false, `(0*)+`: false, `(0*){1,3}`: false, `(a|)*`: false, `(?:(x)?)*`: false,
		`(0*)?`: true, `(0+)*`: true, `(?:0*)*`: true, `(0*){1}`: true,
	} {
		tree, err := Parse(p)
		if err != nil {
			t.Fatal(err)
		}
		_, err = tree.printRE2(true)
		if got := err == nil; got != exact {
			t.Errorf("%q: on RE2 %v, want %v (%v)", p, got, exact, err)
		}
	}
}
