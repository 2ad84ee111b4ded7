package jailconf

import (
	"bufio"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/stockade-ids/stockade/internal/testcorpus"
	"github.com/stockade-ids/stockade/rules/fail2ban/filter"
	"github.com/stockade-ids/stockade/rules/regex"
)

// TestSplitConditionals: every failregex of fail2ban's jails (sshd in
// each mode) with a conditional group, a lookahead or a Unicode \b that
// now runs on RE2 in part or whole (pyre's split into alternatives, its
// avoid loops, its guards) finds on fail2ban's sample logs exactly what
// the regex finds whole on regexp2: the same lines, the same spans of the
// match and of every group.
func TestSplitConditionals(t *testing.T) {
	texts := sampleTexts(t)
	var srcs []struct{ src, useDNS string }
	for _, mode := range []string{"normal", "ddos", "extra", "aggressive"} {
		for _, r := range corpusFailregexes(t, "[DEFAULT]\nenabled = true\n[sshd]\nmode = "+mode+"\n") {
			if src := r.src; strings.Contains(src, "(?(") || strings.Contains(src, "(?!") || strings.Contains(src, `\b`) {
				srcs = append(srcs, struct{ src, useDNS string }{src, r.useDNS})
			}
		}
	}
	split, matched := 0, 0
	seen := map[string]bool{}
	for _, s := range srcs {
		if seen[s.src+s.useDNS] {
			continue
		}
		seen[s.src+s.useDNS] = true
		re, err := filter.Compile(s.src, s.useDNS, true)
		if err != nil {
			t.Fatal(err)
		}
		if re.Engine.Kind() == "regexp2" {
			continue
		}
		split++
		ref, err := filter.Backtracking(s.src, s.useDNS)
		if err != nil {
			t.Fatal(err)
		}
		for _, text := range texts {
			got := re.Search(text, nil)
			want := reference(t, ref, text)
			if !slices.Equal(got, want) {
				t.Fatalf("%s\non %q: split %v, whole %v", s.src, text, got, want)
			}
			if want != nil {
				matched++
			}
		}
	}
	t.Logf("%d translated failregexes, %d texts, %d matches compared", split, len(texts), matched)
	if split < 3 || matched < 50 {
		t.Fatalf("%d translated failregexes, %d matches: the translation was not exercised", split, matched)
	}
}

// reference is ref's match of text: regexp2 gives a match up after 100 ms
// of wall-clock time, which a loaded machine can take from a tame match,
// so a match given up is tried again.
func reference(t *testing.T, ref *regex.Regex, text string) []int {
	t.Helper()
	for range 5 {
		before := regex.Faults(ref.Engine)
		m := ref.Search(text, nil)
		if regex.Faults(ref.Engine) == before {
			return m
		}
	}
	t.Fatalf("regexp2 gave up on %q five times", text)
	return nil
}

// sampleTexts are the lines of fail2ban's sample logs as a failregex
// may see them: whole, and from after each ": " (the content a
// prefregex leaves), each with the newline fail2ban appends.
func sampleTexts(t *testing.T) []string {
	logs := testcorpus.Path(t, "fail2ban__fail2ban/fail2ban/tests/files/logs")
	files, err := filepath.Glob(filepath.Join(logs, "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no sample logs in %s: %v", logs, err)
	}
	// Lines that take the alternatives' edges: users with spaces, colons
	// and " from ", the invalid user's branch, a line that ends early.
	texts := []string{
		"Failed password for invalid user from from 192.0.2.1 port 22 ssh2\n",
		"Failed password for invalid user a b from 192.0.2.1 port 22 ssh2: RSA x\n",
		"Failed publickey for invalid user x from 192.0.2.1 port 22 ssh2: ED25519 SHA256:x\n",
		"Failed publickey for invalid user x from 192.0.2.1 from 192.0.2.2 port 22\n",
		"Failed password for a: b from 192.0.2.1 port 22 ssh2\n",
		"Failed password for root from 192.0.2.1 port 22 ssh2 from 192.0.2.9\n",
		"Failed password for root from 192.0.2.1\n",
		"Failed password for root from 2001:db8::1 port 22 ssh2\n",
		"Failed none for invalid user  from 192.0.2.1 port 22 ssh2\n",
		"Failed password for root from host.example.com port 22 ssh2\n",
		"Failed password for root from 192.0.2.1 port 22 ssh2: \n",
	}
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			continue // a directory
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, "#") {
				continue
			}
			texts = append(texts, line+"\n")
			for i := 0; i+2 < len(line); i++ {
				if line[i] == ':' && line[i+1] == ' ' {
					texts = append(texts, line[i+2:]+"\n")
				}
			}
		}
		fh.Close()
	}
	return texts
}

// BenchmarkGuards: a line through a failregex pyre runs as a guard (RE2
// unless the line holds the lookaround's literal or a byte past ASCII),
// and through the same regex whole on regexp2, as it ran before guards:
// fail2ban 1.1's sshd "Connection closed" (normal mode) and postfix's
// reject line (its \b), each on a line it matches.
func BenchmarkGuards(b *testing.B) {
	for _, c := range []struct {
		name, jail, has, line string // has: a part of the failregex
	}{
		{"sshd-connection-closed", "sshd", "(?!Too many authentication failures)", "Connection closed by invalid user oracle 203.0.113.9 port 17384 [preauth]\n"},
		{"postfix-reject", "postfix", "Relay access denied", "RCPT from example.com[192.0.2.10]: 554 5.7.1 <x@example.org>: Relay access denied; from=<a@example.com> to=<x@example.org> proto=SMTP helo=<example.com>\n"},
	} {
		var src, useDNS string
		for _, r := range corpusFailregexes(b, "[DEFAULT]\nenabled = true\n") {
			if r.jail == c.jail && strings.Contains(r.src, c.has) {
				src, useDNS = r.src, r.useDNS
			}
		}
		if src == "" {
			b.Fatalf("%s: no failregex found", c.name)
		}
		guard, err := filter.Compile(src, useDNS, true)
		if err != nil {
			b.Fatal(err)
		}
		whole, err := filter.Backtracking(src, useDNS)
		if err != nil {
			b.Fatal(err)
		}
		if guard.Engine.Kind() != "re2+regexp2" {
			b.Fatalf("%s: on %s, want a guard", c.name, guard.Engine.Kind())
		}
		for name, re := range map[string]*regex.Regex{"guard": guard, "regexp2": whole} {
			b.Run(c.name+"/"+name, func(b *testing.B) {
				dst := make([]int, 2*len(re.Names))
				if re.Search(c.line, dst) == nil {
					b.Fatalf("%s does not match %q", src, c.line)
				}
				b.ReportAllocs()
				for b.Loop() {
					re.Search(c.line, dst)
				}
			})
		}
	}
}

// corpusFailregex is a failregex of a jail of fail2ban's configuration.
type corpusFailregex struct{ jail, src, useDNS string }

// corpusFailregexes are the failregexes of the jails fail2ban's own
// configuration enables with jailLocal, as PackYAML writes them.
func corpusFailregexes(t testing.TB, jailLocal string) []corpusFailregex {
	t.Helper()
	_, data := corpusPack(t, jailLocal)
	var pack struct {
		Rules []struct {
			Name      string   `yaml:"name"`
			Failregex []string `yaml:"failregex"`
			UseDNS    string   `yaml:"usedns"`
		} `yaml:"rules"`
	}
	if err := yaml.Unmarshal(data, &pack); err != nil {
		t.Fatal(err)
	}
	var out []corpusFailregex
	for _, r := range pack.Rules {
		for _, src := range r.Failregex {
			out = append(out, corpusFailregex{r.Name, src, r.UseDNS})
		}
	}
	return out
}
