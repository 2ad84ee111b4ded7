package jailconf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stockade-ids/stockade/internal/testcorpus"
	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/rules"
)

// corpusConf lays fail2ban's own configuration (linked, not copied) in a
// directory of the test's, with a jail.local of the test's.
func corpusConf(t testing.TB, jailLocal string) string {
	t.Helper()
	src := testcorpus.Path(t, "fail2ban__fail2ban/config")
	dir := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := os.Symlink(filepath.Join(src, e.Name()), filepath.Join(dir, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "jail.local"), []byte(jailLocal), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestImportEveryCorpusJail enables every jail of fail2ban's jail.conf:
// each is read, and the pack made of them loads.
func TestImportEveryCorpusJail(t *testing.T) {
	dir := corpusConf(t, "[DEFAULT]\nenabled = true\n")
	d := Open(dir)
	jails, err := d.Jails()
	if err != nil {
		t.Fatal(err)
	}
	data, err := PackYAML(d, jails)
	if err != nil {
		t.Fatal(err)
	}
	p, err := rules.Parse("corpus.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	if len(jails) < 50 || len(p.Rules) != len(jails) {
		t.Fatalf("%d jails, %d rules", len(jails), len(p.Rules))
	}
	kinds := map[string]int{}
	for _, r := range p.Rules {
		fail, _, _ := r.RegexEngines()
		for _, k := range fail {
			kinds[k]++
		}
	}
	t.Logf("%d jails imported; failregexes by engine: %v", len(jails), kinds)
	if kinds["re2"] < 2*kinds["regexp2"] {
		t.Errorf("failregexes by engine %v: most should run on RE2", kinds)
	}
}

// BenchmarkSshdFilter judges auth.log lines with fail2ban's sshd filter
// (mode aggressive: every regex), imported from the corpus.
func BenchmarkSshdFilter(b *testing.B) {
	dir := corpusConf(b, "[sshd]\nenabled = true\nbackend = auto\nmode = aggressive\n")
	_, p, err := Load(dir)
	if err != nil {
		b.Fatal(err)
	}
	ps := []*rules.Pack{p}
	set, err := rules.NewSet(ps...)
	if err != nil {
		b.Fatal(err)
	}
	lines := []string{
		"Nov  8 22:00:01 web1 sshd[4198]: Failed password for root from 203.0.113.10 port 41000 ssh2",
		"Nov  8 22:00:02 web1 sshd[4199]: Connection closed by 198.51.100.7 port 5555 [preauth]",
		"Nov  8 22:00:03 web1 sshd[4200]: Accepted publickey for deploy from 192.0.2.4 port 2222 ssh2: ED25519 SHA256:abc",
		"Nov  8 22:00:04 web1 sshd[4201]: pam_unix(sshd:session): session opened for user deploy by (uid=0)",
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		ev := pipeline.Event{Format: pipeline.FormatSyslog, Source: "/var/log/auth.log", Line: lines[i%len(lines)]}
		set.Match(&ev, nil)
		i++
	}
	if !strings.Contains(ps[0].Rules[0].Policy.Name, "sshd") {
		b.Fatal(ps[0].Rules[0].Policy.Name)
	}
}
