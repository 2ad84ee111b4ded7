package rules

import (
	"fmt"
	"hash/maphash"
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
	slot := func(x string) int { return int(maphash.String(m.texts.seed, x)>>32) & (memoSlots - 1) }
	other := ""
	for i := 0; other == ""; i++ {
		if x := fmt.Sprintf("/x%d/%d", i%3, i); slot(x) == slot(s) && x != s {
			other = x
		}
	}
	ask(&m, other)
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
