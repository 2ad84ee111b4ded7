package fastre

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"time"
)

// regexGen writes random patterns from a grammar that reaches every
// instruction of the fast path: literals, classes, folding, anchors, word
// boundaries, captures, alternation, and every kind of repeat, greedy and
// lazy, over an alphabet small enough that texts often match.
type regexGen struct {
	r     *rand.Rand
	depth int
}

var (
	genAtoms = []string{
		"a", "b", "c", "ab", "ba", "abc", " ", "1", "x", `\.`, "A", "aB",
		"[ab]", "[^a]", "[a-c1]", `\d`, `\s`, `\S`, `\w`, `\W`, ".", `[^"]`,
		`\pL`, `[[:alpha:]]`, `\x{212A}`, "é", `\n`,
	}
	genAsserts = []string{"^", "$", `\b`, `\B`, `\A`, `\z`}
	genQuants  = []string{"*", "+", "?", "{2}", "{1,3}", "{0,2}", "{2,}", "{0,1}", "{3,5}"}
	genFlags   = []string{"(?i)", "(?m)", "(?s)", "(?U)", "(?i:", "(?s:"}
)

func (g *regexGen) pattern() string {
	var b strings.Builder
	if g.r.IntN(6) == 0 {
		b.WriteString(genFlags[g.r.IntN(4)])
	}
	g.alt(&b)
	return b.String()
}

func (g *regexGen) alt(b *strings.Builder) {
	n := 1
	if g.r.IntN(3) == 0 {
		n += g.r.IntN(3)
	}
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte('|')
		}
		g.concat(b)
	}
}

func (g *regexGen) concat(b *strings.Builder) {
	n := g.r.IntN(4)
	if g.depth == 0 {
		n++
	}
	for i := 0; i < n; i++ {
		g.term(b)
	}
}

func (g *regexGen) term(b *strings.Builder) {
	switch k := g.r.IntN(10); {
	case k < 5 || g.depth > 3:
		b.WriteString(genAtoms[g.r.IntN(len(genAtoms))])
	case k < 6:
		b.WriteString(genAsserts[g.r.IntN(len(genAsserts))])
		return
	default:
		g.depth++
		switch g.r.IntN(4) {
		case 0:
			b.WriteString("(?:")
		case 1:
			b.WriteString("(?P<n" + string(rune('a'+g.r.IntN(26))) + ">")
		case 2:
			b.WriteString(genFlags[4+g.r.IntN(2)])
		default:
			b.WriteString("(")
		}
		g.alt(b)
		b.WriteByte(')')
		g.depth--
	}
	if g.r.IntN(3) == 0 {
		b.WriteString(genQuants[g.r.IntN(len(genQuants))])
		if g.r.IntN(3) == 0 {
			b.WriteByte('?')
		}
	}
}

const genText = "aaabbc1 x.AB\n\"k"

func randText(r *rand.Rand) string {
	n := r.IntN(12)
	if r.IntN(8) == 0 {
		n += r.IntN(40)
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = genText[r.IntN(len(genText))]
	}
	if n > 0 && r.IntN(30) == 0 {
		b[r.IntN(n)] = 0xC3 // non-ASCII: the call must go to regexp
	}
	return string(b)
}

// TestRandomDifferential compares random patterns on random texts with
// regexp, so divergence shows up in plain go test, without the fuzzer.
func TestRandomDifferential(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	g := &regexGen{r: r}
	deadline := time.Now().Add(20 * time.Second)
	pairs, fast := 0, 0
	for i := 0; i < 2500 && time.Now().Before(deadline); i++ {
		pat := g.pattern()
		std, err := regexp.Compile(pat)
		if err != nil {
			continue
		}
		re, err := Compile(pat)
		if err != nil {
			t.Fatalf("Compile(%q): %v; regexp compiles it", pat, err)
		}
		if re.Fast() {
			fast++
		}
		for j := 0; j < 8; j++ {
			s := randText(r)
			pairs++
			if d := mismatch(re, std, s); d != "" {
				t.Fatal(d)
			}
		}
	}
	t.Logf("%d pairs, %d of the patterns on the fast path", pairs, fast)
	if fast < 1000 {
		t.Errorf("only %d patterns took the fast path: the test says little", fast)
	}
}
