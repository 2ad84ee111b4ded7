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

// TestPacksStates: `packs --config` shows each rule on or off as the
// configuration's packs: key leaves it, and why.
func TestPacksStates(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "stockade.yaml")
	os.WriteFile(cfg, []byte("sources: [{files: [/var/log/auth.log]}]\npacks: {enable: [sshd-aggressive], disable: [web-cve]}\n"), 0o644)
	var out bytes.Buffer
	if err := run(t.Context(), []string{"packs", "--config", cfg}, &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"  on  sshd                   (default)  ",
		"  on  sshd-aggressive        (enabled by config) ",
		"  off web-cve                (disabled by config) ",
		"  off portscan               (off by default)  ",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("packs --config: no %q in\n%s", want, out.String())
		}
	}
	out.Reset()
	if err := run(t.Context(), []string{"packs"}, &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "  off sshd-aggressive        (off by default) ") || !strings.Contains(out.String(), "  on  web-cve                (default) ") {
		t.Errorf("packs without --config: not the shipped states:\n%s", out.String())
	}
}

// TestPacksShow: `packs show NAME` prints the pack's rules with their
// thresholds, windows, bans, formats and programs, and its tests count;
// -o json the same; an unknown name exits 2 with the name meant.
func TestPacksShow(t *testing.T) {
	var out bytes.Buffer
	if err := run(t.Context(), []string{"packs", "show", "sshd"}, &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"pack sshd (rules/packs/sshd.yaml)\n",
		"\nrule sshd: on (default)\n",
		"  bans: 5 matches within 10m -> 10m (escalating ×2 per offense, at most 1w)\n",
		"  formats: syslog\n  programs: sshd, sshd-session, sshd-auth\n",
		"\nrule sshd-aggressive: off (off by default)\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("packs show sshd: no %q in\n%s", want, out.String())
		}
	}
	var js bytes.Buffer
	if err := run(t.Context(), []string{"packs", "show", "web-cve", "-o", "json"}, &js, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	var p packInfo
	if err := json.Unmarshal(js.Bytes(), &p); err != nil {
		t.Fatalf("packs show -o json: %v\n%s", err, js.String())
	}
	if p.Name != "web-cve" || p.Tests == 0 || len(p.Rules) != 1 || p.Rules[0].Threshold != 1 || p.Rules[0].Ban != "4h" || !p.Rules[0].On || p.Formats[0] == "" {
		t.Errorf("packs show web-cve -o json: %+v", p)
	}
	out.Reset()
	if err := run(t.Context(), []string{"packs", "show", "whitelists"}, &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if want := "\nallowlist googlebot: off (off by default)\n  Googlebot and Google-InspectionTool (developers.google.com/search/apis/ipranges/googlebot.json)\n  never banned: 66.249.64.0/19, 2001:4860:4801::/48\n"; !strings.Contains(out.String(), want) {
		t.Errorf("packs show whitelists: no %q in\n%s", want, out.String())
	}
	err := run(t.Context(), []string{"packs", "show", "web-cev"}, &bytes.Buffer{}, &bytes.Buffer{})
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), `no pack "web-cev"; did you mean web-cve?`) {
		t.Errorf("packs show web-cev: %v", err)
	}
}
