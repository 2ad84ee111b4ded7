package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// jsonPack is a pack whose first test passes and second fails: the
// threshold is 2, the second test's one line bans nobody.
const jsonPack = `pack: demo
description: a pack for -o json
rules:
  - name: demo-login
    formats: [syslog]
    programs: [app]
    failregex:
      - '^login failed from <HOST>$'
    threshold: 2
    window: 1m
    ban: 30s
tests:
  - name: two failures ban
    lines: |
      2025-11-08T16:55:35+02:00 host app[1]: login failed from 203.0.113.9
      2025-11-08T16:55:36+02:00 host app[1]: login failed from 203.0.113.9
    expect:
      - {target: 203.0.113.9, rule: demo-login}
  - name: one failure bans
    lines: |
      2025-11-08T16:55:35+02:00 host app[1]: login failed from 203.0.113.7
    expect:
      - {target: 203.0.113.7, rule: demo-login}
`

func writePack(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "demo.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func exitCode(err error) int {
	var ee *exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	}
	return -1
}

// TestLintJSON: a pack with an error gives exit 2 and the error at its
// position in the JSON on stdout; a good pack gives ok and its warnings.
func TestLintJSON(t *testing.T) {
	bad := writePack(t, strings.Replace(jsonPack, "threshold: 2", "threshold: 2\n    treshold: 3", 1))
	var out bytes.Buffer
	err := run(t.Context(), []string{"lint", "-o", "json", "--rules", bad}, &out, &bytes.Buffer{})
	if exitCode(err) != 2 {
		t.Fatalf("lint -o json of a bad pack: %v, want exit 2", err)
	}
	var rep lintReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("lint -o json: %v\n%s", err, out.String())
	}
	if rep.OK || len(rep.Errors) == 0 {
		t.Fatalf("lint -o json of a bad pack: %+v", rep)
	}
	e := rep.Errors[0]
	if e.File != bad || e.Line != 10 || e.Col == 0 || !strings.Contains(e.Message, "treshold") {
		t.Errorf("error %+v, want %s:10 about treshold", e, bad)
	}

	good := writePack(t, strings.Replace(jsonPack, "'^login failed from <HOST>$'", "'login failed from <HOST>'", 1))
	out.Reset()
	if err := run(t.Context(), []string{"lint", "--json", "--rules", good}, &out, &bytes.Buffer{}); err != nil {
		t.Fatalf("lint --json: %v", err)
	}
	rep = lintReport{}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("lint --json: %v\n%s", err, out.String())
	}
	if !rep.OK || rep.Packs == 0 || rep.Rules == 0 || len(rep.Errors) != 0 {
		t.Errorf("lint --json of a good pack: %+v", rep)
	}
	found := false
	for _, w := range rep.Warnings {
		found = found || (w.Rule == "unanchored" && w.File == good && w.Line == 4 && strings.Contains(w.Message, "demo-login"))
	}
	if !found {
		t.Errorf("no unanchored warning at %s:4 in %+v", good, rep.Warnings)
	}
	err = run(t.Context(), []string{"lint", "-o", "yaml", "--rules", good}, &out, &bytes.Buffer{})
	if exitCode(err) != 2 {
		t.Errorf("lint -o yaml: %v, want exit 2", err)
	}
}

// TestTestJSON: a failing pack test gives exit 1 and, in the JSON, the
// test by name with its failure and decisions; the passing one its ban.
func TestTestJSON(t *testing.T) {
	p := writePack(t, jsonPack)
	var out bytes.Buffer
	err := run(t.Context(), []string{"test", "-o", "json", p}, &out, &bytes.Buffer{})
	if exitCode(err) != 1 {
		t.Fatalf("test -o json: %v, want exit 1", err)
	}
	var rep testReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("test -o json: %v\n%s", err, out.String())
	}
	if rep.OK || rep.Passed != 1 || rep.Failed != 1 || len(rep.Packs) != 1 || len(rep.Packs[0].Tests) != 2 {
		t.Fatalf("test -o json: %+v", rep)
	}
	pass, fail := rep.Packs[0].Tests[0], rep.Packs[0].Tests[1]
	if pass.Name != "two failures ban" || !pass.Passed || len(pass.Decisions) != 1 ||
		pass.Decisions[0].Target.String() != "203.0.113.9" || pass.Decisions[0].Rule != "demo-login" {
		t.Errorf("passing test: %+v", pass)
	}
	if fail.Name != "one failure bans" || fail.Passed || len(fail.Failures) == 0 || fail.Failures[0].Message == "" || len(fail.Decisions) != 0 {
		t.Errorf("failing test: %+v", fail)
	}

	bad := writePack(t, strings.Replace(jsonPack, "    expect:\n      - {target: 203.0.113.7", "    expekt:\n      - {target: 203.0.113.7", 1))
	out.Reset()
	err = run(t.Context(), []string{"test", "--json", bad}, &out, &bytes.Buffer{})
	rep = testReport{}
	if exitCode(err) != 2 || json.Unmarshal(out.Bytes(), &rep) != nil || len(rep.Errors) == 0 || rep.Errors[0].Line == 0 {
		t.Errorf("test --json of a bad tests: block: %v, %+v\n%s", err, rep, out.String())
	}
}

// TestExplainJSON: explain -o json of the replay auth.log holds, per line,
// the fields, every rule's verdict and why, and the bans, as the text says.
func TestExplainJSON(t *testing.T) {
	log := filepath.Join("..", "..", "testdata", "replay", "auth.log")
	var text, out bytes.Buffer
	if err := run(t.Context(), []string{"explain", log}, &text, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if err := run(t.Context(), []string{"explain", "-o", "json", log}, &out, &bytes.Buffer{}); err != nil {
		t.Fatalf("explain -o json: %v", err)
	}
	var doc struct {
		File, Format string
		Lines        []struct {
			Line      int
			Outcome   string
			Fields    map[string]string
			Message   string
			Rules     []struct{ Rule, Verdict, Why, Target string }
			Decisions []struct{ Target, Rule, Action string }
		}
		Summary struct{ Lines, Bans int }
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("explain -o json: %v\n%s", err, out.String())
	}
	if doc.Format != "syslog" || len(doc.Lines) == 0 || doc.Summary.Lines != len(doc.Lines) {
		t.Fatalf("explain -o json: format %q, %d lines, summary %+v", doc.Format, len(doc.Lines), doc.Summary)
	}
	l5 := doc.Lines[4]
	if l5.Line != 5 || l5.Fields["program"] != "sshd" || l5.Fields["time"] != "2025-11-08T22:01:00Z" ||
		!strings.Contains(l5.Message, "Failed password for root from 203.0.113.10") ||
		len(l5.Rules) != 1 || l5.Rules[0].Rule != "sshd" || l5.Rules[0].Verdict != "hit" ||
		l5.Rules[0].Target != "203.0.113.10" || !strings.HasPrefix(l5.Rules[0].Why, "counted 1/") {
		t.Errorf("line 5: %+v", l5)
	}
	bans := 0
	for _, l := range doc.Lines {
		for _, d := range l.Decisions {
			if d.Action == "ban" {
				bans++
				if !strings.Contains(text.String(), "BAN") || d.Target == "" || d.Rule == "" {
					t.Errorf("line %d: decision %+v", l.Line, d)
				}
			}
		}
	}
	if bans == 0 || bans != doc.Summary.Bans || !strings.Contains(text.String(), "  bans: "+itoa(bans)+"\n") {
		t.Errorf("%d ban decisions, summary says %d", bans, doc.Summary.Bans)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }
