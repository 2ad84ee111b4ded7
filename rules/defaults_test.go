package rules

import (
	"bytes"
	"io/fs"
	"reflect"
	"slices"
	"testing"

	"github.com/stockade-ids/stockade/pipeline"
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

// TestDefaultPacksFor: the built-in packs loaded for sources of some
// formats make the set of every rule that may see their events (a syslog
// log's access lines too, see seenFormats), in the same order with the
// same policies, and leave the others out uncompiled; a pack may still
// enable a rule left out, and a range rule, which counts bans, is always
// in.
func TestDefaultPacksFor(t *testing.T) {
	all, err := DefaultPacks()
	if err != nil {
		t.Fatal(err)
	}
	whole, err := NewSet(all...)
	if err != nil {
		t.Fatal(err)
	}
	// A pack of one's own enabling a rule that is off by default and
	// reads syslog: loaded for a Suricata log, the name still resolves.
	var offSyslog string
	for _, r := range whole.packs {
		for _, rr := range r.Rules {
			if rr.Off && slices.Equal(rr.Formats, []pipeline.Format{pipeline.FormatSyslog}) && offSyslog == "" {
				offSyslog = rr.Policy.Name
			}
		}
	}
	if offSyslog == "" {
		t.Fatal("no built-in rule is off by default and reads syslog alone")
	}
	own, err := Parse("own.yaml", []byte("pack: own\nenable: ["+offSyslog+"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, formats := range [][]pipeline.Format{
		{pipeline.FormatSyslog}, {pipeline.FormatNginx}, {pipeline.FormatEve}, {pipeline.FormatFastLog},
		{pipeline.FormatFastLog, pipeline.FormatEve}, {pipeline.FormatFail2ban}, {pipeline.FormatDecision},
		{pipeline.FormatPlain}, {},
	} {
		packs, err := DefaultPacksFor(formats)
		if err != nil {
			t.Fatal(formats, err)
		}
		set, err := NewSet(append(packs, own)...)
		if err != nil {
			t.Fatalf("%v: %v", formats, err)
		}
		seen := seenFormats(formats)
		var want []*Rule
		for _, r := range whole.rules {
			if r.Policy.Range != nil || slices.ContainsFunc(r.Formats, func(f pipeline.Format) bool { return slices.Contains(seen, f) }) {
				want = append(want, r)
			}
		}
		kept := map[string]bool{}
		for i, r := range set.rules {
			kept[r.Policy.Name] = true
			if r.unread || r.m == nil {
				t.Errorf("%v: rule %s in the set uncompiled", formats, r.Policy.Name)
			}
			if r.Policy.Name == offSyslog {
				continue // the own pack's enable: is not the whole set's
			}
			if len(want) == 0 {
				t.Errorf("%v: rule %s in the set, not among those that read the formats", formats, r.Policy.Name)
				continue
			}
			w := want[0]
			want = want[1:]
			pa, pb := *r.Policy, *w.Policy
			pa.ID, pb.ID = 0, 0
			if r.Policy.Name != w.Policy.Name || r.Pos != w.Pos || !reflect.DeepEqual(pa, pb) {
				t.Errorf("%v: rule %d is %s at %s, want %s at %s (or its policy differs)", formats, i, r.Policy.Name, r.Pos, w.Policy.Name, w.Pos)
			}
		}
		for _, w := range want {
			t.Errorf("%v: rule %s reads the formats and is not in the set", formats, w.Policy.Name)
		}
		if slices.Contains(seenFormats(formats), pipeline.FormatSyslog) != kept[offSyslog] {
			t.Errorf("%v: the rule enabled by a pack, %s, kept %v", formats, offSyslog, kept[offSyslog])
		}
		left := 0
		for _, p := range packs {
			for _, r := range p.Rules {
				if kept[r.Policy.Name] {
					continue
				}
				left++
				if !r.Off && (!r.unread || r.m != nil || r.when != nil || r.key != nil) {
					t.Errorf("%v: rule %s left out but compiled (unread %v)", formats, r.Policy.Name, r.unread)
				}
			}
		}
		t.Logf("%v: %d rules of %d in the set, %d left uncompiled", formats, len(set.rules), len(whole.rules), left)
	}
	// A syslog log's web-server lines are access events: the access
	// rules read them.
	packs, err := DefaultPacksFor([]pipeline.Format{pipeline.FormatSyslog})
	if err != nil {
		t.Fatal(err)
	}
	set, err := NewSet(packs...)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(set.rules, func(r *Rule) bool { return slices.Equal(r.Formats, []pipeline.Format{pipeline.FormatNginx}) }) {
		t.Error("loaded for syslog, the set has no access-log rule")
	}
}
