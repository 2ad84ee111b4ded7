package rules

import (
	"fmt"
	"strings"
	"testing"
	"unsafe"

	"github.com/stockade-ids/stockade/rules/regex"
)

func memoRegex(t *testing.T, pat string) *regex.Regex {
	t.Helper()
	eng, err := regex.Compile(pat)
	if err != nil {
		t.Fatal(err)
	}
	return &regex.Regex{Src: pat, Engine: eng}
}

// TestRegexMemoShared: the memo answers what each regex answers,
// whatever it was asked before: several regexes over one string, more
// of them than a slot keeps, a buffer the next event rewrites in place
// (the same address and length, other text), and a string of the same
// event that takes the slot of one looked up just before.
func TestRegexMemoShared(t *testing.T) {
	var res []*regex.Regex
	for i := range memoAnswers + 3 {
		res = append(res, memoRegex(t, fmt.Sprintf(`^/(?:admin|x%d)`, i)))
	}
	ask := func(m *regexMemo, s string) {
		t.Helper()
		for _, re := range res {
			if got, want := m.match(re, s), re.Match(s); got != want {
				t.Errorf("%s on %q: memo %v, regex %v", re.Src, s, got, want)
			}
		}
	}
	var m regexMemo
	m.forget()
	for range 2 { // the second round from the memo
		ask(&m, "/admin/")
		ask(&m, "/x3")
		ask(&m, "/x10")
	}
	for range 2 {
		m.match(res[0], "/y")
		m.match(res[1], "/y")
	}
	if m.Hits != 2 {
		t.Errorf("%d answers from the memo, want 2", m.Hits)
	}

	// A reader's buffer, rewritten in place for the next event.
	buf := []byte("/admin/")
	s := unsafe.String(&buf[0], len(buf))
	ask(&m, s)
	copy(buf, "/x5/abc")
	m.forget()
	ask(&m, s)

	// Another string of the event takes s's slot.
	m.forget()
	copy(buf, "/admin/")
	ask(&m, s)
	// Two strings of its pair of slots: the second takes s's.
	pair := func(x string) int { return int(textHash(m.texts.key, x)>>32) & (memoSlots - 2) }
	var others []string
	for i := 0; len(others) < 2; i++ {
		if x := fmt.Sprintf("/x%d/%d", i%3, i); pair(x) == pair(s) && x != s {
			others = append(others, x)
		}
	}
	ask(&m, others[0])
	ask(&m, others[1])
	ask(&m, s)
}

// TestTextSlotsPair: two texts whose hashes meet (two slots: every text
// meets every other) keep a slot each, and a third takes the one used
// least recently.
func TestTextSlotsPair(t *testing.T) {
	var ts textSlots
	steps := []struct {
		text string
		held bool
	}{
		{"Mozilla/5.0 (X11; Linux x86_64)", false},
		{"/css/site.css", false},
		{"Mozilla/5.0 (X11; Linux x86_64)", true},
		{"/css/site.css", true},
		{"/css/site.css", true},
		{"Mozilla/5.0 (X11; Linux x86_64)", true},
		{"/js/app.js", false}, // takes the site.css slot, used least recently
		{"Mozilla/5.0 (X11; Linux x86_64)", true},
		{"/js/app.js", true},
		{"/css/site.css", false},
		{"/js/app.js", true},
	}
	slots := map[string]int{}
	for i, st := range steps {
		slot, held := ts.slot(st.text, 2)
		if held != st.held {
			t.Fatalf("step %d, %q: held %v, want %v", i, st.text, held, st.held)
		}
		if prev, ok := slots[st.text]; ok && held && prev != slot {
			t.Fatalf("step %d, %q: slot %d, held before in %d", i, st.text, slot, prev)
		}
		slots[st.text] = slot
	}
}

// TestTextHashReadsEveryByte: a byte changed anywhere in a text of any
// length a slot keeps changes its hash (texts that differ in a byte the
// hash skipped would always take the same pair of slots), and texts of
// a log's kinds spread over the pairs.
func TestTextHashReadsEveryByte(t *testing.T) {
	const key = 0x243f6a8885a308d3
	b := []byte(strings.Repeat("Mozilla/5.0 (X11; Linux x86_64) /wp-login.php?", 4))
	for n := 1; n <= memoLen; n++ {
		text := b[:n]
		h := textHash(key, string(text))
		for i := range text {
			text[i] ^= 1
			if textHash(key, string(text)) == h {
				t.Fatalf("length %d: byte %d changed, same hash", n, i)
			}
			text[i] ^= 1
		}
	}
	used := map[int]bool{}
	for i := range 4 * memoSlots {
		used[int(textHash(key, fmt.Sprintf("/blog/2025/11/post-%d", i))>>32)&(memoSlots-2)] = true
	}
	if len(used) < memoSlots/2*9/10 {
		t.Errorf("%d paths took %d of %d pairs of slots", 4*memoSlots, len(used), memoSlots/2)
	}
}
