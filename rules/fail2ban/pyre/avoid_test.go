package pyre

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stockade-ids/stockade/rules/regex"
)

// TestAvoidLoop: a loop (?:(?!cWc).)* before $ runs on RE2 and matches
// what regexp2 matches with the lookahead (the match and every group) on
// every string of the alphabet up to length 6 and on random longer ones;
// a loop not before $, or with a literal of another form, stays on
// regexp2.
func TestAvoidLoop(t *testing.T) {
	for _, c := range []struct {
		pattern string
		re2     bool
	}{
		{`^(\S*)(?:(?! ab ).)*$`, true},
		{`^x(.*?) (?:(?! ab ).)*?$`, true},
		{`^(?P<u>[^:]+) b(?: a)?(?:(?:(?! b ).)*)$`, true},
		{`^(?:(?!:a:).)*$`, true},
		{`^(a*)(?:(?! a ).)*$`, true},
		{`^(?:(?! ab ).)*x`, false},     // not before $
		{`^(?:(?! a a ).)*$`, false},    // the word holds the separator
		{`^(?:(?!ab).)*$`, false},       // not cWc
		{`(?i)^(?:(?! ab ).)*$`, false}, // the literal ignores case
	} {
		tree, err := Parse(c.pattern)
		if err != nil {
			t.Fatal(err)
		}
		got, err := tree.Compile(true)
		if err != nil {
			t.Fatal(err)
		}
		if (got.Kind() == "re2") != c.re2 {
			t.Errorf("%s: on %s", c.pattern, got.Kind())
			continue
		}
		if !c.re2 {
			continue
		}
		want, err := tree.Backtracking()
		if err != nil {
			t.Fatal(err)
		}
		agree(t, c.pattern, got, want, texts{alphabet: " abx:", depth: 7, random: 3000, min: 8, spread: 24, seed: 3, end: "\n"})
	}
}

// translatedPatterns are patterns pyre runs on RE2 only through its
// split and avoid-loop forms, or as a guard: fail2ban's sshd "Failed ...
// for" failregexes and its "Connection closed" one (an address for
// <HOST>).
var translatedPatterns = []string{
	`^Failed publickey for invalid user (?P<user>(?P<cond_user>\S+)|(?:(?! from ).)*?) from (?P<ip4>[\d.]+)(?: (?:port \d+|on \S+)){0,2}(?: ssh\d*)?(?(cond_user): |(?:(?:(?! from ).)*)$)`,
	`^Failed (?:(?P<nofail>publickey)|\S+) for (?P<cond_inv>invalid user )?(?P<user>(?P<cond_user>\S+)|(?(cond_inv)(?:(?! from ).)*?|[^:]+)) from (?P<ip4>[\d.]+)(?: (?:port \d+|on \S+)){0,2}(?: ssh\d*)?(?(cond_user): |(?:(?:(?! from ).)*)$)`,
	// sshd's "Connection closed" of the normal mode: a guard (see guard.go).
	`^(?P<nofail>(?P<forget>(?:Connection (?:closed|reset)|Disconnect(?:ed|ing))))(?: (?:by|from))?(?: (?:invalid|authenticating) user (?P<user>\S+|.*?))?(?: from)? (?P<ip4>[\d.]+)(?: (?:port \d+|on \S+)){0,2}(?:: (?!Too many authentication failures)[^\[]+)?(?: \[preauth\])?\s*$`,
}

// FuzzTranslated: on any line, the RE2 forms of translatedPatterns (and
// the guard) find what regexp2 finds running them whole.
func FuzzTranslated(f *testing.F) {
	for _, s := range []string{
		"Failed password for root from 192.0.2.1 port 22 ssh2",
		"Failed password for invalid user a from from 192.0.2.1 port 22 ssh2",
		"Failed publickey for invalid user x from 192.0.2.1 port 22 ssh2: ED25519 SHA256:x",
		"Failed password for a: b from 192.0.2.1 port 22 ssh2 from 192.0.2.9",
		"Connection closed by invalid user pi 192.0.2.1 port 22 [preauth]",
		"Disconnecting: Too many authentication failures [preauth]",
		"Connection closed by 192.0.2.1 port 22: Too many authentication failures [preauth]",
		"Connection reset by authenticating user root 192.0.2.1 port 22: Bye Bye [preauth]",
	} {
		f.Add(s)
	}
	type pair struct{ got, want regex.Engine }
	var pairs []pair
	for _, p := range translatedPatterns {
		tree, err := Parse(p)
		if err != nil {
			f.Fatal(err)
		}
		got, err := tree.Compile(true)
		if err != nil {
			f.Fatal(err)
		}
		_, guard := got.(named).Engine.(*guardEngine)
		if got.Kind() != "re2" && !guard {
			f.Fatalf("%s: on %s, want re2 or a guard", p, got.Kind())
		}
		want, err := tree.Backtracking()
		if err != nil {
			f.Fatal(err)
		}
		pairs = append(pairs, pair{got, want})
	}
	f.Fuzz(func(t *testing.T, line string) {
		if strings.Contains(line, "\n") || !utf8.ValidString(line) {
			return // one line, as fail2ban's filters see it; regexp2 reads invalid UTF-8 its own way
		}
		for i, p := range pairs {
			text := line + "\n"
			if g, w := p.got.Submatch(text, nil), reference(t, p.want, text); !slices.Equal(g, w) {
				t.Fatalf("%s on %q: RE2 %v, regexp2 %v", translatedPatterns[i], text, g, w)
			}
		}
	})
}
