package rules

import (
	"errors"
	"strings"
	"testing"
)

// TestGrow: grow: widens a range rule's bans by density; members default
// to 3; every mistake is reported at its position.
func TestGrow(t *testing.T) {
	p, err := Parse("g.yaml", []byte(`pack: g
rules:
  - name: neighbourhood
    range: {v4: 24, v6: 64}
    grow: {v4: 16, v6: 48}
    threshold: 5
    window: 1h
    ban: 1d
`))
	if err != nil {
		t.Fatal(err)
	}
	g := p.Rules[0].Policy.Range.Grow
	if g == nil || g.V4Bits != 16 || g.V6Bits != 48 || g.Members != 3 {
		t.Fatalf("grow: %+v", g)
	}

	_, err = Parse("bad.yaml", []byte(`pack: bad
rules:
  - name: a
    range: {v4: 24}
    grow: {v4: 24, v6: 48, members: 1, depth: 2}
    threshold: 5
    window: 1h
    ban: 1d
  - name: b
    formats: [syslog]
    failregex: ['^x <HOST>$']
    grow: {v4: 16}
    ban: 1h
  - name: c
    range: {v6: 64}
    grow: {}
    threshold: 2
    window: 1h
    ban: 1d
`))
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("want Errors, got %v", err)
	}
	want := []string{
		"bad.yaml:5:16: grow.v4: want a prefix length from 16 to 23 (wider than range.v4: /24)",
		"bad.yaml:5:20: grow.v6: range: has no v6 to grow from",
		"bad.yaml:5:37: grow.members: want a number of banned ranges from 2 to 256",
		"bad.yaml:5:40: unknown key \"depth\" in grow (known: v4, v6, members)",
		"bad.yaml:12:11: rule \"b\": grow: widens range bans: give range: too",
		"bad.yaml:16:11: grow: give v4 (e.g. 16) and/or v6 (e.g. 48), the widest prefix a ban grows to",
	}
	got := err.Error()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("missing error %q in:\n%s", w, got)
		}
	}
	if len(es) != len(want) {
		t.Errorf("%d errors, want %d:\n%s", len(es), len(want), got)
	}
}
