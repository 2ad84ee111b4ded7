package rules

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

func TestParseReportsEveryErrorWithPosition(t *testing.T) {
	src := `pack: broken
rules:
  - name: a
    formats: [syslog]
    failregex:
      - '^Failed for (unclosed from <HOST>$'
    ban: 10m
  - name: b
    formats: [nginx]
    when: statuss == 404
    ban: 1h
  - name: c
    formats: [nginx]
    when: status
    ban: 1h
  - name: d
    formats: [nginx, carrier-pigeon]
    colour: blue
    threshold: 5
    ban: forever
  - name: e
    formats: [syslog]
    failregex: ['^no address here$']
    ban: 1m
`
	_, err := Parse("broken.yaml", []byte(src))
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("want Errors, got %v", err)
	}
	want := []string{
		"broken.yaml:6:9: failregex: bad regex: missing closing )",
		"broken.yaml:10:11: when: unknown name statuss",
		"broken.yaml:14:11: when: expected bool, but got int",
		"broken.yaml:17:22: unknown format \"carrier-pigeon\"",
		"broken.yaml:18:5: unknown key \"colour\" in rule",
		"broken.yaml:20:10: ban: bad duration \"forever\"",
		"broken.yaml:16:5: rule \"d\": a threshold above 1 needs a window",
		"broken.yaml:23:17: failregex: failregex needs a <HOST>",
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

func TestParseRefusesDuplicatesAndUnknownPackKeys(t *testing.T) {
	src := `pack: p
rules:
  - {name: a, formats: [eve], ban: 1h}
  - {name: a, formats: [eve], ban: 1h}
extra: 1
`
	_, err := Parse("p.yaml", []byte(src))
	if err == nil || !strings.Contains(err.Error(), `p.yaml:4:5: rule "a" is defined twice (first at p.yaml:3:5)`) ||
		!strings.Contains(err.Error(), `p.yaml:5:1: unknown key "extra"`) {
		t.Fatalf("got %v", err)
	}
}

func TestNewSetRefusesSameRuleInTwoPacks(t *testing.T) {
	a, err := Parse("a.yaml", []byte("pack: a\nrules: [{name: x, formats: [eve], ban: 1h}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Parse("b.yaml", []byte("pack: b\nrules: [{name: x, formats: [eve], ban: 1h}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewSet(a, b); err == nil || !strings.Contains(err.Error(), "b.yaml:2:9: rule \"x\" is also defined at a.yaml:2:9") {
		t.Fatalf("got %v", err)
	}
}

func TestYAMLSyntaxError(t *testing.T) {
	_, err := Parse("s.yaml", []byte("pack: s\nrules:\n  - name: [\n"))
	if err == nil || !strings.HasPrefix(err.Error(), "s.yaml:") {
		t.Fatalf("got %v", err)
	}
}

func TestDefaultPacksLoad(t *testing.T) {
	packs, err := DefaultPacks()
	if err != nil {
		t.Fatal(err)
	}
	set, err := NewSet(packs...)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, r := range set.Rules() {
		names[r.Policy.Name] = true
	}
	for _, n := range []string{"sshd", "nginx-wordpress", "nginx-scan", "suricata-p1", "suricata-p2", "recidive"} {
		if !names[n] {
			t.Errorf("default rule %s missing", n)
		}
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]string{"10m": "10m0s", "1h": "1h0m0s", "7d": "168h0m0s", "1w": "168h0m0s", "1w1d2h": "194h0m0s", "90s": "1m30s"} {
		d, err := ParseDuration(in)
		if err != nil || d.String() != want {
			t.Errorf("%s: %v %v", in, d, err)
		}
	}
	for _, bad := range []string{"", "forever", "-5m", "1x"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestEnable: a rule with enabled: false is left out of a set until a
// pack names it in enable:; a name no pack defines is refused.
func TestEnable(t *testing.T) {
	base, err := Parse("base.yaml", []byte(`pack: base
rules:
  - name: on
    formats: [nginx]
    ban: 1h
  - name: off
    enabled: false
    formats: [nginx]
    ban: 1h
`))
	if err != nil {
		t.Fatal(err)
	}
	names := func(s *Set) (out []string) {
		for _, r := range s.Rules() {
			out = append(out, r.Policy.Name)
		}
		return out
	}
	s, err := NewSet(base)
	if err != nil || strings.Join(names(s), ",") != "on" {
		t.Fatalf("default: %v %v", names(s), err)
	}
	local, err := Parse("local.yaml", []byte("pack: local\nenable: [off]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s, err = NewSet(base, local); err != nil || strings.Join(names(s), ",") != "on,off" {
		t.Fatalf("enabled: %v %v", names(s), err)
	}
	typo, err := Parse("typo.yaml", []byte("pack: typo\nenable: [of]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err = NewSet(base, typo); err == nil || !strings.Contains(err.Error(), `typo.yaml:2:10: enable: no rule "of"`) {
		t.Fatalf("a misspelt name: %v", err)
	}
}

// TestMode: `mode: simulate` on a pack puts its rules in simulation, a
// rule's own mode wins over its pack's, and a mode that is neither is an
// error at its position.
func TestMode(t *testing.T) {
	src := `pack: trial
mode: simulate
rules:
  - name: a
    formats: [nginx]
    when: status == 404
    ban: 1h
  - name: b
    formats: [nginx]
    when: status == 403
    ban: 1h
    mode: enforce
`
	p, err := Parse("trial.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if !p.Rules[0].Policy.Simulate || p.Rules[1].Policy.Simulate {
		t.Fatalf("simulate: a %v, b %v", p.Rules[0].Policy.Simulate, p.Rules[1].Policy.Simulate)
	}
	_, err = Parse("bad.yaml", []byte("pack: x\nmode: dry\nrules:\n  - name: a\n    formats: [nginx]\n    when: status == 404\n    ban: 1h\n    mode: maybe\n"))
	if err == nil || !strings.Contains(err.Error(), `bad.yaml:2:7: mode: want enforce or simulate, not "dry"`) || !strings.Contains(err.Error(), `bad.yaml:8:11: mode: want enforce or simulate, not "maybe"`) {
		t.Fatalf("bad mode: %v", err)
	}
}

// TestLoadFSInOrder: packs parsed side by side come back in their files'
// order, and the errors of the broken ones in file order too, every one
// of them, run after run.
func TestLoadFSInOrder(t *testing.T) {
	fsys := fstest.MapFS{}
	var wantPacks, wantErrs []string
	for i := range 24 {
		name := fmt.Sprintf("p%02d.yaml", i)
		if i%5 == 2 {
			fsys[name] = &fstest.MapFile{Data: []byte(fmt.Sprintf("pack: p%d\nrules:\n  - name: r%d\n    formats: [nope]\n    ban: 1h\n", i, i))}
			wantErrs = append(wantErrs, name)
			continue
		}
		fsys[name] = &fstest.MapFile{Data: []byte(fmt.Sprintf("pack: p%d\nrules:\n  - name: r%d\n    formats: [syslog]\n    failregex: ['^x%d <HOST>$']\n    ban: 1h\n", i, i, i))}
		wantPacks = append(wantPacks, name)
	}
	first := ""
	for run := range 5 {
		packs, err := LoadFS(fsys, ".")
		var got []string
		for _, p := range packs {
			got = append(got, p.File)
		}
		if !slices.Equal(got, wantPacks) {
			t.Fatalf("run %d: packs %v, want %v", run, got, wantPacks)
		}
		var es Errors
		if !errors.As(err, &es) {
			t.Fatalf("run %d: %v, want the broken packs' errors", run, err)
		}
		var files []string
		for _, e := range es {
			if len(files) == 0 || files[len(files)-1] != e.Pos.File {
				files = append(files, e.Pos.File)
			}
		}
		if !slices.Equal(files, wantErrs) {
			t.Fatalf("run %d: errors in %v, want in %v, in that order", run, files, wantErrs)
		}
		if run == 0 {
			first = err.Error()
		} else if err.Error() != first {
			t.Fatalf("run %d: errors\n%v\nwant, as run 0\n%s", run, err, first)
		}
	}
}
