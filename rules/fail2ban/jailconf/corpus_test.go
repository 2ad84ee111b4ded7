package jailconf

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

// corpusPack reads the jails fail2ban's own configuration enables with
// jailLocal (see corpusConf) and the pack PackYAML makes of them.
func corpusPack(t testing.TB, jailLocal string) ([]*Jail, []byte) {
	t.Helper()
	d := Open(corpusConf(t, jailLocal))
	jails, err := d.Jails()
	if err != nil {
		t.Fatal(err)
	}
	data, err := PackYAML(d, jails)
	if err != nil {
		t.Fatal(err)
	}
	return jails, data
}

// TestImportEveryCorpusJail enables every jail of fail2ban's jail.conf:
// each is read, and the pack made of them loads.
func TestImportEveryCorpusJail(t *testing.T) {
	jails, data := corpusPack(t, "[DEFAULT]\nenabled = true\n")
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

// BenchmarkSshdAuthLog judges an auth.log's mix of lines (as the bench
// harness writes it: a fifth cron, a tenth each sudo, logind, sessions,
// disconnects, half of sshd's lines failures) with fail2ban's sshd jail
// in its default mode, each line dated as the syslog parser dates it:
// the cost per line of an imported jail.
func BenchmarkSshdAuthLog(b *testing.B) {
	dir := corpusConf(b, "[sshd]\nenabled = true\nbackend = auto\n")
	_, p, err := Load(dir)
	if err != nil {
		b.Fatal(err)
	}
	set, err := rules.NewSet(p)
	if err != nil {
		b.Fatal(err)
	}
	kinds := []string{
		"CRON[%d]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)",
		"CRON[%d]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)",
		"sshd[%d]: Failed password for root from 203.0.%d.7 port 5022 ssh2",
		"sudo[%d]: deploy : TTY=pts/0 ; PWD=/home/deploy ; USER=root ; COMMAND=/usr/bin/true",
		"sshd[%d]: pam_unix(sshd:session): session closed for user deploy",
		"sshd[%d]: Invalid user oracle from 203.0.%d.9 port 10257",
		"systemd-logind[%d]: New session 81239 of user deploy.",
		"sshd[%d]: Received disconnect from 192.0.2.%d port 52456:11: disconnected by user",
		"sshd[%d]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.%d.5  user=root",
		"sshd[%d]: Accepted publickey for deploy from 192.0.2.%d port 17810 ssh2: ED25519 SHA256:q1w2e3r4",
		"sshd[%d]: Failed password for git from 203.0.%d.8 port 6269 ssh2",
		"sshd[%d]: Connection closed by invalid user git 203.0.%d.3 port 17384 [preauth]",
	}
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var lines []string
	for i := range 1200 {
		k := kinds[i%len(kinds)]
		msg := fmt.Sprintf(k, 1000+i, i%250)
		if strings.Count(k, "%d") == 1 {
			msg = fmt.Sprintf(k, 1000+i)
		}
		lines = append(lines, at.Add(time.Duration(i/40)*time.Second).Format(time.Stamp)+" web1 "+msg)
	}
	var ev pipeline.Event
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		line := lines[i%len(lines)]
		ev = pipeline.Event{Format: pipeline.FormatSyslog, Source: "/var/log/auth.log", Line: line, Time: at.Add(time.Duration(i%len(lines)/40) * time.Second)}
		set.Match(&ev, nil)
		i++
	}
}
