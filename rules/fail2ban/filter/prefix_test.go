package filter

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/rules/fail2ban/datepattern"
	"github.com/stockade-ids/stockade/rules/fail2ban/pyre"
	"github.com/stockade-ids/stockade/rules/regex"
)

// headerLine is __prefix_line with sshd as its daemon.
const headerLine = prefixHead + "sshd" + prefixMid + "sshd" + prefixEnd

// prefixPrefs are prefregexes that start with the prefix line, the ways
// fail2ban's filters write them: in <F-MLFID> or not, then the content
// after optional words, after a word, or after groups of their own.
var prefixPrefs = []string{
	"^<F-MLFID>" + headerLine + "</F-MLFID>(?:(?:error|fatal): (?:PAM: )?)?<F-CONTENT>.+</F-CONTENT>$",
	"^" + headerLine + "<F-CONTENT>.+</F-CONTENT>$",
	"^" + headerLine + "FAIL: <F-CONTENT>.+</F-CONTENT>$",
	"^<F-MLFID>" + headerLine + `</F-MLFID>conn=<F-ID>\d+</F-ID>(?: op=\d+)? <F-CONTENT>.+</F-CONTENT>$`,
	"^" + headerLine + `<F-CONTENT>.*?</F-CONTENT>\s*$`,
	"^" + headerLine + `(?:[^:\]]+\]: )?<F-CONTENT>.+</F-CONTENT>$`,
	"^<F-MLFID>" + sessionLine + "</F-MLFID>(?:(?:error|fatal): (?:PAM: )?)?<F-CONTENT>.+</F-CONTENT>$",
	"^<F-MLFID>" + lazyLine + "</F-MLFID><F-CONTENT>.+</F-CONTENT>$",
	// lt_short's (logtype journal).
	"^<F-MLFID>" + shortLine + "</F-MLFID>(?:(?:error|fatal): (?:PAM: )?)?<F-CONTENT>.+</F-CONTENT>$",
	"^" + shortLine + `(?:[^:\]]+\]: )?<F-CONTENT>.+</F-CONTENT>$`,
	"^<F-MLFID>" + shortHead + "sshd(?:-session)?" + shortEnd + "</F-MLFID><F-CONTENT>.+</F-CONTENT>$",
}

// shortLine is lt_short's __prefix_line with sshd as its daemon.
const shortLine = shortHead + "sshd" + shortEnd

// sessionLine and lazyLine have a daemon of two spellings, tried longest
// first, and shortest first.
const (
	sessionLine = prefixHead + "sshd(?:-session)?" + prefixMid + "sshd(?:-session)?" + prefixEnd
	lazyLine    = prefixHead + "sshd(?:-session)??" + prefixMid + "sshd(?:-session)??" + prefixEnd
)

func compilePref(t testing.TB, src string) *regex.Regex {
	t.Helper()
	re, err := Compile(src, "no", true)
	if err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	return re
}

// TestPrefixLineOf: the prefix line is recognised with a word for its
// daemon and a tail that can be run apart; anything else is left to the
// prefregex.
func TestPrefixLineOf(t *testing.T) {
	for i, src := range prefixPrefs {
		p := prefixLineOf(compilePref(t, src))
		if p == nil {
			t.Fatalf("prefregex %d not recognised", i)
		}
		if wantOpts := i < 3 || i > 5 && i != 9; (p.opts != nil) != wantOpts || i < 6 && !slices.Equal(p.daemons, []string{"sshd"}) || p.short != (i >= 8) {
			t.Errorf("prefregex %d: daemons %q, opts %q, tail %v, short %v", i, p.daemons, p.opts, p.tail, p.short)
		}
	}
	if p := prefixLineOf(compilePref(t, prefixPrefs[0])); !slices.Equal(p.opts, []string{"error: PAM: ", "error: ", "fatal: PAM: ", "fatal: ", ""}) || !p.mlfid {
		t.Errorf("sshd's optional words: %q, mlfid %v", p.opts, p.mlfid)
	}
	line := func(daemon string) string { return prefixHead + daemon + prefixMid + daemon + prefixEnd }
	for daemon, want := range map[string][]string{
		"(?:sshd|dropbear)":  {"sshd", "dropbear"},
		"sshd(?:-session)?":  {"sshd-session", "sshd"},
		"sshd(?:-session)??": {"sshd", "sshd-session"},
	} {
		p := prefixLineOf(compilePref(t, "^"+line(daemon)+"<F-CONTENT>.+</F-CONTENT>$"))
		if p == nil || !slices.Equal(p.daemons, want) {
			t.Errorf("daemon %s: %+v, want spellings %q", daemon, p, want)
		}
	}
	refused := map[string]string{
		"daemon as a class":     "^" + line(`\S*`) + "<F-CONTENT>.+</F-CONTENT>$",
		"daemon of a class":     "^" + line("sshd[a-z]?") + "<F-CONTENT>.+</F-CONTENT>$",
		"daemon maybe none":     "^" + line("(?:sshd)?") + "<F-CONTENT>.+</F-CONTENT>$",
		"two daemons":           "^" + prefixHead + "sshd" + prefixMid + "dropbear" + prefixEnd + "<F-CONTENT>.+</F-CONTENT>$",
		"not anchored":          line("sshd") + "<F-CONTENT>.+</F-CONTENT>$",
		"a word boundary":       "^" + headerLine + `\bx<F-CONTENT>.+</F-CONTENT>$`,
		"a look-behind":         "^" + headerLine + `(?<=: )<F-CONTENT>.+</F-CONTENT>$`,
		"a host tag":            "^" + headerLine + `<HOST> <F-CONTENT>.+</F-CONTENT>$`,
		"a back reference":      "^" + headerLine + `(?P<x>a)(?P=x)<F-CONTENT>.+</F-CONTENT>$`,
		"a numbered reference":  "^<F-MLFID>" + headerLine + `</F-MLFID>(a)\2<F-CONTENT>.+</F-CONTENT>$`,
		"a condition":           "^<F-MLFID>" + headerLine + `</F-MLFID>(a)?(?(2)b|c)<F-CONTENT>.+</F-CONTENT>$`,
		"a start anchor":        "^" + headerLine + `^<F-CONTENT>.+</F-CONTENT>$`,
		"a start of text":       "^" + headerLine + `\A<F-CONTENT>.+</F-CONTENT>$`,
		"another header":        `^\s*(?:\S+\s+)?<F-CONTENT>.+</F-CONTENT>$`,
		"short, daemon a class": "^" + shortHead + `\S*` + shortEnd + "<F-CONTENT>.+</F-CONTENT>$",
		"short, daemon none":    "^" + shortHead + "(?:sshd)?" + shortEnd + "<F-CONTENT>.+</F-CONTENT>$",
		"short, no kernel":      "^" + shortHead + "sshd" + `(?:\[\d+\])?:?\s+)?<F-CONTENT>.+</F-CONTENT>$`,
	}
	for name, src := range refused {
		if p := prefixLineOf(compilePref(t, src)); p != nil {
			t.Errorf("%s: recognised (%+v)", name, p)
		}
	}
}

// prefixHeaders are headers a line may start with after its date: the
// common ones, and every part of the prefix line that is read apart or
// left to the prefregex, with what is near them.
var prefixHeaders = []string{
	"", " ", "  web1 ", "web1 ", " web1 sshd[123]: ", " web1 sshd[123]:  ", " web1 sshd: ", " web1 sshd ",
	" web1 sshd[]: ", " web1 sshd[12a]: ", " web1 sshd[1]x", " web1 sshd:x", " web1 sshd[1]:x", " web1 sshd[1] x",
	" web1 sshd-session[1]: ", " web1 sshd-session: ", " web1 sshd-sessionx[1]: ", " web1 sshd-session[1]x", " web1 sshd-sessio ", " web1 sshd(pam)[1]: ", " web1 [sshd]: ", " web1 (sshd) ", " web1 sshd[1]]: ", " web1 sshd]: ",
	" <auth.info> web1 sshd[1]: ", " web1 kernel: [ 12.5] ", " web1 @vserver_x sshd[1]: ", " web1 sshd[1]: [ID 800047 auth.info] ",
	"[] web1 sshd[1]: ", "[]", " web1 :sshd ", " web1 [1]: sshd ", " web1 sshd[1]::", " web1 sshd[1]:[2] ", " web1 sshd:[2] ", " web1 sshd::",
	" web1\u00a0sshd[1]: ", " wéb1 sshd[1]: ", " web1 sshd[١]: ", " web1 sshd[1]:\u00a0", " web1 sshd[1]: \u00a0", " web1 sshd\t[1]",
	" web1 sshd[1]: kernel: [ 1.5] ", " web1 sshd[1]:kernel: ", " web1 sshd[1]: kernelx ", "sshd[1]:x", " sshd[1]:  x",
	" web1 sshd[1]:\u00e9", " web1 sshd\u00e9", " web1 sshd[1]\u00e9", " web1 sshd[\u0661]: ", " web1 sshd-session[1]:x ",
	" web1\x1csshd[1]:\x1c", " sshd[1]: ", " web1 sshd[1]: sshd[2]: ", "web1", " web1 sshd", " web1 sshd[1]", " web1 sshd[1]:",
	"\n", " web1\nsshd[1]: ", " web1 sshd[1]:\n", "\u2003web1 sshd[1]: ", " web1 sshd\u2003",
}

// prefixMessages follow the headers.
var prefixMessages = []string{
	"", "Failed password for root from 192.0.2.1 port 22 ssh2", "error: PAM: Authentication failure", "error: ", "error: PAM: ",
	"fatal: x", "FAIL: x", "conn=12 op=1 ACCEPT", "conn=12 x", "a\nb", "x\r", " ", "é",
}

// TestPrefixLineAgrees: on every header and message, the prefix line read
// by structure gives the prefregex's match and groups, or leaves the line
// to it; the common headers are read.
func TestPrefixLineAgrees(t *testing.T) {
	common := []string{"error: Failed x", "x", "FAIL: x", "conn=12 x", "x", "x", "x", "x", "error: Failed x", "x", "x"}
	for i, src := range prefixPrefs {
		pref := compilePref(t, src)
		p := prefixLineOf(pref)
		read := 0
		for _, h := range prefixHeaders {
			for _, msg := range prefixMessages {
				for _, nl := range []string{"\n", ""} {
					if checkPrefixLine(t, pref, p, h+msg+nl) {
						read++
					}
				}
			}
		}
		t.Logf("prefregex %d: %d texts of %d read by structure", i, read, 2*len(prefixHeaders)*len(prefixMessages))
		text := " web1 sshd[123]: " + common[i] + "\n"
		if _, ok := p.search(text, make([]int, 2*len(pref.Names)), make([]int, 2*len(pref.Names))); !ok {
			t.Errorf("%s: a common header left to the prefregex: %q", src, text)
		}
	}
}

// checkPrefixLine compares the prefix line's answer with the
// prefregex's, and reports whether it gave one.
func checkPrefixLine(t testing.TB, pref *regex.Regex, p *prefixLine, text string) bool {
	t.Helper()
	want := pref.Search(text, nil)
	got, ok := p.search(text, make([]int, 2*len(pref.Names)), make([]int, 2*len(pref.Names)))
	if ok && !slices.Equal(got, want) {
		t.Fatalf("%s\non %q: %v, the prefregex %v", pref.Src, text, got, want)
	}
	return ok
}

// FuzzPrefixLine compares the prefix line read by structure with the
// prefregex on any text.
func FuzzPrefixLine(f *testing.F) {
	for _, h := range prefixHeaders {
		for _, msg := range prefixMessages[:4] {
			f.Add(uint8(len(h)), h+msg+"\n")
		}
	}
	prefs := make([]*regex.Regex, len(prefixPrefs))
	lines := make([]*prefixLine, len(prefixPrefs))
	for i, src := range prefixPrefs {
		prefs[i] = compilePref(f, src)
		lines[i] = prefixLineOf(prefs[i])
	}
	f.Fuzz(func(t *testing.T, which uint8, text string) {
		if len(text) > 300 {
			return
		}
		i := int(which) % len(prefs)
		checkPrefixLine(t, prefs[i], lines[i], text)
	})
}

// fastAndGeneral is a filter of the sshd shape built twice: the
// prefregex read by structure and the failregexes told apart by their
// lead, and the general way.
func fastAndGeneral(t testing.TB, pref string, fail ...string) (fast, general *Filter) {
	t.Helper()
	dates, err := datepattern.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	build := func(fastPaths bool) *Filter {
		f := &Filter{Dates: dates, Pref: compilePref(t, pref), MaxLines: 1}
		for _, src := range fail {
			f.Fail = append(f.Fail, compilePref(t, src))
		}
		f.index.Do(func() { f.buildIndexWith(fastPaths) })
		return f
	}
	fast, general = build(true), build(false)
	if fast.prefix == nil || fast.leads == nil || general.prefix != nil || general.leads != nil {
		t.Fatalf("fast paths: %v %v, general: %v %v", fast.prefix, fast.leads, general.prefix, general.leads)
	}
	return fast, general
}

// sshdFails are failregexes in the shapes of sshd's: anchored words,
// letters of a class, alternatives, a helper, one not anchored, one
// folded, one starting with the host.
var sshdFails = []string{
	`^Failed (?:<F-NOFAIL>publickey</F-NOFAIL>|\S+) for (?:invalid user )?<F-USER>\S+</F-USER> from <HOST>(?: port \d+)?(?: ssh\d*)?$`,
	`^[iI](?:llegal|nvalid) user <F-USER>.*?</F-USER> from <HOST>(?: (?:port \d+|on \S+|\[preauth\])){0,3}\s*$`,
	`^<F-NOFAIL>pam_[a-z]+\(sshd:auth\):\s+authentication failure;</F-NOFAIL>(?:\s+(?:(?:logname|e?uid|tty)=\S*)){0,4}\s+ruser=\S*\s+rhost=<HOST>(?:\s+user=<F-USER>\S*</F-USER>)?\s*$`,
	`^<F-NOFAIL>Received <F-MLFFORGET>disconnect</F-MLFFORGET></F-NOFAIL> from <HOST>(?: port \d+)?:\s*11:`,
	`^Received <F-MLFFORGET>disconnect</F-MLFFORGET> from <HOST>(?: port \d+)?:\s*3: .*: Auth fail`,
	`^<F-NOFAIL><F-MLFFORGET>(Connection (?:closed|reset)|Disconnected)</F-MLFFORGET></F-NOFAIL> (?:by|from)(?: invalid user <F-USER>\S+</F-USER>)? <HOST>(?: port \d+)?(?: \[preauth\])?\s*$`,
	`^<F-MLFFORGET><F-MLFGAINED>Accepted \w+</F-MLFGAINED></F-MLFFORGET> for <F-USER>\S+</F-USER> from <HOST>(?:\s|$)`,
	`(?i)^root login refused from <HOST>`,
	`refused connect from \S+ \(<HOST>\)`,
	`^<HOST> tried too often`,
}

// authLines are lines in the shape of an auth.log's, headers of every
// kind.
func authLines() []string {
	msgs := []string{
		"Failed password for root from 192.0.2.1 port 22 ssh2", "Failed publickey for invalid user x from 192.0.2.2 port 22 ssh2",
		"Invalid user oracle from 192.0.2.3 port 10257", "illegal user x from 192.0.2.3",
		"pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.4  user=root",
		"pam_unix(sshd:session): session closed for user deploy", "Received disconnect from 192.0.2.5 port 52456:11: disconnected by user",
		"Received disconnect from 192.0.2.5 port 52456:3: x: Auth fail", "Connection closed by invalid user git 192.0.2.6 port 17384 [preauth]",
		"Accepted publickey for deploy from 192.0.2.7 port 17810 ssh2: ED25519 SHA256:q1w2e3r4", "ROOT LOGIN REFUSED FROM 192.0.2.8",
		"refused connect from h (192.0.2.9)", "192.0.2.10 tried too often", "error: PAM: Authentication failure for root from 192.0.2.11",
		"session opened for user root(uid=0) by (uid=0)",
	}
	var out []string
	for i, h := range prefixHeaders {
		for j, m := range msgs {
			out = append(out, "Aug 14 11:00:00"+h+strings.ReplaceAll(m, "192.0.2.", "192.0."+string(rune('0'+(i+j)%10))+"."))
		}
	}
	return out
}

// TestJudgeFastAgrees: an auth.log judged with the fast paths and the
// general way, line by line in one session each, with lt_file's prefix
// line and with lt_short's: the same results, failures and all.
func TestJudgeFastAgrees(t *testing.T) {
	for _, pref := range []string{prefixPrefs[0], prefixPrefs[8]} {
		fast, general := fastAndGeneral(t, pref, sshdFails...)
		fs, gs := fast.NewSession(), general.NewSession()
		at := time.Date(2025, 8, 14, 11, 0, 0, 0, time.UTC)
		found := 0
		for _, line := range authLines() {
			if judgeBoth(t, fs, gs, line, at).Outcome == Found {
				found++
			}
		}
		if found < 100 {
			t.Errorf("%s: %d failures found: the lines do not exercise the failregexes", pref, found)
		}
	}
}

func judgeBoth(t testing.TB, fs, gs *Session, line string, at time.Time) Result {
	t.Helper()
	a := fs.Judge(Line{Text: line, FindDate: true}, at, time.UTC)
	a.Failure = a.Failure.Clone()
	b := gs.Judge(Line{Text: line, FindDate: true}, at, time.UTC)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("%q:\nfast    %+v %+v\ngeneral %+v %+v", line, a, a.Failure, b, b.Failure)
	}
	return a
}

// FuzzJudgeFast judges any lines with the fast paths and the general
// way, in one session each.
func FuzzJudgeFast(f *testing.F) { fuzzJudgeFast(f, prefixPrefs[0]) }

// FuzzJudgeFastShort is FuzzJudgeFast with lt_short's prefix line.
func FuzzJudgeFastShort(f *testing.F) { fuzzJudgeFast(f, prefixPrefs[8]) }

func fuzzJudgeFast(f *testing.F, pref string) {
	lines := authLines()
	for i := 0; i < len(lines); i += 7 {
		f.Add(lines[i], lines[(i+1)%len(lines)])
	}
	fast, general := fastAndGeneral(f, pref, sshdFails...)
	at := time.Date(2025, 8, 14, 11, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, a, b string) {
		if len(a) > 300 || len(b) > 300 {
			return
		}
		fs, gs := fast.NewSession(), general.NewSession()
		judgeBoth(t, fs, gs, a, at)
		judgeBoth(t, fs, gs, b, at)
	})
}

// TestLeadWhateverUseDNS: a failregex's lead is the same whether its
// <HOST> may be a host name or not, wherever the tag stands, and a
// compiled regex carries it whatever its usedns.
func TestLeadWhateverUseDNS(t *testing.T) {
	srcs := append([]string{
		`^<HOST> tried`, `^(?:<HOST> x|foo) bar`, `^foo (?:<HOST>)+ bar`, `^ab(?:c|<HOST>)`, `^ab<HOST>cd`,
		`^(?:ab|<HOST>)`, `^a(?:<HOST>|b)`, `^[xy]z(?:<HOST>)?q`,
	}, sshdFails...)
	for _, src := range srcs {
		var leads [2][]pyre.ByteSet
		for k, useDNS := range []string{"no", "yes"} {
			tree, err := pyre.Parse(localFlags(expandTags(src, useDNS)))
			if err != nil {
				t.Fatalf("%s: %v", src, err)
			}
			leads[k] = tree.Lead(leadMax)
		}
		if !slices.Equal(leads[0], leads[1]) || !slices.Equal(leadOf(src), leads[0]) {
			t.Errorf("%s: lead %v with usedns no, %v with yes, %v taken", src, leads[0], leads[1], leadOf(src))
		}
		for _, useDNS := range []string{"yes", "warn", "no", "raw"} {
			re, err := Compile(src, useDNS, true)
			if err != nil {
				t.Fatalf("%s: %v", src, err)
			}
			if got := re.Leads; !slices.Equal(got, leads[0]) {
				t.Errorf("%s compiled with usedns %s: lead %v carried, %v parsed", src, useDNS, got, leads[0])
			}
		}
	}
}

// TestNextCandidate: the failregexes a candidate mask leaves, in order,
// every one past the 64th.
func TestNextCandidate(t *testing.T) {
	walk := func(cand uint64, n int) []int {
		var out []int
		for i := nextCandidate(cand, 0, n); i < n; i = nextCandidate(cand, i+1, n) {
			out = append(out, i)
		}
		return out
	}
	cases := []struct {
		cand uint64
		n    int
		want []int
	}{
		{0, 5, nil},
		{0b10110, 5, []int{1, 2, 4}},
		{0b10110, 3, []int{1, 2}},
		{1 << 63, 64, []int{63}},
		{1 << 63, 66, []int{63, 64, 65}},
		{0, 66, []int{64, 65}},
		{^uint64(0), 3, []int{0, 1, 2}},
	}
	for _, c := range cases {
		if got := walk(c.cand, c.n); !slices.Equal(got, c.want) {
			t.Errorf("%b of %d: %v, want %v", c.cand, c.n, got, c.want)
		}
	}
}

// BenchmarkPrefixLine: sshd's prefregex on an auth.log's lines after
// their date, read by structure and by the regex engine, with lt_file's
// prefix line and lt_short's (short-).
func BenchmarkPrefixLine(b *testing.B) {
	texts := []string{
		" web1 sshd[34151]: Failed password for root from 192.0.2.1 port 22 ssh2\n",
		" web1 CRON[3310]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)\n",
		" web1 sshd[22008]: Received disconnect from 192.0.2.1 port 52456:11: disconnected by user\n",
		" web1 sudo[7149]: deploy : TTY=pts/0 ; PWD=/home/deploy ; USER=root ; COMMAND=/usr/bin/true\n",
	}
	for form, src := range map[string]string{"": prefixPrefs[0], "short-": prefixPrefs[8]} {
		pref := compilePref(b, src)
		p := prefixLineOf(pref)
		m, tm := make([]int, 2*len(pref.Names)), make([]int, 2*len(pref.Names))
		b.Run(form+"structure", func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, ok := p.search(texts[i%len(texts)], m, tm); !ok {
					b.Fatal("left to the prefregex")
				}
				i++
			}
		})
		b.Run(form+"regex", func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if pref.Search(texts[i%len(texts)], m) == nil {
					b.Fatal("no match")
				}
				i++
			}
		})
	}
}

// BenchmarkJudgeAuthLog: an auth.log's lines of every kind through a
// filter of sshd's shape, with the fast paths and without, with lt_file's
// prefix line and lt_short's (short-).
func BenchmarkJudgeAuthLog(b *testing.B) {
	fast, general := fastAndGeneral(b, prefixPrefs[0], sshdFails...)
	shortFast, shortGeneral := fastAndGeneral(b, prefixPrefs[8], sshdFails...)
	var lines []string
	for _, l := range authLines() {
		if strings.Contains(l, " web1 sshd[123]: ") || strings.Contains(l, " sshd[1]: ") {
			lines = append(lines, l)
		}
	}
	at := time.Date(2025, 8, 14, 11, 0, 0, 0, time.UTC)
	for name, f := range map[string]*Filter{"fast": fast, "general": general, "short-fast": shortFast, "short-general": shortGeneral} {
		b.Run(name, func(b *testing.B) {
			s := f.NewSession()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				s.Judge(Line{Text: lines[i%len(lines)], FindDate: true}, at, time.UTC)
				i++
			}
		})
	}
}

// BenchmarkBuildIndex: what a filter of sshd's shape pays, at its first
// line, for its fast paths and its literals' index.
func BenchmarkBuildIndex(b *testing.B) {
	var fails []*regex.Regex
	for _, src := range sshdFails {
		fails = append(fails, compilePref(b, src))
	}
	pref := compilePref(b, prefixPrefs[0])
	b.ReportAllocs()
	for b.Loop() {
		f := &Filter{Pref: pref, Fail: fails, MaxLines: 1}
		f.buildIndexWith(true)
		if f.leads == nil {
			b.Fatal("no leads")
		}
	}
}

// leadOf is the lead of a failregex's source parsed again, as Compile
// expands it. Its
// <HOST> is written one way or another by usedns, which the filter does
// not keep; either way the lead stops there without a byte of it (the
// address starts with an optional '[', and with usedns the host is an
// alternation whose first branch does), so the expansion without host
// names serves, and so does the tree Compile read with the filter's
// usedns.
func leadOf(src string) []pyre.ByteSet {
	tree, err := pyre.Parse(localFlags(expandTags(src, "no")))
	if err != nil {
		return nil
	}
	return tree.Lead(leadMax)
}
