package pyre

import "testing"

// TestGuard: a pattern RE2 cannot express only because of negative
// lookarounds of literals and Unicode word boundaries runs as a guard,
// and finds what regexp2 finds running it whole (the match and every
// group) on every string of an alphabet holding the literals' characters
// (and a byte past ASCII), up to length 6, and on random longer ones, the
// literal in them or not; a positive lookaround, one of a class, or one
// ignoring case stays on regexp2.
func TestGuard(t *testing.T) {
	for _, c := range []struct {
		pattern string
		guard   bool
	}{
		// sshd's "Connection closed" failregex, in small.
		{`^(?:a|b)(?: (x+|.*?))? (\d+)(?:: (?!ab )[^\[]+)?(?: \[x\])?\s*$`, true},
		{`^(.*?)(?!ab)(b+)`, true},
		{`(?<!a)b(.*)`, true},
		{`^a(?!b)|b(?!a a)`, true},
		{`^(?:(?! ab ).)*x(?!ba)`, true}, // the loop's literal joins the guard's: not before $
		{`^(?:(?! ab ).)*(?!b)a$`, true}, // the loop stays RE2's, the other is guarded
		{`^(?:a|x)\b(.*?)\B`, true},      // apache-auth's "failed\b", and its twin
		{`(?:^|:)(\w+)\b(?!ab)`, true},
		{`^x(?::|a)(?! ab| b:)(.*)`, true}, // postfix's SASL failregex: (?! L1| L2)
		{`(?a)^a\b`, false},                // RE2 already: an ASCII \b
		{`^a(?=b)`, false},                 // positive
		{`^a(?![ab])`, false},              // a class
		{`(?i)^a(?!b)`, false},             // ignoring case
		{`^(a)(?!b)\1`, false},             // a back reference RE2 has not
	} {
		tree, err := Parse(c.pattern)
		if err != nil {
			t.Fatal(err)
		}
		got, err := tree.Compile(true)
		if err != nil {
			t.Fatal(err)
		}
		_, isGuard := got.(named).Engine.(*guardEngine)
		if isGuard != c.guard {
			t.Errorf("%s: on %s, guard %v", c.pattern, got.Kind(), isGuard)
			continue
		}
		if !c.guard {
			continue
		}
		want, err := tree.Backtracking()
		if err != nil {
			t.Fatal(err)
		}
		agree(t, c.pattern, got, want, texts{alphabet: " abx:1[_\xe9", depth: 6, random: 5000, min: 7, spread: 24, seed: 5, end: "\n"})
		agree(t, c.pattern, got, want, texts{alphabet: "ab ", depth: 8, random: 0})
	}
}
