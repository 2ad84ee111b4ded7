package rules_test

import (
	"io/fs"
	"path"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/rules"
	"github.com/stockade-ids/stockade/rules/packtest"
)

// TestDefaultPackTests runs the tests: block of every built-in pack, and
// checks that they cover the packs: every failregex matched by a sample
// line (as fail2ban asks of its filters), every rule shown to ban in a test
// that expects its decision and shown not to in a test with expect_none.
func TestDefaultPackTests(t *testing.T) {
	packs, err := rules.DefaultPacks()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range packs {
		data, err := fs.ReadFile(rules.DefaultFS(), p.File)
		if err != nil {
			t.Fatal(err)
		}
		tests, err := packtest.Parse(path.Join("packs", p.File), data)
		if err != nil {
			t.Fatalf("%v", err)
		}
		if len(tests) == 0 {
			t.Errorf("pack %s has no tests", p.Name)
			continue
		}
		regexHits := map[string][]int{}
		bans := map[string]bool{}
		noBan := map[string]bool{}
		for _, pt := range tests {
			res := pt.Run(p, time.Date(2025, 11, 9, 0, 0, 0, 0, time.UTC))
			t.Run(p.Name+"/"+pt.Name, func(t *testing.T) {
				for _, f := range res.Failures {
					t.Error(f.Error())
				}
				if !res.Passed() {
					for _, d := range res.Decisions {
						t.Logf("decided: %s", d.String())
					}
				}
			})
			for rule, hits := range res.Regex {
				if regexHits[rule] == nil {
					regexHits[rule] = make([]int, len(hits))
				}
				for i, n := range hits {
					regexHits[rule][i] += n
				}
			}
			for _, x := range pt.Expect {
				for _, d := range res.Decisions {
					if x.Matches(&d.Decision) {
						bans[d.Rule] = true
					}
				}
			}
			if len(pt.None) > 0 {
				for rule, n := range res.Seen {
					if n > 0 {
						noBan[rule] = true
					}
				}
			}
		}
		for _, r := range p.Rules {
			name := r.Policy.Name
			for i, n := range regexHits[name] {
				if n == 0 {
					t.Errorf("%s: rule %s: no test line matches failregex #%d %s", p.File, name, i+1, r.FailRegexes()[i])
				}
			}
			if !bans[name] {
				t.Errorf("%s: rule %s: no test expects a decision of it", p.File, name)
			}
			if !noBan[name] {
				t.Errorf("%s: rule %s: no test with expect_none gives it a line to see", p.File, name)
			}
		}
	}
}
