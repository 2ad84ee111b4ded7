package rules

import (
	"bytes"
	"io/fs"
	"reflect"
	"testing"
)

// TestDefaultPacksUntested: each built-in pack parses, without its
// tests: block (what DefaultPacks reads), to the rules it parses to whole,
// at the same positions, and the blanked file keeps every line.
func TestDefaultPacksUntested(t *testing.T) {
	sub := DefaultFS()
	names, err := fs.Glob(sub, "*.yaml")
	if err != nil || len(names) == 0 {
		t.Fatalf("packs: %v %v", names, err)
	}
	blanked := 0
	for _, n := range names {
		data, err := fs.ReadFile(sub, n)
		if err != nil {
			t.Fatal(err)
		}
		cut := withoutTests(data)
		if bytes.Count(cut, []byte("\n")) != bytes.Count(data, []byte("\n")) {
			t.Fatalf("%s: %d lines blanked to %d", n, bytes.Count(data, []byte("\n")), bytes.Count(cut, []byte("\n")))
		}
		blanked += len(data) - len(cut)
		whole, err := Parse(n, data)
		if err != nil {
			t.Fatalf("%s whole: %v", n, err)
		}
		part, err := Parse(n, cut)
		if err != nil {
			t.Fatalf("%s without tests: %v", n, err)
		}
		if whole.Name != part.Name || whole.Description != part.Description || !reflect.DeepEqual(whole.Enable, part.Enable) ||
			!reflect.DeepEqual(whole.enablePos, part.enablePos) || len(whole.Allowlists) != len(part.Allowlists) || len(whole.Rules) != len(part.Rules) {
			t.Fatalf("%s: the pack differs without its tests", n)
		}
		for i, a := range whole.Allowlists {
			if b := part.Allowlists[i]; !reflect.DeepEqual(a, b) {
				t.Errorf("%s: allowlist %d differs: %+v, %+v", n, i, a, b)
			}
		}
		for i, a := range whole.Rules {
			b := part.Rules[i]
			if a.Pos != b.Pos || !reflect.DeepEqual(a.Formats, b.Formats) || !reflect.DeepEqual(a.Programs, b.Programs) ||
				!reflect.DeepEqual(a.Sources, b.Sources) || a.UseLine != b.UseLine || a.Off != b.Off || a.mode != b.mode {
				t.Errorf("%s: rule %s differs: %+v, %+v", n, a.Policy.Name, a, b)
			}
			pa, pb := *a.Policy, *b.Policy
			if !reflect.DeepEqual(pa, pb) {
				t.Errorf("%s: rule %s's policy differs: %+v, %+v", n, a.Policy.Name, pa, pb)
			}
		}
	}
	packs, err := DefaultPacks()
	if err != nil || len(packs) != len(names) {
		t.Fatalf("DefaultPacks: %d packs of %d, %v", len(packs), len(names), err)
	}
	t.Logf("%d packs; %d bytes of tests left out of the parse", len(names), blanked)
}

func TestWithoutTests(t *testing.T) {
	in := "pack: p\ntests:\n  - name: a\n    lines: |\n      x\n# note\ntests2: 1\nrules:\n  - name: r\ntests: [1]\n"
	want := "pack: p\ntests: []\n\n\n\n\ntests2: 1\nrules:\n  - name: r\ntests: []\n"
	if got := string(withoutTests([]byte(in))); got != want {
		t.Errorf("withoutTests:\n%q\nwant\n%q", got, want)
	}
}
