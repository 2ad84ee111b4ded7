package fastre

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

// hostPattern is what rules/regex.go makes of <HOST>.
const hostPattern = `(?:(?:\d{1,3}\.){3}\d{1,3}|(?:[0-9A-Fa-f]{0,4}:){2,7}(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]{1,4}|:?))`

// TestTricky checks cases where a plausible matcher goes wrong; regexp's
// answer is the expected one, and want, where given, pins it down too.
func TestTricky(t *testing.T) {
	cases := []struct {
		name, pattern, text string
		want                []int // nil: only compare with regexp
		slow                bool  // the pattern must not take the fast path
	}{
		{name: "greedy star", pattern: `a(.*)b`, text: "xaxbxbx", want: []int{1, 6, 2, 5}},
		{name: "lazy star", pattern: `a(.*?)b`, text: "xaxbxbx", want: []int{1, 4, 2, 3}},
		{name: "greedy plus gives back", pattern: `(\d+)(\d)`, text: "12345", want: []int{0, 5, 0, 4, 4, 5}},
		{name: "lazy plus", pattern: `(\d+?)(\d*)`, text: "12345", want: []int{0, 5, 0, 1, 1, 5}},
		{name: "lazy counted", pattern: `(\d{2,4}?)(\d*)$`, text: "12345"},
		{name: "greedy counted", pattern: `(\d{2,4})(\d*)$`, text: "12345"},
		{name: "alternation order", pattern: `a|ab`, text: "ab", want: []int{0, 1}},
		{name: "alternation order reversed", pattern: `ab|a`, text: "ab", want: []int{0, 2}},
		{name: "alternation in group", pattern: `(a|ab)(c|bcd)`, text: "abcd", want: []int{0, 4, 0, 1, 1, 4}},
		{name: "nested optionals", pattern: `^(a(b(c)?)?)?d`, text: "abd", want: []int{0, 3, 0, 2, 1, 2, -1, -1}},
		{name: "nested optionals lazy", pattern: `^(a(b(c)??)??)??(.*)`, text: "abcd", want: []int{0, 4, -1, -1, -1, -1, -1, -1, 0, 4}},
		{name: "capture in loop last wins", pattern: `(?:(\w)\s?)+`, text: "a b c", want: []int{0, 5, 4, 5}},
		{name: "capture kept from earlier iteration", pattern: `(?:(a)|b)+`, text: "ab", want: []int{0, 2, 0, 1}},
		{name: "complex loop backtracks", pattern: `^(?:(ab|a)(bc|c))+$`, text: "abcabc"},
		{name: "unset groups", pattern: `(a)|(b)`, text: "b", want: []int{0, 1, -1, -1, 0, 1}},
		{name: "empty match", pattern: `x*`, text: "abc", want: []int{0, 0}},
		{name: "empty pattern", pattern: ``, text: "abc", want: []int{0, 0}},
		{name: "empty text", pattern: `^$`, text: "", want: []int{0, 0}},
		{name: "empty group", pattern: `a()b`, text: "ab", want: []int{0, 2, 1, 1}},
		{name: "dollar is end of text", pattern: `a$`, text: "a\n"},
		{name: "dollar multiline", pattern: `(?m)a$`, text: "a\nb", want: []int{0, 1}},
		{name: "caret multiline", pattern: `(?m)^b`, text: "a\nb", want: []int{2, 3}},
		{name: "caret after final newline", pattern: `(?m)^$`, text: "a\n", want: []int{2, 2}},
		{name: "dot and newline", pattern: `a.b`, text: "a\nb axb", want: []int{4, 7}},
		{name: "dot all", pattern: `(?s)a.b`, text: "a\nb", want: []int{0, 3}},
		{name: "begin text", pattern: `\Aab`, text: "abab", want: []int{0, 2}},
		{name: "end text", pattern: `ab\z`, text: "abab", want: []int{2, 4}},
		{name: "fold literal", pattern: `(?i)failed PASSWORD`, text: "FAILED password", want: []int{0, 15}},
		{name: "fold class", pattern: `(?i)[a-c]+`, text: "xAbC", want: []int{1, 4}},
		{name: "fold kelvin", pattern: `(?i)\x{212A}`, text: "k", want: []int{0, 1}},
		{name: "fold long s", pattern: `(?i)\x{17F}+`, text: "sS", want: []int{0, 2}},
		{name: "fold partial", pattern: `a(?i:b)c`, text: "aBc aBC", want: []int{0, 3}},
		{name: "word boundary", pattern: `\bfoo\b`, text: "afoo foo", want: []int{5, 8}},
		{name: "not word boundary", pattern: `\Boo\B`, text: "foo fooo", want: []int{5, 7}},
		{name: "word boundary at ends", pattern: `\b`, text: "", want: nil},
		{name: "unanchored search", pattern: `(\d+)-(\d+)`, text: "ab 12-34 56-78", want: []int{3, 8, 3, 5, 6, 8}},
		{name: "unanchored prefix", pattern: `from (\S+)$`, text: "from a from b", want: []int{7, 13, 12, 13}},
		{name: "leftmost not longest", pattern: `a+?|b+`, text: "bbaa", want: []int{0, 2}},
		{name: "class loop then literal", pattern: `^(.*) from (.*)$`, text: "a from b from c", want: []int{0, 15, 0, 8, 14, 15}},
		{name: "lazy loop then literal", pattern: `^(.*?) from (.*)$`, text: "a from b from c", want: []int{0, 15, 0, 1, 7, 15}},
		{name: "counted group", pattern: `(?:(\d)\.){3}`, text: "1.2.3.4", want: []int{0, 6, 4, 5}},
		{name: "counted group range", pattern: `(?:(\d):){2,4}x`, text: "1:2:3:4:5:x", want: []int{2, 11, 8, 9}},
		{name: "counted group open", pattern: `(?:(a|b)c){2,}`, text: "acbcacb", want: []int{0, 6, 4, 5}},
		{name: "repeat zero", pattern: `a(b){0}c`, text: "ac", want: []int{0, 2, -1, -1}},
		{name: "quest of nullable", pattern: `(a*)?b`, text: "b", want: []int{0, 1, 0, 0}},
		{name: "repeat of nullable bounded", pattern: `(a|){2,3}b`, text: "ab"},
		{name: "non-ASCII text falls back", pattern: `(.)(.)`, text: "é!", want: []int{0, 3, 0, 2, 2, 3}},
		{name: "invalid UTF-8 falls back", pattern: `(.)`, text: "\xff", want: []int{0, 1, 0, 1}},
		{name: "non-ASCII literal on ASCII text", pattern: `é|e`, text: "e", want: []int{0, 1}},
		{name: "unicode class on ASCII", pattern: `\pL+`, text: "1ab2", want: []int{1, 3}},
		{name: "negated unicode class", pattern: `\PL+`, text: "ab12", want: []int{2, 4}},
		{name: "no match", pattern: `abc`, text: "abd", want: nil},
		{name: "leading lazy dot star", pattern: `.*?b(\d)`, text: "ab ab\nab3", want: []int{6, 9, 8, 9}},
		{name: "leading plus", pattern: `\S+ from (\S+)$`, text: "a xfrom b from c from d", want: []int{15, 23, 22, 23}},
		{name: "leading counted open", pattern: `\w{2,}\d`, text: "a1 b22 cc3", want: []int{3, 6}},
		{name: "leading dot star", pattern: `(.*)b(\d)`, text: "ab ab\nab3b4", want: []int{6, 11, 6, 9, 10, 11}},
		{name: "nullable star body", pattern: `(a|)*b`, text: "aab", slow: true},
		{name: "nullable plus body", pattern: `(a*)+b`, text: "aab", slow: true},
		{name: "nullable open repeat", pattern: `(a?){2,}b`, text: "aab", slow: true},
		{
			name:    "address in user name",
			pattern: `^Invalid user (?P<user>.*) from (?P<host>` + hostPattern + `)(?: port \d+)?$`,
			text:    "Invalid user x from 198.51.100.9 port 22 from 203.0.113.10 port 41003",
			want:    []int{0, 69, 13, 40, 46, 58},
		},
		{
			name:    "address in user name, no port",
			pattern: `^Invalid user (?P<user>.*) from (?P<host>` + hostPattern + `)(?: port \d+)?$`,
			text:    "Invalid user x from 198.51.100.9 port 22 from 2001:db8::7",
		},
		{
			name:    "ipv6 tail alternatives",
			pattern: `^(` + hostPattern + `)$`,
			text:    "::ffff:192.0.2.1",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			std := regexp.MustCompile(c.pattern)
			re, err := Compile(c.pattern)
			if err != nil {
				t.Fatal(err)
			}
			if re.Fast() == c.slow {
				t.Errorf("Fast() = %v (%s), want %v", re.Fast(), re.why, !c.slow)
			}
			if d := mismatch(re, std, c.text); d != "" {
				t.Fatal(d)
			}
			if c.want != nil || strings.HasPrefix(c.name, "no match") {
				if got := re.FindStringSubmatchIndex(c.text, nil); !slices.Equal(got, c.want) {
					t.Errorf("got %v, want %v", got, c.want)
				}
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	// Compile reports its own parse's errors (regexp.Regexp is compiled
	// later): they must be regexp.Compile's, nesting and size limits too.
	bad := []string{`(`, `a**`, `x{1001}`, `(?P<>a)`, `\8`, `[z-a]`, "a\xffb", `(?P<n.>a)`,
		strings.Repeat("(", 1001) + strings.Repeat(")", 1001), `((((a{100}){100}){100}){100})`}
	for _, pat := range bad {
		_, want := regexp.Compile(pat)
		_, err := Compile(pat)
		if err == nil || want == nil || err.Error() != want.Error() {
			t.Errorf("Compile(%q) error %v, regexp gives %v", pat, err, want)
		}
	}
}

func TestAccessors(t *testing.T) {
	const pat = `(?P<user>\S+) from (?P<host>\S+)( port \d+)?`
	re, err := Compile(pat)
	if err != nil {
		t.Fatal(err)
	}
	std := regexp.MustCompile(pat)
	if re.String() != pat || re.NumSubexp() != 3 || !slices.Equal(re.SubexpNames(), std.SubexpNames()) {
		t.Errorf("String %q NumSubexp %d SubexpNames %q", re.String(), re.NumSubexp(), re.SubexpNames())
	}
}

// TestDstReuse: the result lands in dst when it has the room, so a caller
// that keeps its buffer allocates nothing.
func TestDstReuse(t *testing.T) {
	re, err := Compile(`(a)(b)?`)
	if err != nil {
		t.Fatal(err)
	}
	dst := make([]int, 0, 6)
	got := re.FindStringSubmatchIndex("xa", dst)
	if &got[0] != &dst[:1][0] || !slices.Equal(got, []int{1, 2, 1, 2, -1, -1}) {
		t.Errorf("got %v, not built in dst", got)
	}
	if got := re.FindStringSubmatchIndex("xyz", dst); got != nil {
		t.Errorf("no match gave %v, want nil", got)
	}
	if raceEnabled {
		return
	}
	allocs := testing.AllocsPerRun(100, func() { dst = re.FindStringSubmatchIndex("xab", dst[:0]) })
	if allocs != 0 {
		t.Errorf("%v allocations per call", allocs)
	}
}

// TestBudget: an exponential pattern gets its answer from regexp, and a
// pattern that keeps exhausting its budget is demoted.
func TestBudget(t *testing.T) {
	for _, c := range []struct{ pattern, text string }{
		{`(a+)+$`, strings.Repeat("a", 40) + "b"},
		{`^(x|xx)*y`, strings.Repeat("x", 60) + "zy"},
		{`(\w+\s?)+:`, ":" + strings.Repeat("word ", 30) + "."},
	} {
		std := regexp.MustCompile(c.pattern)
		re, err := Compile(c.pattern)
		if err != nil {
			t.Fatal(err)
		}
		m := re.pool.Get().(*machine)
		if r := re.program().search(m, c.text, true); r != exhausted {
			t.Errorf("%q: search gave %v, want exhausted", c.pattern, r)
		}
		for i := 0; i < 2*demoteMin && re.Fast(); i++ {
			if d := mismatch(re, std, c.text); d != "" {
				t.Fatal(d)
			}
		}
		if re.Fast() && !raceEnabled {
			t.Errorf("%q: not demoted after %d exhausted calls", c.pattern, 2*demoteMin)
		}
		if d := mismatch(re, std, c.text+"x"); d != "" {
			t.Fatal(d)
		}
	}
}

// TestConcurrent shares one Regexp between goroutines: the per-call state
// comes from a pool, never from the Regexp itself, and the first calls
// compile the fast program and the regexp.Regexp at once (run with -race).
func TestConcurrent(t *testing.T) {
	re, err := Compile(sshdPattern)
	if err != nil {
		t.Fatal(err)
	}
	std := regexp.MustCompile(sshdPattern)
	texts := []string{
		"Failed password for invalid user admin from 203.0.113.9 port 4711 ssh2",
		"Failed password for x from 198.51.100.9 port 22 ssh2 from 2001:db8::1 port 1 ssh2",
		"Failed password for root from 203.0.113.9 port 4711 ssh2 junk",
		"Failed password for rööt from 203.0.113.9",
	}
	done := make(chan string)
	for g := 0; g < 4; g++ {
		go func() {
			dst := make([]int, 0, 2*(re.NumSubexp()+1))
			for i := 0; i < 2000; i++ {
				s := texts[(g+i)%len(texts)]
				dst = re.FindStringSubmatchIndex(s, dst[:0])
				if want := std.FindStringSubmatchIndex(s); !slices.Equal(dst, want) {
					done <- "mismatch on " + s
					return
				}
			}
			done <- ""
		}()
	}
	for g := 0; g < 4; g++ {
		if msg := <-done; msg != "" {
			t.Error(msg)
		}
	}
}

// TestIsASCII puts one byte >= 0x80 at every position of texts of every
// length around the word sizes isASCII reads.
func TestIsASCII(t *testing.T) {
	for n := 0; n <= 40; n++ {
		text := []byte(strings.Repeat("a", n))
		if !isASCII(string(text)) {
			t.Fatalf("isASCII(%q) = false", text)
		}
		for i := range text {
			for _, c := range []byte{0x80, 0xff} {
				text[i] = c
				if isASCII(string(text)) {
					t.Fatalf("isASCII(%q) = true", text)
				}
				text[i] = 'a'
			}
		}
	}
}
