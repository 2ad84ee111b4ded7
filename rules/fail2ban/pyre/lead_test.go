package pyre

import (
	"slices"
	"testing"
)

// leadString writes a lead as its bytes, a set as [..] of its members.
func leadString(l []ByteSet) string {
	out := ""
	for _, s := range l {
		var members []byte
		for c := 0; c < 256; c++ {
			if s.Has(byte(c)) {
				members = append(members, byte(c))
			}
		}
		if len(members) == 1 {
			out += string(members)
		} else {
			out += "[" + string(members) + "]"
		}
	}
	return out
}

// TestLead: what an anchored pattern starts with, byte by byte, up to the
// first part that is not one ASCII character of a small set.
func TestLead(t *testing.T) {
	cases := []struct{ pattern, want string }{
		{`^Failed (?:publickey|\S+) for`, "Failed "},
		{`^[aA]uthentication (?:failure|error)`, "[Aa]uthenticati"},
		{`^(?P<nofail>pam_[a-z]+)\(`, "pam_[abcdefghijklmnopqrstuvwxyz]"},
		{`^[iI](?:llegal|nvalid) user`, "[Ii][ln][lv][ae][gl][ai][dl]"},
		{`^(?P<x>(Connection (?:closed|reset)|Disconnected)) by`, "[CD][io][ns][cn][eo][cn][nt][ei][co][nt][ e][cdr]"},
		{`^(?:ab|a)c`, "a"},
		{`^(?:ab|cd|)e`, ""},
		{`\A(?:a|b)c`, "[ab]"},
		{`^a{2}b`, "a"},
		{`^(?:)ab`, "ab"},
		{`^(?:^a)b`, ""},
		{`^ab?`, "a"},
		{`(?i)^abc`, ""},
		{`^(?i:a)bc`, ""},
		{`(?m)^abc`, ""},
		{`abc`, ""},
		{`^$`, ""},
		{`^\d+`, ""},
		{`^[^a]`, ""},
		{`^[a\d]`, ""},
		{`^é`, ""},
		{`^(?=a)a`, ""},
		{`^(?:a|\S)`, ""},
		{`^(?:a|b+)c`, "[ab]"},
		{`^(?:a|)b`, ""},
		{`^(?>ab)c`, "abc"},
		{`^a|^b`, ""},
	}
	for _, c := range cases {
		r, err := Parse(c.pattern)
		if err != nil {
			t.Fatalf("%s: %v", c.pattern, err)
		}
		if got := leadString(r.Lead(12)); got != c.want {
			t.Errorf("%s: lead %q, want %q", c.pattern, got, c.want)
		}
	}
}

// TestStrings: a pattern of literals, alternatives and optional parts as
// the strings it matches, in the order a backtracker tries them.
func TestStrings(t *testing.T) {
	cases := []struct {
		pattern string
		want    []string
	}{
		{`(?:(?:error|fatal): (?:PAM: )?)?`, []string{"error: PAM: ", "error: ", "fatal: PAM: ", "fatal: ", ""}},
		{`(?:a|b)??c`, []string{"c", "ac", "bc"}},
		{`ab`, []string{"ab"}},
		{``, []string{""}},
		{`(a)?`, nil},
		{`[ab]`, nil},
		{`(?i:a)`, nil},
		{`a+`, nil},
		{`a?+`, nil},
		{`(?:a|b)(?:c|d)(?:e|f)(?:g|h)(?:i|j)`, nil}, // 32 > 16
	}
	for _, c := range cases {
		r, err := Parse(c.pattern)
		if err != nil {
			t.Fatalf("%s: %v", c.pattern, err)
		}
		got, ok := r.Strings(16)
		if ok != (c.want != nil) || !slices.Equal(got, c.want) {
			t.Errorf("%s: %q %v, want %q", c.pattern, got, ok, c.want)
		}
	}
}
