package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheck: `stockade check` and `stockade run -t` exit 0 on a clean
// configuration, the daemon's or the enforcer's, and 2 with every
// problem at file:line:col on a bad one; they start nothing.
func TestCheck(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", "sources: [{files: [/var/log/auth.log]}]\nsinks: [{nftables: {}}]\n")
	bad := write("bad.yaml", "metrcs: x\nsources: [{files: [/var/log/auth.log]}]\nsinks:\n  - exec: {ban: [/bin/true], timeout: 10x}\n")
	enf := filepath.Join("..", "..", "deploy", "enforce.yaml")
	badPack := write("pack.yaml", "pack: p\nrules:\n  - name: r\n    colour: red\n")
	packs := write("packs.yaml", "rules: ["+badPack+"]\nsources: [{files: [/x]}]\n")
	badNames := write("names.yaml", "sources: [{files: [/x]}]\npacks: {disable: [web-cev]}\n")
	for _, tc := range []struct {
		name string
		args []string
		code int
		out  []string // in stdout, or stderr for a refusal
	}{
		{"clean", []string{"check", "--config", good}, 0, []string{good + ": ok (daemon configuration, 1 source(s), 1 sink(s))"}},
		{"positional", []string{"check", good}, 0, []string{"ok"}},
		{"run -t", []string{"run", "-t", "--config", good}, 0, []string{"ok"}},
		{"enforcer detected", []string{"check", enf}, 0, []string{"ok (enforcer configuration, nats bus"}},
		{"refused", []string{"check", "--config", bad}, 2, []string{
			bad + ":1:1: metrcs: unknown key; did you mean metrics?",
			bad + `:4:39: sinks[0].exec.timeout: bad duration "10x" (use 90s, 10m, 1h, 7d, 1w)`}},
		{"run -t refused", []string{"run", "-t", "--config", bad}, 2, []string{"metrcs: unknown key"}},
		{"a pack's errors", []string{"check", packs}, 2, []string{badPack + ":4:5: unknown key \"colour\" in rule"}},
		{"a packs: name no pack has", []string{"check", badNames}, 2, []string{badNames + `:2:19: packs.disable: no pack, rule or allowlist "web-cev" in the packs loaded; did you mean web-cve?`}},
		{"read as the other kind", []string{"check", "--as", "run", enf}, 2, []string{"policy: unknown key"}},
		{"missing", []string{"check", filepath.Join(dir, "none.yaml")}, 2, []string{"no such file"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tc.args, &stdout, &stderr)
			code := 0
			if err != nil {
				code = 1
				var ee *exitError
				if errors.As(err, &ee) {
					code = ee.code
				}
				stderr.WriteString(err.Error())
			}
			if code != tc.code {
				t.Fatalf("exit %d, want %d: %s%s", code, tc.code, stdout.String(), stderr.String())
			}
			got := stdout.String()
			if code != 0 {
				got = stderr.String()
			}
			for _, w := range tc.out {
				if !strings.Contains(got, w) {
					t.Errorf("%q not in\n%s", w, got)
				}
			}
		})
	}
}

// TestCheckWarnsOfUnpartitionedSubject: a NATS sink whose subject lacks
// {target} beside nats_server's partitions passes the check (exit 0) with
// a warning at its position on stderr.
func TestCheckWarnsOfUnpartitionedSubject(t *testing.T) {
	p := filepath.Join(t.TempDir(), "hub.yaml")
	cfg := "nats_server: {listen: 127.0.0.1:4222, partitions: 3}\nsources: [{files: [/var/log/auth.log]}]\nsinks:\n  - nats: {url: nats://127.0.0.1:4222}\n"
	if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"check", p}, &stdout, &stderr); err != nil {
		t.Fatalf("check: %v\n%s", err, stderr.String())
	}
	want := "warning: " + p + `:4:5: sinks[0].nats.subject: "stockade.decisions.{origin}.{rule}" is not of the form stockade.decisions.<origin>.<rule>.<target>; with 3 partitions its decisions are not mapped to any partition: no partitioned correlator reads them (use stockade.decisions.{origin}.{rule}.{target})`
	if !strings.Contains(stderr.String(), want) || !strings.Contains(stdout.String(), "ok") {
		t.Fatalf("stdout %q\nstderr %q\nwant the warning %q", stdout.String(), stderr.String(), want)
	}
}
