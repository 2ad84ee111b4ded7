package ruleset

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/config"
	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/rules"
	"github.com/stockade-ids/stockade/sources"
)

// bansByRule replays testdata/replay with the packs a configuration's
// packs: key selects, and counts the bans of each rule.
func bansByRule(t *testing.T, packsYAML string) map[string]int {
	t.Helper()
	cfg, err := config.Parse("stockade.yaml", []byte("sources: [{files: [/var/log/auth.log]}]\n"+packsYAML))
	if err != nil {
		t.Fatal(err)
	}
	set, err := LoadSelected(nil, cfg.Packs)
	if err != nil {
		t.Fatal(err)
	}
	names, _ := filepath.Glob("../../testdata/replay/*.log")
	names = append(names, "../../testdata/replay/eve.json")
	var its []pipeline.Iterator
	for _, n := range names {
		f, err := sources.Open(n, sources.Options{Loc: time.UTC})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		its = append(its, f)
	}
	eng := pipeline.NewEngine(set, pipeline.Config{Origin: "test"})
	sink := &countSink{bans: map[string]int{}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := pipeline.Replay(ctx, eng, its, sink); err != nil {
		t.Fatal(err)
	}
	return sink.bans
}

type countSink struct {
	mu   sync.Mutex
	bans map[string]int
	by   string // "target" counts by target, else by rule
}

func (s *countSink) Write(_ context.Context, ds []pipeline.Decision) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range ds {
		if d.Action == pipeline.ActionBan && s.by == "target" {
			s.bans[d.Target.String()]++
		} else if d.Action == pipeline.ActionBan {
			s.bans[d.Rule]++
		}
	}
	return nil
}

func (s *countSink) Close(context.Context) error { return nil }

// TestPacksKeyReplay: the packs: key changes what a replay of
// testdata/replay bans, and only what it names: disabling a pack drops
// its rules' bans and leaves every other rule's; the list form runs only
// the packs listed; an empty enable:/disable: is the default.
func TestPacksKeyReplay(t *testing.T) {
	def := bansByRule(t, "")
	if def["sshd"] == 0 || def["nginx-scan"]+def["nginx-wordpress"] == 0 {
		t.Fatalf("default replay: want sshd and nginx bans, got %v", def)
	}
	if got := bansByRule(t, "packs: {enable: [], disable: []}\n"); !maps.Equal(got, def) {
		t.Errorf("empty packs: changed the bans: %v, want %v", got, def)
	}
	noSSH := bansByRule(t, "packs: {disable: [sshd]}\n")
	want := maps.Clone(def)
	delete(want, "sshd")
	delete(want, "sshd-aggressive")
	if !maps.Equal(noSSH, want) {
		t.Errorf("disable: [sshd]: bans %v, want %v", noSSH, want)
	}
	only := bansByRule(t, "packs: [sshd]\n")
	for r := range only {
		if !strings.HasPrefix(r, "sshd") {
			t.Errorf("packs: [sshd]: rule %s banned (%v)", r, only)
		}
	}
	if only["sshd"] != def["sshd"] {
		t.Errorf("packs: [sshd]: %d sshd bans, want the default's %d", only["sshd"], def["sshd"])
	}
	t.Logf("default %v; disable sshd %v; only sshd %v", def, noSSH, only)
}

// TestPacksKeyErrors: a name no loaded pack or rule has is refused at its
// file:line:col in the configuration, with the name probably meant; so
// are a name both enabled and disabled and a pack whose rules are all off
// by default named to enable.
func TestPacksKeyErrors(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"packs:\n  disable: [web-cev]\n", `stockade.yaml:3:13: packs.disable: no pack, rule or allowlist "web-cev" in the packs loaded; did you mean web-cve?`},
		{"packs: [sshd, zzzz]\n", `stockade.yaml:2:15: packs: no pack, rule or allowlist "zzzz" in the packs loaded (stockade packs lists them)`},
		{"packs: {enable: [portscan], disable: [portscan]}\n", `stockade.yaml:2:39: packs.disable: "portscan" is also enabled at stockade.yaml:2:18`},
		{"packs: {enable: [nginx-mail-x]}\n", `did you mean nginx-mail?`},
		{"packs: {enabel: [sshd]}\n", `stockade.yaml:2:9: packs.enabel: unknown key; did you mean enable?`},
		{"packs: sshd\n", `stockade.yaml:2:8: packs: want a list of packs`},
		{"packs: {disable: [[x]]}\n", `stockade.yaml:2:19: packs.disable[0]: want a pack, rule or allowlist name`},
	} {
		cfg, err := config.Parse("stockade.yaml", []byte("sources: [{files: [/var/log/auth.log]}]\n"+tc.yaml))
		if err == nil {
			_, err = LoadSelected(nil, cfg.Packs)
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.yaml, err, tc.want)
		}
	}
}

// TestSelectStates: every rule's state and why, as `stockade packs` shows
// them: a pack disabled turns off even a rule another pack's enable:
// names, and a rule off by default is turned on by its own name only.
func TestSelectStates(t *testing.T) {
	packs, err := rules.DefaultPacks()
	if err != nil {
		t.Fatal(err)
	}
	sel := rules.Selection{
		Enable:  []rules.Name{{Value: "sshd-aggressive"}, {Value: "nginx-mail"}, {Value: "googlebot"}},
		Disable: []rules.Name{{Value: "web-cve"}},
	}
	out, states, err := rules.Select(packs, sel)
	if err != nil {
		t.Fatal(err)
	}
	why := map[string]string{}
	for _, s := range states {
		why[s.Rule] = map[bool]string{true: "on, ", false: "off, "}[s.On] + s.Why
	}
	for rule, want := range map[string]string{
		"sshd":                "on, default",
		"sshd-aggressive":     "on, enabled by config",
		"nginx-mail":          "on, enabled by config",
		"nginx-mail-errorlog": "off, off by default",
		"portscan":            "off, off by default",
		"web-cve":             "off, disabled by config",
		"googlebot":           "on, enabled by config",
		"bingbot":             "off, off by default",
	} {
		if why[rule] != want {
			t.Errorf("%s: %q, want %q", rule, why[rule], want)
		}
	}
	set, err := rules.NewSet(out...)
	if err != nil {
		t.Fatal(err)
	}
	running := map[string]bool{}
	for _, r := range set.Rules() {
		running[r.Policy.Name] = true
	}
	if !running["sshd-aggressive"] || running["web-cve"] || running["portscan"] {
		t.Errorf("set runs %v", running)
	}
	for _, p := range packs {
		for _, r := range p.Rules {
			if r.Policy.Name == "web-cve" && r.Off {
				t.Error("Select wrote the packs it was given")
			}
		}
	}
}

// TestWhitelistsPack: the whitelists pack, once enabled, spares Google's
// published crawler range from every rule, by address whatever the user
// agent (the web rules' own exclusion needs both); requests with
// Googlebot's user agent from another address are banned all the same;
// with the pack off (the default) the crawler's addresses are banned like
// any other when they do not say Googlebot.
func TestWhitelistsPack(t *testing.T) {
	log := filepath.Join(t.TempDir(), "access.log")
	var b strings.Builder
	const googleUA = `"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"`
	for i, addr := range []string{"66.249.66.1", "203.0.113.6", "2001:4860:4801:10::1", "66.249.66.1", "203.0.113.6", "2001:4860:4801:10::1"} {
		ua := `"curl/8.5.0"`
		if addr == "203.0.113.6" {
			ua = googleUA
		}
		fmt.Fprintf(&b, "%s - - [08/Nov/2025:22:00:%02d +0000] \"GET /.env HTTP/1.1\" 404 153 \"-\" %s\n", addr, i, ua)
	}
	os.WriteFile(log, []byte(b.String()), 0o644)
	banned := func(packsYAML string) []string {
		cfg, err := config.Parse("stockade.yaml", []byte("sources: [{files: [/var/log/nginx/access.log]}]\n"+packsYAML))
		if err != nil {
			t.Fatal(err)
		}
		set, err := LoadSelected(nil, cfg.Packs)
		if err != nil {
			t.Fatal(err)
		}
		f, err := sources.Open(log, sources.Options{Loc: time.UTC})
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		sink := &countSink{bans: map[string]int{}, by: "target"}
		if err := pipeline.Replay(t.Context(), pipeline.NewEngine(set, pipeline.Config{Origin: "test"}), []pipeline.Iterator{f}, sink); err != nil {
			t.Fatal(err)
		}
		return slices.Sorted(maps.Keys(sink.bans))
	}
	if got, want := banned(""), []string{"2001:4860:4801:10::/64", "203.0.113.6", "66.249.66.1"}; !slices.Equal(got, want) {
		t.Errorf("whitelists off: banned %v, want %v", got, want)
	}
	for _, sel := range []string{"packs: {enable: [whitelists]}\n", "packs: {enable: [googlebot]}\n"} {
		if got, want := banned(sel), []string{"203.0.113.6"}; !slices.Equal(got, want) {
			t.Errorf("%s: banned %v, want %v (by address, never by user agent)", sel, got, want)
		}
	}
	if got, want := banned("packs: {enable: [bingbot]}\n"), []string{"2001:4860:4801:10::/64", "203.0.113.6", "66.249.66.1"}; !slices.Equal(got, want) {
		t.Errorf("bingbot only: banned %v, want %v", got, want)
	}
}

// TestUnselected: the packs a packs: key runs no rule of, with why; a
// pack whose rules are only off by default (portscan) is not one, and a
// bad name is refused at its position.
func TestUnselected(t *testing.T) {
	files, err := Files(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, yaml string
		want       map[string]string
	}{
		{"no packs: key", "", map[string]string{}},
		{"disable a pack", "packs: {disable: [web-cve, sshd-aggressive]}\n", map[string]string{"web-cve": "disabled by config"}},
		{"the list form", "packs: [sshd, portscan]\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.Parse("stockade.yaml", []byte("sources: [{files: [/var/log/auth.log]}]\n"+tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			skip, err := Unselected(files, cfg.Packs)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for p, why := range skip {
				got[p.Name] = why
			}
			if tc.want == nil {
				// Every pack but the two named runs nothing.
				if len(got) != len(files)-2 || got["sshd"] != "" || got["portscan"] != "" || got["postfix"] != "not selected by config" {
					t.Errorf("skipped %v", got)
				}
				return
			}
			if !maps.Equal(got, tc.want) {
				t.Errorf("skipped %v, want %v", got, tc.want)
			}
		})
	}
	cfg, err := config.Parse("stockade.yaml", []byte("sources: [{files: [/var/log/auth.log]}]\npacks: {disable: [web-cev]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Unselected(files, cfg.Packs); err == nil || !strings.Contains(err.Error(), `stockade.yaml:2:19: packs.disable: no pack, rule or allowlist "web-cev"`) {
		t.Errorf("a bad name: %v", err)
	}
}
