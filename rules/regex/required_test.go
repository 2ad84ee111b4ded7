package regex

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

func TestFoldRequirement(t *testing.T) {
	for pat, want := range map[string]string{
		`(?i)sqlmap|nikto|masscan`:                   `[[sqlmap nikto masscan]]`,
		`(?i)/vendor/phpunit/[^ ]*eval-stdin\.php`:   `[[/vendor/phpunit/] [eval-stdin.php]]`,
		`(?i)(?:\$\{|%24%7b)(?:script|dns)(?::|%3a)`: `[[${script: ${script%3a ${dns: ${dns%3a %24%7bscript: %24%7bscript%3a %24%7bdns: %24%7bdns%3a]]`,
		`a*`:                         `[]`,
		`(?:|foo)bar.*`:              `[[bar]]`,
		`(?:x.*|foo)`:                `[[x foo]]`,
		`(?:.*|foo)`:                 `[]`,
		`^/(?:admin|pma)(?:[/?#]|$)`: `[[/admin /pma]]`,
	} {
		got := FoldRequirement(pat)
		if fmt.Sprint(got) != want && !(want == "[]" && got == nil) {
			t.Errorf("FoldRequirement(%q) = %v, want %s", pat, got, want)
		}
	}
}

// TestFoldRequirementSound: a text a regex matches holds a member of
// every set, on ASCII texts, the case of either changed.
func TestFoldRequirementSound(t *testing.T) {
	cases := map[string][]string{
		`(?i)(?:^|/)(?:(?:\.git|\.svn)/|(?:\.env(?:\.[\w-]+)?|[^/?]+~)(?:[?#]|$))`:   {"/.env", "/A/.GIT/x", "/index.php~", "/.env.local?x"},
		`(?i)union(?:\s|\+|%20)+(?:all(?:\s|\+)+)?select`:                            {"1 UNION ALL SELECT", "union%20select"},
		`(?i)(?:<|%3c)(?:/|%2f)?(?:script|svg)(?:[\s/>+]|%20|$)|javascript(?::|%3a)`: {"%3Csvg/", "JavaScript:alert", "<script>"},
		`k[a-c]{2}x`: {"kabx", "kccx"},
	}
	for pat, texts := range cases {
		re := regexp.MustCompile(pat)
		req := FoldRequirement(pat)
		if len(req) == 0 {
			t.Errorf("%q: nothing required", pat)
		}
		for _, text := range texts {
			for _, s := range []string{text, strings.ToUpper(text), strings.ToLower(text)} {
				if !re.MatchString(s) {
					continue
				}
				for _, set := range req {
					ok := false
					for _, l := range set {
						ok = ok || strings.Contains(LowerASCII(s), l)
					}
					if !ok {
						t.Errorf("%q matches %q, which holds none of %v", pat, s, set)
					}
				}
			}
		}
	}
}

func TestMulti(t *testing.T) {
	lits := []string{"he", "she", "his", "hers", "nikto", "${jndi", "~"}
	m := NewMulti(lits)
	for text, want := range map[string]string{
		"USHERS":                 "he she hers",
		"Mozilla/5.00 (Nikto/2)": "nikto",
		"x=${JNDI:ldap}":         "${jndi",
		"/index.php~":            "~",
		"nothing":                "",
	} {
		found := make([]uint64, 1)
		if !m.Scan(text, func(id int32, start, end int) {
			if text[start:end] != lits[id] && LowerASCII(text[start:end]) != lits[id] {
				t.Errorf("%q at %d:%d is not %q", text, start, end, lits[id])
			}
			Set(found, id)
		}) {
			t.Fatalf("%q: not ASCII?", text)
		}
		var got []string
		for i, l := range lits {
			if found[0]&(1<<i) != 0 {
				got = append(got, l)
			}
		}
		if strings.Join(got, " ") != want {
			t.Errorf("Scan(%q) = %v, want %s", text, got, want)
		}
	}
	if m.Scan("caf\u00e9 nikto", func(int32, int, int) {}) {
		t.Error("a text that is not ASCII must be refused")
	}
}

// TestMultiEveryPosition: each literal is found at every offset of a
// text of every length (the scan reads pairs at even positions only),
// in either case, and nothing else is.
func TestMultiEveryPosition(t *testing.T) {
	lits := []string{"~", "q", "${", "ab", "zgrab", "eval-stdin.php", "%2e%2e"}
	m := NewMulti(lits)
	for id, l := range lits {
		for pre := 0; pre < 18; pre++ { // across the scan's groups of eight bytes
			for post := 0; post < 10; post++ {
				for _, v := range []string{l, strings.ToUpper(l)} {
					text := strings.Repeat("x", pre) + v + strings.Repeat("y", post)
					got := map[int32]bool{}
					m.Scan(text, func(i int32, start, end int) {
						if LowerASCII(text[start:end]) != lits[i] {
							t.Errorf("%q: reported %q at %d:%d", text, lits[i], start, end)
						}
						got[i] = true
					})
					if !got[int32(id)] {
						t.Errorf("%q: %q not found", text, l)
					}
					for i := range got {
						if !strings.Contains(LowerASCII(text), lits[i]) {
							t.Errorf("%q: %q reported, not there", text, lits[i])
						}
					}
				}
			}
		}
	}
}

// TestMultiMask: Mask finds what Scan finds, as bits, at every offset and
// in either case, and sets every bit for a text that is not ASCII.
func TestMultiMask(t *testing.T) {
	lits := []string{"~", "q", "${", "ab", "Failed ", " from ", "eval-stdin.php", "%2e%2e"}
	m := NewMulti(lits)
	for id, l := range lits {
		for pre := 0; pre < 18; pre++ {
			for post := 0; post < 10; post++ {
				for _, v := range []string{l, strings.ToUpper(l)} {
					text := strings.Repeat("x", pre) + v + strings.Repeat("y", post)
					var want uint64
					m.Scan(text, func(i int32, _, _ int) { want |= 1 << i })
					got, ok := m.Mask(text)
					if !ok || got != want || got&(1<<id) == 0 {
						t.Errorf("Mask(%q) = %b, %v; Scan found %b", text, got, ok, want)
					}
				}
			}
		}
	}
	if got, ok := m.Mask("caf\u00e9 q"); ok || got != ^uint64(0) {
		t.Errorf("Mask of a text that is not ASCII = %b, %v: want every bit, false", got, ok)
	}
}

// TestMultiOddLiterals: literals with bytes folding never gives (upper
// case after LowerASCII cannot occur, but bytes past 0x7f can) are never
// reported in ASCII text, and do not upset the scan.
func TestMultiOddLiterals(t *testing.T) {
	m := NewMulti([]string{"caf\u00e9", "\u00c3", "ok"})
	for _, text := range []string{"CAFC", "caf", "C", "\x43\x43ok", "xok"} {
		var got []int32
		m.Scan(text, func(id int32, _, _ int) { got = append(got, id) })
		if strings.Contains(strings.ToLower(text), "ok") != (len(got) == 1 && got[0] == 2) || len(got) > 1 {
			t.Errorf("Scan(%q) found %v", text, got)
		}
	}
}

// TestMultiRandom: on random texts made of the literals' own bytes, Scan
// and Mask report exactly the literals a plain case-insensitive search
// finds.
func TestMultiRandom(t *testing.T) {
	lits := []string{"~", "q", "${", "ab", "or", "zgrab", "eval-stdin.php", "%2e%2e", "://", "a'b", "select "}
	m := NewMulti(lits)
	const alphabet = "abqorzgABQORZG${}%2e.:/-~' lstinvphpXY"
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 20000; n++ {
		b := make([]byte, rng.IntN(70))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		text := string(b)
		var want, scan uint64
		for i, l := range lits {
			if strings.Contains(LowerASCII(text), l) {
				want |= 1 << i
			}
		}
		m.Scan(text, func(i int32, _, _ int) { scan |= 1 << i })
		mask, _ := m.Mask(text)
		if scan != want || mask != want {
			t.Fatalf("%q: Scan %b, Mask %b, want %b", text, scan, mask, want)
		}
	}
}

// TestMultiFind: Find sets the bits of what Scan reports, at every offset,
// in either case and on random texts of the literals' bytes, and reports
// false for a text with a byte past 0x7f wherever it lies (in a group of
// eight bytes or in the tail the scan reads pair by pair).
func TestMultiFind(t *testing.T) {
	lits := []string{"~", "q", "${", "ab", "Failed ", " from ", "eval-stdin.php", "%2e%2e"}
	m := NewMulti(lits)
	check := func(text string) {
		t.Helper()
		var want uint64
		m.Scan(text, func(i int32, _, _ int) { want |= 1 << i })
		got := make([]uint64, 1)
		if ok := m.Find(text, got); !ok || got[0] != want {
			t.Errorf("Find(%q) = %b, %v; Scan found %b", text, got[0], ok, want)
		}
	}
	for _, l := range lits {
		for pre := 0; pre < 18; pre++ {
			for post := 0; post < 10; post++ {
				for _, v := range []string{l, strings.ToUpper(l)} {
					check(strings.Repeat("x", pre) + v + strings.Repeat("y", post))
				}
			}
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	const alphabet = "ab${~qQ%2eE. fromFailed-"
	for range 20000 {
		b := make([]byte, rng.IntN(40))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		check(string(b))
	}
	for n := 1; n < 20; n++ {
		for at := 0; at < n; at++ {
			b := []byte(strings.Repeat("q", n))
			b[at] = 0xc3
			if m.Find(string(b), make([]uint64, 1)) {
				t.Errorf("Find(%q) reports ASCII", b)
			}
		}
	}
}
