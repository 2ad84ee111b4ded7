package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stockade-ids/stockade/internal/testcorpus"
	"github.com/stockade-ids/stockade/rules"
)

// f2bConf writes a small fail2ban configuration: one filter in fail2ban's
// style (a prefregex with a session, tags, an [Init] mode) and a jail.
func f2bConf(t *testing.T, jailLocal string) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"filter.d/common.conf": "[DEFAULT]\n__prefix_line = \\s*(?:\\S+\\s+)?(?:<_daemon>(?:\\[\\d+\\])?:\\s+)?\n",
		"filter.d/gate.conf": `[INCLUDES]
before = common.conf

[DEFAULT]
_daemon = gated

[Definition]
prefregex = ^<F-MLFID>%(__prefix_line)s</F-MLFID><F-CONTENT>.+</F-CONTENT>$
failregex = ^denied <F-USER>\S+</F-USER> from <HOST>$
            <extra-<mode>>
extra-normal =
extra-strict = ^probe from <HOST>$
datepattern = {^LN-BEG}

[Init]
mode = normal
`,
		"jail.conf":  "[DEFAULT]\nenabled = false\nmaxretry = 3\nfindtime = 10m\nbantime = 1h\nmode = normal\nfilter = %(__name__)s[mode=%(mode)s]\n\n[gate]\nlogpath = /var/log/gate.log\n",
		"jail.local": jailLocal,
	}
	for p, c := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestImportFail2ban(t *testing.T) {
	dir := f2bConf(t, "[gate]\nenabled = true\nmode = strict\n")
	var stdout, stderr bytes.Buffer
	if err := run(t.Context(), []string{"import", "fail2ban", dir}, &stdout, &stderr); err != nil {
		t.Fatalf("import: %v\n%s", err, stderr.String())
	}
	p, err := rules.Parse("imported.yaml", stdout.Bytes())
	if err != nil {
		t.Fatalf("the imported pack does not load: %v\n%s", err, stdout.String())
	}
	if len(p.Rules) != 1 || p.Rules[0].Policy.Name != "gate" || len(p.Rules[0].FailRegexes()) != 2 {
		t.Fatalf("rules: %+v\n%s", p.Rules, stdout.String())
	}
	for _, want := range []string{"# jail [gate] at jail.conf:9, filter gate[mode=strict]", "dialect: fail2ban", "- gate.log"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("the pack lacks %q:\n%s", want, stdout.String())
		}
	}
	if !strings.Contains(stderr.String(), "imported 1 jail(s)") {
		t.Errorf("stderr: %s", stderr.String())
	}

	// Replayed directly from the fail2ban directory, by name or detected,
	// the jail bans at its maxretry.
	logs := t.TempDir()
	log := filepath.Join(logs, "gate.log")
	lines := "Nov  8 22:00:01 web1 gated[7]: denied root from 203.0.113.50\n" +
		"Nov  8 22:00:02 web1 gated[7]: probe from 203.0.113.50\n" +
		"Nov  8 22:00:03 web1 other[8]: denied root from 203.0.113.50\n" +
		"Nov  8 22:00:04 web1 gated[9]: denied admin from 203.0.113.50\n" +
		"Nov  8 22:00:05 web1 gated[10]: denied admin from gate.example.org\n"
	if err := os.WriteFile(log, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, spec := range []string{"fail2ban:" + dir, dir} {
		ds, summary, err := replay(t, "--rules", spec, "--tz", "UTC", log)
		if err != nil {
			t.Fatalf("replay --rules %s: %v\n%s", spec, err, summary)
		}
		if len(ds) != 1 || ds[0].Target.String() != "203.0.113.50" || ds[0].Rule != "gate" || ds[0].Duration != 3600 {
			t.Fatalf("replay --rules %s: %+v\n%s", spec, ds, summary)
		}
		if !strings.Contains(summary, "gate: 1 line(s) matched but not counted: host name (no DNS lookup)") {
			t.Errorf("the summary does not count the host name:\n%s", summary)
		}
	}

	stdout.Reset()
	if err := run(t.Context(), []string{"lint", "--rules", "fail2ban:" + dir}, &stdout, &stderr); err != nil {
		t.Fatalf("lint: %v", err)
	}
	if !strings.Contains(stdout.String(), "rule gate (dialect fail2ban): prefregex on re2, failregex #1-2 re2") {
		t.Errorf("lint does not say which engine runs the regexes:\n%s", stdout.String())
	}
}

func TestImportRefusesBadConfig(t *testing.T) {
	cases := []struct {
		name, local, want string
	}{
		{"bad option", "[gate]\nenabled = true\nmaxretry = lots\n", "jail.local:3:1: jail gate: maxretry"},
		{"bad regex", "[gate]\nenabled = true\nfailregex = ^x(?<=a+) <HOST>\n", "failregex: bad regex: look-behind requires fixed-width pattern"},
		{"no enabled jail", "[gate]\nenabled = false\n", "no enabled jail"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := f2bConf(t, c.local)
			var stdout, stderr bytes.Buffer
			err := run(t.Context(), []string{"import", "fail2ban", dir}, &stdout, &stderr)
			var ee *exitError
			if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want exit 2 with %q", err, c.want)
			}
			if stdout.Len() > 0 {
				t.Errorf("a refused import printed a pack:\n%s", stdout.String())
			}
		})
	}
	var stdout, stderr bytes.Buffer
	if err := run(t.Context(), []string{"import", "nginx", "x"}, &stdout, &stderr); err == nil {
		t.Error("import of something else than fail2ban was accepted")
	}
}

// TestReplayFail2banErrorLogs: fail2ban's own nginx-http-auth and
// apache-auth jails, read from its stock configuration, judge nginx's and
// Apache's error logs (the plain format: a timestamp, then anything) and
// ban at maxretry, the way fail2ban would.
func TestReplayFail2banErrorLogs(t *testing.T) {
	stock := testcorpus.Path(t, "fail2ban__fail2ban/config")
	dir := t.TempDir()
	conf := filepath.Join(dir, "fail2ban")
	if err := os.CopyFS(conf, os.DirFS(stock)); err != nil {
		t.Fatal(err)
	}
	nginxLog, apacheLog := filepath.Join(dir, "error.log"), filepath.Join(dir, "apache_error.log")
	os.WriteFile(filepath.Join(conf, "jail.local"), []byte(fmt.Sprintf(
		"[nginx-http-auth]\nenabled = true\nlogpath = %s\n\n[apache-auth]\nenabled = true\nlogpath = %s\n", nginxLog, apacheLog)), 0o644)
	var ngx, apache strings.Builder
	for i := range 6 {
		fmt.Fprintf(&ngx, "2025/11/08 22:00:0%d [error] 4242#4242: *%d user \"admin\": password mismatch, client: 203.0.113.7, server: example.com, request: \"GET /admin HTTP/1.1\", host: \"example.com\"\n", i, i)
		fmt.Fprintf(&apache, "[Sat Nov 08 22:00:0%d.123456 2025] [auth_basic:error] [pid 4242] [client 198.51.100.8:5000%d] AH01618: user admin not found: /private\n", i, i)
	}
	// An address that fails less often than maxretry is not banned.
	fmt.Fprintf(&ngx, "2025/11/08 22:00:09 [error] 4242#4242: *9 user \"bob\": password mismatch, client: 203.0.113.99, server: example.com, request: \"GET / HTTP/1.1\", host: \"example.com\"\n")
	os.WriteFile(nginxLog, []byte(ngx.String()), 0o644)
	os.WriteFile(apacheLog, []byte(apache.String()), 0o644)
	ds, summary, err := replay(t, "--tz", "UTC", "--rules", "fail2ban:"+conf, nginxLog, apacheLog)
	if err != nil {
		t.Fatal(err, summary)
	}
	got := map[string]string{}
	for _, d := range ds {
		got[d.Target.String()] = d.Rule
	}
	if len(ds) != 2 || got["203.0.113.7"] != "nginx-http-auth" || got["198.51.100.8"] != "apache-auth" {
		t.Fatalf("decisions %+v\n%s", ds, summary)
	}
	if !strings.Contains(summary, "plain") {
		t.Errorf("the error logs were not read as plain lines:\n%s", summary)
	}
}
