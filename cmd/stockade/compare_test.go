package main

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stockade-ids/stockade/backtest"
	"github.com/stockade-ids/stockade/rules"
)

// tighterPacks writes the built-in packs to a directory with sshd banning
// at 3 attempts for 1h (instead of 5 for 10m).
func tighterPacks(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	err := fs.WalkDir(rules.DefaultFS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(rules.DefaultFS(), p)
		if err != nil {
			return err
		}
		if filepath.Base(p) == "sshd.yaml" {
			s := string(b)
			i := strings.Index(s, "  - name: sshd\n")
			j := i + strings.Index(s[i:], "    threshold: 5\n")
			k := i + strings.Index(s[i:], "    ban: 10m\n")
			if i < 0 || j < i || k < i {
				t.Fatalf("sshd.yaml no longer reads threshold: 5, ban: 10m")
			}
			s = s[:j] + "    threshold: 3\n" + s[j+len("    threshold: 5\n"):]
			k = i + strings.Index(s[i:], "    ban: 10m\n")
			b = []byte(s[:k] + "    ban: 1h\n" + s[k+len("    ban: 10m\n"):])
		}
		return os.WriteFile(filepath.Join(dir, filepath.Base(p)), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestReplayCompare: replay --compare over the sample logs names the three
// addresses only the tighter sshd bans (203.0.113.13's four attempts and
// an authenticating user's close: no ban by default) and the sshd bans that came sooner
// and longer; comparing a pack set with itself finds no difference; the
// report is written beside it.
func TestReplayCompare(t *testing.T) {
	mine := tighterPacks(t)
	html := filepath.Join(t.TempDir(), "r.html")
	var stdout, stderr bytes.Buffer
	args := append([]string{"replay", "--compare", "-o", "json", "--report", html, "--allow", "10.0.0.0/8", "default", mine}, corpusPaths()...)
	if err := run(t.Context(), args, &stdout, &stderr); err != nil {
		t.Fatalf("replay --compare: %v\n%s", err, stderr.String())
	}
	var d backtest.Diff
	if err := json.Unmarshal(stdout.Bytes(), &d); err != nil {
		t.Fatalf("-o json: %v\n%s", err, stdout.String())
	}
	var onlyNew []string
	for _, o := range d.OnlyNew {
		if o.Bans[0].Rule != "sshd" || o.Bans[0].Duration != 3600 || len(o.Bans[0].Evidence) != 3 {
			t.Errorf("only new %s: %+v, want sshd for 1h with 3 lines of evidence", o.Target, o.Bans[0])
		}
		onlyNew = append(onlyNew, o.Target)
	}
	if strings.Join(onlyNew, " ") != "198.51.100.30 203.0.113.13 192.0.2.51" || len(d.OnlyOld) != 0 {
		t.Errorf("only new %v, only old %+v; want 198.51.100.30 203.0.113.13 192.0.2.51 and none", onlyNew, d.OnlyOld)
	}
	if len(d.Changed) != 5 || d.Changed[0].Target != "203.0.113.10" || d.Changed[0].What[0] != "bans 2 → 1" {
		t.Errorf("changed: %+v", d.Changed)
	}
	for _, r := range d.Rules {
		if r.Rule == "sshd" && (r.OldBans != 6 || r.NewBans != 8 || r.OldMatches != r.NewMatches) {
			t.Errorf("sshd counts: %+v", r)
		}
	}
	page, err := os.ReadFile(html)
	if err != nil || !bytes.Contains(page, []byte(`<table class="only" data-side="new">`)) {
		t.Errorf("report: %v, %d bytes", err, len(page))
	}

	stdout.Reset()
	args = append([]string{"replay", "--compare", "--allow", "10.0.0.0/8", "default", "default"}, corpusPaths()...)
	if err := run(t.Context(), args, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(stdout.String(), "\n0 only by old, 0 only by new, 0 changed\n") {
		t.Errorf("default against itself:\n%s", stdout.String())
	}
}

// TestReplayReport: --report leaves a plain replay's decisions as they
// were and draws as many bars' worth of bans as it decided.
func TestReplayReport(t *testing.T) {
	plain, _, err := replay(t, append([]string{"--workers", "2", "--allow", "10.0.0.0/8"}, corpusPaths()...)...)
	if err != nil {
		t.Fatal(err)
	}
	html := filepath.Join(t.TempDir(), "r.html")
	with, _, err := replay(t, append([]string{"--workers", "2", "--report", html, "--allow", "10.0.0.0/8"}, corpusPaths()...)...)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(plain)
	b, _ := json.Marshal(with)
	if !bytes.Equal(a, b) {
		t.Error("--report changed the decisions")
	}
	page, err := os.ReadFile(html)
	if err != nil {
		t.Fatal(err)
	}
	bans := 0
	for _, d := range plain {
		if d.Action == "ban" {
			bans++
		}
	}
	if want := []byte(`<b id="bans-replay">` + strconv.Itoa(bans) + `</b>`); !bytes.Contains(page, want) {
		t.Errorf("the report does not say %s", want)
	}
}
