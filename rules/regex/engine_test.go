package regex

import (
	"slices"
	"testing"
)

// TestCompileRegex: one parse gives what Compile and RequiredLiterals
// give from two: the same names, literals, matches and errors.
func TestCompileRegex(t *testing.T) {
	text := "Nov  8 22:00:01 web1 sshd[4198]: Failed password for invalid user admin from 203.0.113.10 port 41000 ssh2"
	for _, pat := range []string{
		`Failed (?:password|publickey) for (?:invalid user )?(?P<user>\S+) from (?P<host>\S+)`,
		`(?i)sqlmap|nikto`,
		`^(?P<a>x)?y*$`,
		`port \d+ ssh2$`,
		`(`,
		`x{1001}`,
	} {
		re, err := CompileRegex("src", pat)
		eng, werr := Compile(pat)
		if (err == nil) != (werr == nil) || err != nil && err.Error() != werr.Error() {
			t.Fatalf("%q: error %v, Compile gives %v", pat, err, werr)
		}
		if err != nil {
			continue
		}
		if re.Src != "src" || !slices.Equal(re.Names, eng.Names()) || !slices.Equal(re.Literals, RequiredLiterals(pat)) {
			t.Errorf("%q: names %q literals %q, want %q %q", pat, re.Names, re.Literals, eng.Names(), RequiredLiterals(pat))
		}
		if got, want := re.Search(text, nil), eng.Submatch(text, nil); !slices.Equal(got, want) {
			t.Errorf("%q: %v, Compile's engine gives %v", pat, got, want)
		}
	}
}
