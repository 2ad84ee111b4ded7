package fastre

import (
	"regexp"
	"strings"
	"testing"
)

// FuzzDifferential compares every answer with regexp's, for any pattern
// regexp compiles and any text. Crashers found so far are kept as seeds in
// testdata/fuzz/FuzzDifferential.
func FuzzDifferential(f *testing.F) {
	seeds := []struct{ pattern, text string }{
		{sshdPattern, "Failed password for invalid user x from 198.51.100.9 port 22 ssh2 from 203.0.113.12 port 4713 ssh2"},
		{nginxPattern, `203.0.113.20 - - [08/Nov/2025:22:02:00 +0000] "POST /blog/xmlrpc.php HTTP/1.1" 200 1234 "-" "-"`},
		{`^Invalid user (?P<user>.*) from (?P<host>` + hostPattern + `)(?: port \d+)?$`, "Invalid user x from 198.51.100.9 port 22 from 203.0.113.10 port 41003"},
		{`a(.*?)b|(?i)K+`, "xAkKb"},
		{`(?m)^(\w+)\s*$`, "a b\ncd\n"},
		{`(?:(a)|b)+\b`, "ab ba"},
		{`(a|ab)(c|bcd)(d*)`, "abcd"},
		{`(\d{1,3}?)(\d*)`, "12345"},
		{`(?s).{2,}?x`, "a\nbx"},
		{`(a+)+$`, strings.Repeat("a", 30) + "b"},
		{`(a|)*b`, "aab"},
		{`\x{212A}|(?i)\x{17F}`, "Ks"},
		{`[^\n]+`, "ab\xffc"},
	}
	for _, s := range seeds {
		f.Add(s.pattern, s.text)
	}
	patterns, lines := packCorpus(f)
	for i, p := range patterns {
		line := ""
		if len(lines) > 0 {
			line = lines[i%len(lines)]
		}
		f.Add(p, line)
	}
	f.Fuzz(func(t *testing.T, pattern, text string) {
		// The longest pack pattern is 400 bytes translated. Longer inputs add
		// little and make minimizing each new interesting input take long
		// enough (quadratic in its size) to outlast a short -fuzztime.
		if len(pattern) > 768 || len(text) > 512 {
			return
		}
		std, err := regexp.Compile(pattern)
		if err != nil {
			if _, err := Compile(pattern); err == nil {
				t.Fatalf("Compile(%q) accepts what regexp refuses", pattern)
			}
			return
		}
		re, err := Compile(pattern)
		if err != nil {
			t.Fatalf("Compile(%q): %v; regexp compiles it", pattern, err)
		}
		if d := mismatch(re, std, text); d != "" {
			t.Fatal(d)
		}
	})
}
