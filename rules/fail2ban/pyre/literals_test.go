package pyre

import (
	"reflect"
	"testing"

	"github.com/stockade-ids/stockade/rules/regex"
)

// TestLiteralSets: a required alternation gives the set of what each of
// its branches requires, and every text the pattern matches holds a
// member of each set (the prefilter may refuse only what cannot match).
func TestLiteralSets(t *testing.T) {
	cases := []struct {
		name    string
		pattern string
		want    []regex.LitSet
		matches []string
	}{
		{"literals", `^(?:by|from) x`, []regex.LitSet{{Lits: []string{"by", "from"}}}, []string{"by x", "from x"}},
		{"branch with a literal of its own", `^(Connection (?:closed|reset)|Disconnected) by`,
			[]regex.LitSet{{Lits: []string{"Connection ", "Disconnected"}}},
			[]string{"Connection closed by", "Connection reset by", "Disconnected by"}},
		{"the longest of a branch", `(?:a\d+bcd\d+ef|gh)`, []regex.LitSet{{Lits: []string{"bcd", "gh"}}}, []string{"a1bcd2ef", "gh"}},
		{"optional part of a branch", `(?:(?:ab)?cd|ef)`, []regex.LitSet{{Lits: []string{"cd", "ef"}}}, []string{"cd", "abcd", "ef"}},
		{"lookahead is no requirement", `(?:foo(?=bar)|baz)`, []regex.LitSet{{Lits: []string{"foo", "baz"}}}, []string{"foobar", "baz"}},
		{"folded literals", `(?i:abc|de)`, []regex.LitSet{{Lits: []string{"abc", "de"}, Fold: true}}, []string{"ABC", "dE"}},
		{"a branch without", `(?:x\d+|yz)`, nil, []string{"x1", "yz"}},
		{"a branch too short", `(?:a|bc)`, nil, []string{"a", "bc"}},
		{"a folded branch among plain ones", `(?:(?i:ab)|cd\d)`, nil, []string{"AB", "cd1"}},
		{"an optional alternation", `x(?:ab|cd)?`, nil, []string{"x"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			re, err := Parse(c.pattern)
			if err != nil {
				t.Fatal(err)
			}
			got := re.LiteralSets()
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("LiteralSets(%q) = %v, want %v", c.pattern, got, c.want)
			}
			e, err := re.Compile(true)
			if err != nil {
				t.Fatal(err)
			}
			f := regex.Regex{Engine: e, AnyOf: got}
			for _, m := range c.matches {
				if e.Submatch(m+"\n", nil) == nil {
					t.Errorf("%q does not match %q", c.pattern, m)
				}
				if !f.Prefilter(m + "\n") {
					t.Errorf("%q matches %q, which its sets %v refuse", c.pattern, m, got)
				}
			}
		})
	}
}
