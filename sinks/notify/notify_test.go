package notify

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestSafe(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Failed password for root from 203.0.113.7", "Failed password for root from 203.0.113.7"},
		{"line\r\nBcc: x", "line  Bcc: x"},
		{"<!channel> hi", "‹!channel› hi"},
		{"@everyone @here", "@\u2060everyone @\u2060here"},
		{"[click](http://evil.example/x)", "⟦click⟧(http[:]//evil.example/x)"},
		{"\x1b[31mred\x1b[0m", "⟦31mred⟦0m"},
		{"abc\u202edef", "abcdef"},
		{"`code` *bold* _it_ ~s~ ||spoiler||", "'code' 'bold' 'it' 's' ''spoiler''"},
		{"\xff\xfe", "??"},
	} {
		if got := Safe(tc.in, 200); got != tc.want {
			t.Errorf("Safe(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := Safe(strings.Repeat("a", 300), 10); got != strings.Repeat("a", 10)+"…" {
		t.Errorf("not cut: %q", got)
	}
}

// FuzzSafe: whatever a log line holds, Safe's output pings nobody, holds
// no markup, link or control character, and is bounded.
func FuzzSafe(f *testing.F) {
	for _, s := range []string{"<!channel>", "@everyone", "[a](http://b)", "\x1b]8;;http://x\x07", "a\u202eb", "h\x00ttp://", ":/:///"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := Safe(s, 50)
		if !utf8.ValidString(out) || utf8.RuneCountInString(out) > 60+strings.Count(out, "\u2060")+strings.Count(out, "[:]")*3 {
			t.Fatalf("Safe(%q) = %q", s, out)
		}
		for _, bad := range []string{"<", ">", "://", "[", "]", "`"} {
			// The defused form is cut out with a space in its place: cut
			// out whole, text on either side (":/" and "/") joined into a
			// "://" the output never held.
			if strings.Contains(strings.ReplaceAll(out, "[:]//", " "), bad) {
				t.Fatalf("Safe(%q) = %q holds %q", s, out, bad)
			}
		}
		if strings.Contains(out, "@everyone") || strings.IndexFunc(out, func(r rune) bool { return unicode.IsControl(r) }) >= 0 {
			t.Fatalf("Safe(%q) = %q", s, out)
		}
	})
}
