package rules

import "testing"

// DefaultPacksAllOn returns the built-in packs with a pack that turns on
// every rule that is off by default (sshd-aggressive, portscan, the mail
// rules that can ban a relay or a real user, ...), as an admin who wants
// them does with packs: {enable: [...]}: the corpus tests judge with all
// of them.
func DefaultPacksAllOn(t testing.TB) []*Pack {
	t.Helper()
	packs, err := DefaultPacks()
	if err != nil {
		t.Fatal(err)
	}
	var off []string
	for _, p := range packs {
		for _, r := range p.Rules {
			if r.Off {
				off = append(off, r.Policy.Name)
			}
		}
	}
	return append(packs, &Pack{Name: "all-on", Enable: off})
}
