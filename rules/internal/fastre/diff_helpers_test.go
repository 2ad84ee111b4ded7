package fastre

import (
	"fmt"
	"regexp"
	"slices"
)

// mismatch compares every answer of re with regexp's on s and describes
// the first difference, or returns "".
func mismatch(re *Regexp, std *regexp.Regexp, s string) string {
	want := std.FindStringSubmatchIndex(s)
	got := re.FindStringSubmatchIndex(s, nil)
	if !slices.Equal(got, want) || (got == nil) != (want == nil) {
		return fmt.Sprintf("FindStringSubmatchIndex(%q) on %q = %v, regexp gives %v", s, std.String(), got, want)
	}
	// Again into a reused buffer with stale contents.
	buf := make([]int, 2*(std.NumSubexp()+1)+3)
	for i := range buf {
		buf[i] = 77
	}
	got = re.FindStringSubmatchIndex(s, buf[:1])
	if !slices.Equal(got, want) || (got == nil) != (want == nil) {
		return fmt.Sprintf("FindStringSubmatchIndex(%q) on %q into dst = %v, regexp gives %v", s, std.String(), got, want)
	}
	// Without the required-literal scan, as a caller's prefilter asks:
	// the same answer whether or not s holds the literal.
	got = re.FindStringSubmatchIndexPrefiltered(s, buf[:1])
	if !slices.Equal(got, want) || (got == nil) != (want == nil) {
		return fmt.Sprintf("FindStringSubmatchIndexPrefiltered(%q) on %q = %v, regexp gives %v", s, std.String(), got, want)
	}
	if m, w := re.MatchString(s), std.MatchString(s); m != w {
		return fmt.Sprintf("MatchString(%q) on %q = %v, regexp gives %v", s, std.String(), m, w)
	}
	return ""
}
