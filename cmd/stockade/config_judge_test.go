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

// judgeLog is a mail log whose two clients each fail one SASL login with
// a name on postfix-honeypot-users' list: a rule off by default, so the
// built-in packs as shipped ban nobody for it.
const judgeLog = `Nov  8 23:00:00 mail postfix/smtps/smtpd[7001]: warning: unknown[203.0.113.60]: SASL LOGIN authentication failed: (reason unavailable), sasl_username=admin@example.org
Nov  8 23:00:01 mail postfix/submission/smtpd[7002]: warning: unknown[203.0.113.61]: SASL PLAIN authentication failed: UGFzc3dvcmQ6, sasl_username=test
`

// writeJudgeFiles writes judgeLog and a daemon configuration with body
// (and a source, which a daemon's configuration needs) into a temporary
// directory; it returns their paths.
func writeJudgeFiles(t *testing.T, body string) (cfg, log string) {
	dir := t.TempDir()
	cfg, log = filepath.Join(dir, "stockade.yaml"), filepath.Join(dir, "mail.log")
	if err := os.WriteFile(cfg, []byte("sources: [{files: [/var/log/mail.log]}]\n"+body), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(log, []byte(judgeLog), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfg, log
}

// bannedTargets is the targets of the ban decisions of replay's output.
func bannedTargets(t *testing.T, out []byte) []string {
	var targets []string
	for _, l := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		var d struct{ Action, Target, Rule string }
		if err := json.Unmarshal(l, &d); err != nil {
			t.Fatalf("replay output: %v: %s", err, l)
		}
		if d.Action == "ban" {
			targets = append(targets, d.Target+" "+d.Rule)
		}
	}
	return targets
}

// TestReplayConfig: replay --config judges with the daemon's packs:
// (an off-by-default rule it enables bans), allow: and fleet: (never
// banned), and tz:; --allow adds to them, --rules replaces rules: with
// the selection still applied; a packs: name no pack has is refused at
// its line and column, exit 2.
func TestReplayConfig(t *testing.T) {
	cfg, log := writeJudgeFiles(t, "tz: UTC\nallow: [192.0.2.0/24]\nfleet: [203.0.113.60]\npacks: {enable: [postfix-honeypot-users]}\n")
	replay := func(args ...string) ([]string, error) {
		var out, errb bytes.Buffer
		err := run(t.Context(), append([]string{"replay", "--quiet", "--workers", "1"}, args...), &out, &errb)
		if err != nil {
			return nil, err
		}
		return bannedTargets(t, out.Bytes()), nil
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"built-in packs as shipped", []string{"--tz", "UTC", log}, ""},
		{"the daemon's packs:, fleet: spared", []string{"--config", cfg, log}, "203.0.113.61 postfix-honeypot-users"},
		{"--allow adds to allow:", []string{"--config", cfg, "--allow", "203.0.113.61", log}, ""},
		{"--rules replaces rules:, packs: applies", []string{"--config", cfg, "--rules", "default", log}, "203.0.113.61 postfix-honeypot-users"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := replay(tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, ",") != tc.want {
				t.Errorf("replay %v: banned %q, want %q", tc.args, got, tc.want)
			}
		})
	}

	// The decisions carry the configuration's origin, and its time zone
	// dates the syslog lines.
	originCfg, _ := writeJudgeFiles(t, "origin: mx1\ntz: Europe/Paris\npacks: {enable: [postfix-honeypot-users]}\n")
	var out bytes.Buffer
	if err := run(t.Context(), []string{"replay", "--quiet", "--config", originCfg, log}, &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"origin":"mx1"`) || !strings.Contains(out.String(), `-11-08T23:00:00+01:00"`) {
		t.Errorf("replay --config: want origin mx1 and 23:00 Paris time (+01:00) in\n%s", out.String())
	}

	bad, _ := writeJudgeFiles(t, "packs:\n  enable: [postfix-honeypot-user]\n")
	_, err := replay("--config", bad, log)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), bad+`:3:12: packs.enable: no pack, rule or allowlist "postfix-honeypot-user" in the packs loaded; did you mean postfix-honeypot-users?`) {
		t.Errorf("replay --config with a bad packs: name: %v, want exit 2 at its line and column", err)
	}
	broken, _ := writeJudgeFiles(t, "max_windows: many\n")
	if _, err := replay("--config", broken, log); !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), broken+":2:") {
		t.Errorf("replay --config with a bad key: %v, want exit 2 at its line", err)
	}
}

// TestExplainConfig: explain --config shows the rules the daemon's
// packs: turns on and off, and its allowlist.
func TestExplainConfig(t *testing.T) {
	cfg, log := writeJudgeFiles(t, "allow: [203.0.113.60]\npacks: {enable: [postfix-honeypot-users], disable: [postfix-reject]}\n")
	var out bytes.Buffer
	if err := run(t.Context(), []string{"explain", "--config", cfg, log}, &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"postfix-honeypot-users: hit (regex #1) 203.0.113.60: allowlisted\n",
		"postfix-honeypot-users: hit (regex #1) 203.0.113.61: BAN for 4h (offense 1)\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("explain --config: no %q in\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "postfix-reject") {
		t.Errorf("explain --config: postfix-reject is disabled by the configuration, yet shown:\n%s", out.String())
	}
}

// TestTestConfig: test --config runs the tests of the configuration's
// packs, skips a pack its packs: runs no rule of (and says so in -o
// json), and refuses a packs: name no pack has at its position.
func TestTestConfig(t *testing.T) {
	cfg, _ := writeJudgeFiles(t, "packs: {disable: [web-cve]}\n")
	var out bytes.Buffer
	if err := run(t.Context(), []string{"test", "--config", cfg}, &out, &bytes.Buffer{}); err != nil {
		t.Fatalf("test --config: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "skip web-cve: no rule runs with "+cfg+" (disabled by config)\n") || strings.Contains(out.String(), "ok   web-cve/") {
		t.Errorf("test --config: web-cve not skipped:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "ok   postfix/") {
		t.Errorf("test --config: postfix's tests did not run:\n%s", out.String())
	}
	var js bytes.Buffer
	if err := run(t.Context(), []string{"test", "--config", cfg, "-o", "json"}, &js, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	var rep testReport
	if err := json.Unmarshal(js.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	skipped := 0
	for _, p := range rep.Packs {
		if p.Skipped != "" {
			skipped++
			if p.Pack != "web-cve" || len(p.Tests) != 0 {
				t.Errorf("test --config -o json: skipped %+v", p)
			}
		}
	}
	if skipped != 1 || !rep.OK {
		t.Errorf("test --config -o json: %d packs skipped, ok %v", skipped, rep.OK)
	}

	bad, _ := writeJudgeFiles(t, "packs: [sshd, nosuch]\n")
	err := run(t.Context(), []string{"test", "--config", bad}, &bytes.Buffer{}, &bytes.Buffer{})
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), bad+`:2:15: packs: no pack, rule or allowlist "nosuch"`) {
		t.Errorf("test --config with a bad packs: name: %v, want exit 2 at its position", err)
	}
}
