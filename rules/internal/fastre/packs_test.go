package fastre

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stockade-ids/stockade/rules/internal/tags"
	"go.yaml.in/yaml/v3"
)

// translateTags is the packs' tag translation, as package rules does it;
// the regexes here are known to translate.
func translateTags(src string) string {
	out, _, err := tags.Translate(src)
	if err != nil {
		panic(fmt.Sprintf("%s: %v", src, err))
	}
	return out
}

// packCorpus collects the regexes and sample lines of every rule pack:
// failregex and ignoreregex entries, `matches "…"` in when expressions,
// and the lines of the tests: blocks.
func packCorpus(t testing.TB) (patterns, lines []string) {
	files, _ := filepath.Glob("../../packs/*.yaml")
	files = append(files, "../../../testdata/explain/custom.yaml")
	if len(files) < 2 {
		t.Fatal("no rule packs found")
	}
	matches := regexp.MustCompile(`matches\s+("(?:[^"\\]|\\.)*")`)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc any
		if err := yaml.Unmarshal(data, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		var walk func(key string, v any)
		walk = func(key string, v any) {
			switch v := v.(type) {
			case map[string]any:
				for k, sub := range v {
					if (key == "failregex" || key == "ignoreregex") && k == "re" {
						k = key
					}
					walk(k, sub)
				}
			case []any:
				for _, sub := range v {
					walk(key, sub)
				}
			case string:
				switch key {
				case "failregex", "ignoreregex":
					patterns = append(patterns, translateTags(v))
				case "when":
					for _, m := range matches.FindAllStringSubmatch(v, -1) {
						if p, err := strconv.Unquote(m[1]); err == nil {
							patterns = append(patterns, p)
						}
					}
				case "lines":
					lines = append(lines, strings.Split(strings.TrimSpace(v), "\n")...)
				}
			}
		}
		walk("", doc)
	}
	return patterns, lines
}

// testdataLines reads the log samples under the repository's testdata.
func testdataLines(t testing.TB) []string {
	var lines []string
	files, _ := filepath.Glob("../../../testdata/*/*")
	for _, f := range files {
		switch filepath.Ext(f) {
		case ".log", ".json", ".jsonl":
		default:
			continue
		}
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
		fh.Close()
	}
	return lines
}

// views are the parts of a log line a rule's regex is run on: the whole
// line, a syslog message, an access-log path.
func views(line string) []string {
	out := []string{line}
	if i := strings.Index(line, "]: "); i >= 0 {
		out = append(out, line[i+3:])
	}
	if i := strings.Index(line, `"`); i >= 0 {
		req := line[i+1:]
		if j := strings.IndexByte(req, ' '); j >= 0 {
			path := req[j+1:]
			if k := strings.Index(path, " HTTP/"); k >= 0 {
				out = append(out, path[:k])
			}
		}
	}
	return out
}

// mutations are near misses and tricky variants of a text: truncations,
// an address planted in the user name, trailing junk, case changes, a
// newline, a non-ASCII byte.
func mutations(s string) []string {
	out := []string{s, s + " x", s + " [preauth]", s + "\n", strings.ToUpper(s), strings.ToLower(s), " " + s}
	for i := 1; i < len(s); i += 1 + len(s)/25 {
		out = append(out, s[:i], s[i:])
	}
	if i := strings.Index(s, " from "); i >= 0 {
		out = append(out,
			s[:i]+" from 198.51.100.9 port 22"+s[i:],
			s[:i]+" from 198.51.100.9 port 22 ssh2"+s[i:],
			s[:i]+" from 2001:db8::1"+s[i:],
			s[:i]+" from ::ffff:192.0.2.1 port 1 on x"+s[i:])
	}
	for _, from := range []string{" port ", "1", "2", ".", ":", " "} {
		out = append(out, strings.Replace(s, from, from+from, 1), strings.Replace(s, from, "", 1))
	}
	if len(s) > 4 {
		out = append(out, s[:4]+"é"+s[4:], s[:len(s)/2]+"\xff"+s[len(s)/2:], s[:len(s)/2]+"\n"+s[len(s)/2:])
	}
	return out
}

// TestPacksDifferential runs every regex of the rule packs over every
// sample line and its mutations and requires regexp's exact results.
func TestPacksDifferential(t *testing.T) {
	patterns, lines := packCorpus(t)
	patterns = append(patterns, extraPatterns...)
	lines = append(lines, extraLines...)
	var texts []string
	seen := map[string]bool{}
	add := func(s string) {
		if !seen[s] {
			seen[s] = true
			texts = append(texts, s)
		}
	}
	for _, l := range lines {
		for _, v := range views(l) {
			for _, m := range mutations(v) {
				add(m)
			}
		}
	}
	// The replay logs are long and repetitive: every line as it is, and
	// every seventh with its mutations.
	for i, l := range testdataLines(t) {
		for _, v := range views(l) {
			add(v)
			if i%7 == 0 {
				for _, m := range mutations(v) {
					add(m)
				}
			}
		}
	}
	t.Logf("%d patterns, %d texts", len(patterns), len(texts))
	for _, pat := range patterns {
		std, err := regexp.Compile(pat)
		if err != nil {
			// A pack may use syntax only another engine takes.
			t.Logf("pack regex %q is not Go syntax: %v", pat, err)
			continue
		}
		re, err := Compile(pat)
		if err != nil {
			t.Fatal(err)
		}
		if !re.Fast() {
			// Still exact, only slower: the rules package lints this.
			t.Logf("pack regex %q takes no fast path: %s", pat, re.why)
		}
		hits := 0
		for _, s := range texts {
			if d := mismatch(re, std, s); d != "" {
				t.Fatal(d)
			}
			if re.MatchString(s) {
				hits++
			}
		}
		if testing.Verbose() {
			fmt.Printf("%5d hits  %.70s\n", hits, pat)
		}
	}
}

// extraPatterns are filter regexes in the style of common fail2ban
// filters (postfix, dovecot, nginx, apache, vsftpd), written for this test.
var extraPatterns = []string{
	translateTags(`^(?:\S+ )?NOQUEUE: reject: RCPT from \S+\[<HOST>\]: 5\d\d \S+ <[^>]*>: (?:Relay access denied|Recipient address rejected)`),
	translateTags(`(?i)auth(?:entication)? fail(?:ed|ure)[:;]? .*?rhost=<HOST>(?:\s+user=<F-USER>\S*</F-USER>)?\s*$`),
	translateTags(`^<HOST> -.*"(?:GET|POST|HEAD) /(?:wp-login\.php|xmlrpc\.php)[^"]*" (?:200|401|403) `),
	translateTags(`^<HOST> \S+ \S+ \[[^\]]+\] "[A-Z]+ [^"]*" 40[134] \d+ "[^"]*" "(?:[^"\\]|\\.)*"$`),
	translateTags(`\[client <HOST>(?::\d+)?\] (?:AH\d+: )?(?:user .*? authentication failure|client denied by server configuration)`),
	translateTags(`^.*?FAIL LOGIN: Client "<HOST>"(?:, "<F-USER>[^"]+</F-USER>")?$`),
	translateTags(`^\s*(?:\S+ )?(?:\w+\[\d+\]: )?pam_\w+\(\S+:auth\): authentication failure;(?:\s+(?:logname|uid|euid|tty|ruser)=\S*)*\s+rhost=<HOST>`),
	translateTags(`(?m)^.*? from <HOST>$`),
	translateTags(`\b(?:Found|Ban) <HOST>\b`),
	`^(?:\S+\s+){3}(?P<prog>[\w.-]+)(?:\[(?P<pid>\d+)\])?:\s+(?P<msg>.*?)\s*$`,
}

// extraLines are samples for extraPatterns.
var extraLines = []string{
	"Nov  8 22:00:01 mx postfix/smtpd[123]: NOQUEUE: reject: RCPT from unknown[203.0.113.5]: 554 5.7.1 <x@example.org>: Relay access denied; from=<a@b> to=<x@example.org>",
	"[Sat Nov 08 22:00:01.123 2025] [authz_core:error] [pid 1] [client 203.0.113.6:5123] AH01630: client denied by server configuration: /srv/www",
	"[Sat Nov 08 22:00:01 2025] [error] [client 2001:db8::9] user bob authentication failure for \"/admin\": Password Mismatch",
	"Sat Nov  8 22:00:01 2025 [pid 7] [alice] FAIL LOGIN: Client \"203.0.113.8\", \"alice\"",
	"dovecot: auth: pam(bob,203.0.113.9): pam_authenticate() failed: Authentication failure (password mismatch?) rhost=203.0.113.9 user=bob",
	"Nov  8 22:00:01 host sshd[1]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.2  user=root",
}
