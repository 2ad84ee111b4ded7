package packtest

import (
	"strings"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/rules"
)

// testNow is the year-inference reference of tests without now:.
var testNow = time.Date(2025, 11, 9, 0, 0, 0, 0, time.UTC)

const testPack = `pack: demo
rules:
  - name: demo-fail
    formats: [syslog]
    programs: [demo]
    failregex:
      - '^bad login from <HOST>$'
      - '^worse login from <HOST>$'
    ignoreregex: ['from 192\.0\.2\.99$']
    threshold: 2
    window: 1m
    ban: 5m
tests:
  - name: two ban
    lines: |
      2025-11-08T22:00:01+00:00 h demo[1]: bad login from 203.0.113.7
      2025-11-08T22:00:02+00:00 h demo[1]: bad login from 203.0.113.7
    expect:
      - {target: 203.0.113.7, rule: demo-fail, offense: 1, duration: 5m}
  - name: wrong on purpose
    lines:
      - '2025-11-08T22:00:01+00:00 h demo[1]: bad login from 203.0.113.8'
      - '2025-11-08T22:00:02+00:00 h demo[1]: bad login from 203.0.113.8'
      - '2025-11-08T22:00:03+00:00 h demo[1]: worse login from 192.0.2.99'
    expect:
      - {target: 203.0.113.8, duration: 1h}
      - {target: 198.51.100.1}
    expect_none: [203.0.113.0/24]
    expect_count: 0
  - name: bad line
    format: syslog
    lines: |
      2025-11-08T22:00:01+00:00 h demo[1]: bad login from 203.0.113.9

      this is not syslog
    expect_count: 0
`

func TestRun(t *testing.T) {
	p, err := rules.Parse("demo.yaml", []byte(testPack))
	if err != nil {
		t.Fatal(err)
	}
	tests, err := Parse("demo.yaml", []byte(testPack))
	if err != nil {
		t.Fatal(err)
	}
	if len(tests) != 3 {
		t.Fatalf("got %d tests", len(tests))
	}
	if got := tests[0].Inputs[0].Lines[1].Pos.Line; got != 17 {
		t.Errorf("second line of a literal block at line %d, want 17", got)
	}
	if got := tests[1].Inputs[0].Lines[2].Pos.Line; got != 24 {
		t.Errorf("third line of a list at line %d, want 24", got)
	}

	if res := tests[0].Run(p, testNow); !res.Passed() {
		t.Errorf("two ban: %v", res.Failures)
	}

	res := tests[1].Run(p, testNow)
	want := []string{
		"demo.yaml:26:9: expected a ban of 203.0.113.8 (for 1h): got instead demo.yaml:23:9: ban 203.0.113.8 by demo-fail for 5m (offense 1) at 2025-11-08T22:00:02Z",
		"demo.yaml:27:9: expected a ban of 198.51.100.1: no decision about it (1 about other targets)",
		"demo.yaml:28:19: expected no ban of 203.0.113.0/24, but demo.yaml:23:9: ban 203.0.113.8 by demo-fail for 5m (offense 1) at 2025-11-08T22:00:02Z",
		"demo.yaml:29:19: expected 0 ban decision(s), got 1",
	}
	if got := errStrings(res.Failures); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("failures:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got := res.Regex["demo-fail"]; len(got) != 2 || got[0] != 2 || got[1] != 1 {
		t.Errorf("regex hits %v, want [2 1] (an ignored line still exercises its regex)", got)
	}

	res = tests[2].Run(p, testNow)
	if got := errStrings(res.Failures); len(got) != 1 || !strings.HasPrefix(got[0], "demo.yaml:35:7: line does not parse as syslog") {
		t.Errorf("bad line: %v", got)
	}
}

func errStrings(es rules.Errors) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Error())
	}
	return out
}

func TestParseErrors(t *testing.T) {
	head := "pack: x\nrules: []\ntests:\n"
	for _, tc := range []struct {
		name, tests, want string
	}{
		{"not a list", "  x: 1\n", "x.yaml:4:3: tests: want a list"},
		{"unknown key", "  - {lines: a, expect_count: 0, colour: red}\n", `x.yaml:4:33: unknown key "colour" in test`},
		{"no lines", "  - {name: a, expect_count: 0}\n", `x.yaml:4:5: test "a" has no lines (or inputs)`},
		{"both", "  - {lines: a, inputs: [], expect_count: 0}\n", "give lines or inputs, not both"},
		{"expects nothing", "  - {name: a, lines: x}\n", `test "a" expects nothing`},
		{"bad format", "  - {format: csv, lines: a, expect_count: 0}\n", `x.yaml:4:14: unknown format "csv"`},
		{"bad tz", "  - {tz: Mars/Olympus, lines: a, expect_count: 0}\n", "x.yaml:4:10: tz: "},
		{"bad now", "  - {now: yesterday, lines: a, expect_count: 0}\n", "x.yaml:4:11: now: want an RFC 3339 time"},
		{"bad target", "  - {lines: a, expect: [{target: nowhere}]}\n", "x.yaml:4:34: expect: target \"nowhere\""},
		{"bad none", "  - {lines: a, expect_none: [{rule: r}]}\n", "x.yaml:4:30: expect_none: name a target"},
		{"none key", "  - {lines: a, expect_none: [{target: 192.0.2.1, offense: 1}]}\n", `unknown key "offense" in expect_none item`},
		{"bad offense", "  - {lines: a, expect: [{offense: 0}]}\n", "offense: want a number from 1"},
		{"bad duration", "  - {lines: a, expect: [{duration: soon}]}\n", "duration: bad duration"},
		{"bad count", "  - {lines: a, expect_count: -1}\n", "expect_count: want a number"},
		{"folded", "  - expect_count: 0\n    lines: >\n      a\n      b\n", "x.yaml:5:12: lines: a folded block"},
		{"input key", "  - {inputs: [{format: eve, line: x}], expect_count: 0}\n", `unknown key "line" in input`},
		{"duplicate", "  - {name: a, lines: x, expect_count: 0}\n  - {name: a, lines: y, expect_count: 0}\n", `x.yaml:5:5: test "a" is defined twice (first at x.yaml:4:5)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("x.yaml", []byte(head+tc.tests))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
}
