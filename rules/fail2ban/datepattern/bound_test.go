package datepattern

import (
	"regexp"
	"testing"
)

// reNoWordBoundEnd is fail2ban's RE_NO_WRD_BOUND_END as a regex of the
// tail, the reference isNoWordBoundEnd reads by hand.
var reNoWordBoundEnd = regexp.MustCompile(`^(?:\$\)?|\\b|\\s|\*\*\)*)$`)

// TestNoWordBoundEndAsRegex: every string of up to five of the bytes the
// forms are made of (and two others), and the default templates'
// patterns' tails, read the same by hand as by the regex.
func TestNoWordBoundEndAsRegex(t *testing.T) {
	alphabet := []byte(`$)\bs*x(`)
	var walk func(s []byte)
	n := 0
	walk = func(s []byte) {
		n++
		if got, want := isNoWordBoundEnd(string(s)), reNoWordBoundEnd.MatchString(string(s)); got != want {
			t.Fatalf("%q: %v, the regex says %v", s, got, want)
		}
		if len(s) == 5 {
			return
		}
		for _, c := range alphabet {
			walk(append(s, c))
		}
	}
	walk(nil)
	for _, p := range []string{`^%Y-%m-%d %H:%M:%S$`, `%b %d %H:%M:%S**`, `(?:%ExH:%ExM)\s`, `x\$`, `**))`, `\\b`} {
		for i := range len(p) + 1 {
			if got, want := isNoWordBoundEnd(p[i:]), reNoWordBoundEnd.MatchString(p[i:]); got != want {
				t.Fatalf("%q: %v, the regex says %v", p[i:], got, want)
			}
		}
	}
	if n < 30000 {
		t.Fatalf("only %d strings tried", n)
	}
}
