package jailconf

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/rules"
)

// confTree is a small fail2ban configuration: testdata's files in their
// places, plus extra files.
func confTree(t testing.TB, extra map[string]string) string {
	t.Helper()
	files := map[string]string{}
	for dst, src := range map[string]string{"filter.d/common.conf": "common.conf", "filter.d/login.conf": "login.conf", "jail.conf": "jail.conf"} {
		b, err := os.ReadFile(filepath.Join("testdata", src))
		if err != nil {
			t.Fatal(err)
		}
		files[dst] = string(b)
	}
	for k, v := range extra {
		files[k] = v
	}
	return writeTree(t, files)
}

func TestFilterOptions(t *testing.T) {
	dir := confTree(t, map[string]string{
		"filter.d/common.local": "[DEFAULT]\n__hostname = \\w+\n",
	})
	d := Open(dir)
	cases := []struct {
		name    string
		opts    map[string]string
		fail    []string
		pref    string // a part of the prefregex
		dates   []string
		journal []string
	}{
		{"defaults from [Init]", nil,
			[]string{`^bad password for <F-USER>\S+</F-USER> from <HOST>$`, `^<F-NOFAIL>connection from</F-NOFAIL> <HOST>$`, `^too many failures%`},
			`(?:\w+\s+)?(?:(?:(?:\[\d+\])?:\s+[\[\(]?logind`, []string{"{^LN-BEG}"}, []string{"_SYSTEMD_UNIT=logind.service"}},
		{"mode given", map[string]string{"mode": "strict"},
			[]string{`^bad password for <F-USER>\S+</F-USER> from <HOST>$`, `^<F-NOFAIL>connection from</F-NOFAIL> <HOST>$`, `^closed by <ADDR>`, `^too many failures%`},
			"", []string{"{^LN-BEG}"}, nil},
		{"journal log type", map[string]string{"logtype": "journal"},
			nil, `^<F-MLFID>\s*(?:\w+\s+)?(?:logind(?:\[\d+\])?:?\s+)?</F-MLFID>`, []string{"{^LN-BEG}"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := d.Filter("login", c.opts)
			if err != nil {
				t.Fatal(err)
			}
			if c.fail != nil && !slices.Equal(f.FailRegex, c.fail) {
				t.Errorf("failregex\n%q\nwant\n%q", f.FailRegex, c.fail)
			}
			if c.pref != "" && !strings.Contains(f.PrefRegex, c.pref) {
				t.Errorf("prefregex %q lacks %q", f.PrefRegex, c.pref)
			}
			if !slices.Equal(f.DatePattern, c.dates) {
				t.Errorf("datepattern %q, want %q", f.DatePattern, c.dates)
			}
			if c.journal != nil && !slices.Equal(f.JournalMatch, c.journal) {
				t.Errorf("journalmatch %q, want %q", f.JournalMatch, c.journal)
			}
			if f.MaxLines != 1 {
				t.Errorf("maxlines %d", f.MaxLines)
			}
		})
	}
	// A .local adds to the failregex of the .conf through known/.
	dir = confTree(t, map[string]string{"filter.d/login.local": "[Definition]\nfailregex = %(known/failregex)s\n            ^locked out <HOST>$\n"})
	f, err := Open(dir).Filter("login", nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(f.FailRegex); n != 4 || f.FailRegex[3] != "^locked out <HOST>$" {
		t.Errorf("failregex with the .local: %q", f.FailRegex)
	}
	if _, err := Open(dir).Filter("nosuch", nil); err == nil || !strings.Contains(err.Error(), "no configuration files for filter.d/nosuch") {
		t.Errorf("a missing filter: %v", err)
	}
}

func TestJails(t *testing.T) {
	dir := confTree(t, map[string]string{
		"jail.local":       "[DEFAULT]\nbantime.maxtime = 1w\n\n[login]\nbantime.multipliers = 1 5 30\n",
		"jail.d/off.local": "[login-strict]\nmaxretry = 2\n\n[other]\nenabled = false\nfilter = nosuch\n",
	})
	d := Open(dir)
	jails, err := d.Jails()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*Jail{}
	for _, j := range jails {
		byName[j.Name] = j
	}
	checkJails(t, byName)
	data, err := PackYAML(d, jails)
	if err != nil {
		t.Fatal(err)
	}
	checkJailsPack(t, data)
}

// checkJails checks the jails of TestJails as read.
func checkJails(t *testing.T, byName map[string]*Jail) {
	t.Helper()
	login := byName["login"]
	if login == nil || !login.Enabled || login.MaxRetry != 3 || login.FindTime != 10*time.Minute || login.BanTime != 10*time.Minute {
		t.Fatalf("login: %+v", login)
	}
	if !login.Increment || login.Factor != 2 || !slices.Equal(login.Multiplier, []float64{1, 5, 30}) || login.MaxTime != 7*24*time.Hour {
		t.Errorf("login escalation: %+v", login)
	}
	if !slices.Equal(login.IgnoreIP, []string{"127.0.0.1/8", "::1", "192.0.2.0/24"}) {
		t.Errorf("ignoreip %q", login.IgnoreIP)
	}
	if login.FilterSpec != "login[mode=normal]" || login.Filter == nil || len(login.Filter.FailRegex) != 3 {
		t.Errorf("login filter %q %+v", login.FilterSpec, login.Filter)
	}
	if !slices.Equal(login.LogPath, []string{"/var/log/login.log"}) {
		t.Errorf("login logpath %q", login.LogPath)
	}
	strict := byName["login-strict"]
	if strict == nil || strict.MaxRetry != 2 || strict.BanTime != 90*time.Minute || len(strict.Filter.FailRegex) != 4 {
		t.Fatalf("login-strict: %+v", strict)
	}
	if !slices.Equal(strict.LogPath, []string{"/var/log/login.log", "/var/log/login-*.log"}) {
		t.Errorf("login-strict logpath %q", strict.LogPath)
	}
	if other := byName["other"]; other == nil || other.Enabled || other.Filter != nil {
		t.Errorf("a disabled jail's filter is not read: %+v", other)
	}
}

// checkJailsPack checks the pack TestJails's jails make.
func checkJailsPack(t *testing.T, data []byte) {
	t.Helper()
	p, err := rules.Parse("imported.yaml", data)
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	if len(p.Rules) != 2 || p.Rules[0].Policy.Name != "login" || p.Rules[0].Dialect() != "fail2ban" {
		t.Fatalf("rules %+v", p.Rules)
	}
	r := p.Rules[0]
	if r.Policy.Threshold != 3 || r.Policy.Window != 10*time.Minute || r.Policy.Ban != 10*time.Minute {
		t.Errorf("login counts %+v", r.Policy)
	}
	e := r.Policy.Escalate
	if e == nil || !slices.Equal(e.Multipliers, []float64{2, 10, 60}) || e.Max != 7*24*time.Hour || !e.PerRule {
		t.Errorf("login escalation %+v", e)
	}
	if !slices.Equal(r.Sources, []string{"/var/log/login.log", "login.log"}) {
		t.Errorf("login sources %q", r.Sources)
	}
	for _, want := range []string{"# jail [login] at jail.conf:13, filter login[mode=normal] (failregex at filter.d/login.conf:17)", "sessions (<F-MLFID>) are kept per log file"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("the pack lacks %q:\n%s", want, data)
		}
	}
	if strict := p.Rules[1]; strict.Policy.Escalate != nil {
		t.Errorf("a jail without bantime.increment does not escalate: %+v", strict.Policy.Escalate)
	}
}

func TestJailErrors(t *testing.T) {
	cases := []struct {
		name  string
		local string
		want  string
	}{
		{"bad maxretry", "[login]\nmaxretry = many\n", "jail.local:2:1: jail login: maxretry: want a number of failures"},
		{"bad bantime", "[login]\nbantime = soon\n", "jail.local:2:1: jail login: bantime: bad time"},
		{"bad enabled", "[login]\nenabled = perhaps\n", "jail.local:2:1: jail login: enabled: want true or false"},
		{"missing filter", "[login]\nfilter = nosuch\n", "jail.local:2:1: jail login: filter nosuch: no configuration files"},
		{"bad interpolation", "[login]\nlogpath = %(nope)s\n", "jail.local:2:1: option \"logpath\" in [login]: %(nope)s refers to an option that is not defined"},
		{"syntax", "[login]\nno delimiter here\n", "jail.local:2:1: not an option"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := confTree(t, map[string]string{"jail.local": c.local})
			_, err := Import(dir)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
		})
	}
}
