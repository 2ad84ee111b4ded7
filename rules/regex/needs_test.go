package regex

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// needsPatterns are the shapes of the packs' case-insensitive regexes,
// and whether a set of each is decided by a search for a rare byte: an
// exploit's encoded dot-dots (%), Log4Shell's lookups ($), a query's
// words (=); not a dot before an extension (every line has dots), nor
// lookups encoded or not (no byte in common but letters).
var needsPatterns = map[string]bool{
	`(?i)/(?:cgi-bin|icons)/(?:[^ "]*/)?(?:\.%2e|%2e\.|%2e%2e|%%32%65)`:    true,
	`(?i)\$\{(?:jndi|env:|lower:)`:                                         true,
	`(?i)who=authors|context=edit`:                                         true,
	`(?i)(?:\$\{|%24%7b)(?:script|dns|url)(?::|%3a)`:                       false,
	`(?i)\.(?:css|js|mjs|map|png|jpe?g|gif|svg|ico|webp|woff2?)(?:[?#]|$)`: false,
}

// TestNeedsSound: a text a regex matches is never refused, in any case,
// at any place, near-misses included; and the test refuses most texts
// that lack what it looks for (it is worth its cost).
func TestNeedsSound(t *testing.T) {
	pieces := []string{"/", ".", "?", "#", " ", "%2e", "%2E", ".%2e", "%%32%65", "css", "JS", "jpeg", "woff2", "cgi-bin/",
		"icons/", "${", "%24%7B", "jndi", "ENV:", "lower:", "$", "{", "=", "who=authors", "context=edit", "x", "\u212a", "é"}
	rng := rand.New(rand.NewPCG(1, 2))
	for pat, want := range needsPatterns {
		re := regexp.MustCompile(pat)
		n := NewNeeds(pat, 0)
		if (n != nil) != want {
			t.Errorf("%q: test made %v, want %v", pat, n != nil, want)
		}
		if n == nil {
			continue
		}
		refused := 0
		for range 20000 {
			var b strings.Builder
			for k := rng.IntN(6); k >= 0; k-- {
				p := pieces[rng.IntN(len(pieces))]
				if rng.IntN(3) == 0 {
					p = strings.ToUpper(p)
				}
				b.WriteString(p)
			}
			text := b.String()
			may := n.May(text)
			if re.MatchString(text) && !may {
				t.Errorf("%q matches %q, which the test refuses", pat, text)
			}
			if !may {
				refused++
			}
		}
		if refused == 0 {
			t.Errorf("%q: the test refused nothing", pat)
		}
	}
}

// BenchmarkNeeds: the test of an exploit's second set on a scanner's
// line that has its first (/cgi-bin/), and the regex it spares.
func BenchmarkNeeds(b *testing.B) {
	const line = `203.0.6.159 - - [01/Nov/2025:00:00:00 +0000] "GET /cgi-bin/test.cgi HTTP/1.1" 404 153 "-" "Mozilla/5.0 zgrab/0.x"`
	const pat = `(?i)/(?:cgi-bin|icons)/(?:[^ "]*/)?(?:\.%2e|%2e\.|%2e%2e|%%32%65)`
	n := NewNeeds(pat, 1)
	if n == nil || n.May(line) {
		b.Fatal("the test should refuse the line")
	}
	b.Run("needs", func(b *testing.B) {
		for b.Loop() {
			n.May(line)
		}
	})
	eng, err := Compile(pat)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("regex", func(b *testing.B) {
		dst := make([]int, 2)
		for b.Loop() {
			eng.Submatch(line, dst)
		}
	})
}
