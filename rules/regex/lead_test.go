package regex

import (
	"regexp"
	"regexp/syntax"
	"testing"
)

func leadOfPattern(t testing.TB, pattern string) *Lead {
	t.Helper()
	tree, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		t.Fatal(err)
	}
	return LeadOf(tree)
}

// TestLeadOf: what an anchored regex's match may start with, and nil
// where the first byte tells nothing.
func TestLeadOf(t *testing.T) {
	for _, c := range []struct {
		pattern string
		in, out string // bytes in the set, and out of it; "" with nil: no set
		none    bool
	}{
		{pattern: `^Failed (?:password|none) for`, in: "F", out: "fpa \x00"},
		{pattern: `^(?:\[ID \d+ \S+\] )?(?:(?:error|fatal): )?Failed`, in: "[efF", out: "Ea "},
		{pattern: `^(?:pam_unix\(sshd:auth\): )?authentication failure`, in: "pa", out: "PA"},
		{pattern: `^[iI](?:llegal|nvalid) user`, in: "iI", out: "lL"},
		{pattern: `^(?i)kelvin`, in: "kK\x80\xe2\xff", out: "e"},
		{pattern: `^\s*x`, in: " \t\n\r\fx", out: "y\v"}, // Go's \s has no \v
		{pattern: `^(a|)b`, in: "ab", out: "c"},
		{pattern: `^a{0,2}b`, in: "ab", out: "c"},
		{pattern: `^(?:a{2}|[0-9]+)z`, in: "a0123456789", out: "z"},
		{pattern: `^[^a]`, in: "b\x00\xff", out: "a"},
		{pattern: `^.x`, in: "ab\xff", out: "\n"},
		{pattern: `^(?s).x`, in: "\n"},
		{pattern: `^\bword`, in: "w", out: "x"},
		{pattern: `\Afoo`, in: "f", out: "o"},
		{pattern: `^(?:a|b*)`, none: true}, // the rest matches the empty string
		{pattern: `^$`, none: true},
		{pattern: `^`, none: true},
		{pattern: `foo`, none: true},
		{pattern: `(?m)^foo`, none: true},
		{pattern: `x|^y`, none: true},
	} {
		l := leadOfPattern(t, c.pattern)
		if c.none {
			if l != nil {
				t.Errorf("%s: a lead set %x, want none", c.pattern, *l)
			}
			continue
		}
		if l == nil {
			t.Errorf("%s: no lead set", c.pattern)
			continue
		}
		for i := 0; i < len(c.in); i++ {
			if !l.Has(c.in[i]) {
				t.Errorf("%s: %q not in its lead set", c.pattern, c.in[i])
			}
		}
		for i := 0; i < len(c.out); i++ {
			if l.Has(c.out[i]) {
				t.Errorf("%s: %q in its lead set", c.pattern, c.out[i])
			}
		}
		for b := 0x80; b < 0x100; b++ {
			if !l.Has(byte(b)) {
				t.Errorf("%s: byte %#x not in its lead set: a text that is not ASCII must always be tried", c.pattern, b)
				break
			}
		}
	}
}

// checkLead fails t if regexp finds a match of pattern in text that its
// lead set would have ruled out.
func checkLead(t *testing.T, pattern, text string) {
	tree, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return
	}
	l := LeadOf(tree)
	if l == nil || text == "" || l.Has(text[0]) {
		return
	}
	if loc := re.FindStringIndex(text); loc != nil {
		t.Fatalf("%q matches %q at %v, but its lead set has no %q", pattern, text, loc, text[0])
	}
}

// FuzzLead: whatever the pattern and the text, a text the lead set rules
// out is one regexp finds no match in.
func FuzzLead(f *testing.F) {
	for _, s := range [][2]string{
		{`^(?:\[ID \d+ \S+\] )?(?:(?:error|fatal): )?Failed (?:password|none) for .* from \S+`, "Failed password for x from y"},
		{`^(?i)(?:kelvin|ſtop)`, "\u212aelvin"},
		{`^(a*|b)+c`, "bbc"},
		{`^(?:x{0}|y?)z`, "z"},
		{`^\b\B?[[:alpha:]]`, "Q"},
		{`^(?U)a+?b`, "ab"},
		{`^[\x{100}-\x{10ffff}]`, "\u0100"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(checkLead)
}

// TestLeadOfOwnSeeds: texts sshd's failregexes match start with a byte
// of their lead sets, whichever optional prefix they hold (package rules'
// TestLeadKeepsEveryHit checks every built-in failregex on lines).
func TestLeadOfOwnSeeds(t *testing.T) {
	for _, c := range []struct{ pattern, text string }{
		{`^(?:Connection (?:closed|reset)|Disconnected) (?:by|from) invalid user .* \S+ port \d+`, "Connection closed by invalid user a 1.2.3.4 port 1"},
		{`^(?:pam_unix\(sshd:auth\): )?authentication failure; logname=\S*`, "authentication failure; logname=x"},
		{`^(?:pam_unix\(sshd:auth\): )?authentication failure; logname=\S*`, "pam_unix(sshd:auth): authentication failure; logname="},
	} {
		checkLead(t, c.pattern, c.text)
		if l := leadOfPattern(t, c.pattern); l == nil || !l.Has(c.text[0]) {
			t.Errorf("%s: a text it matches starts with %q, not in its lead set", c.pattern, c.text[0])
		}
	}
}
