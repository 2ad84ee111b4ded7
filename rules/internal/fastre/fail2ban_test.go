package fastre

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stockade-ids/stockade/rules/internal/tags"
)

// TestFail2banDifferential runs fail2ban's own filters over its own sample
// logs when they are at hand (they are not part of this repository):
//
//	FASTRE_FAIL2BAN_REGEXES  a file of "filter<TAB>regex" lines, the
//	                         interpolated failregex/ignoreregex of filter.d
//	FASTRE_FAIL2BAN_LOGS     fail2ban/tests/files/logs
//
// Regexes that Go does not compile (lookarounds, backreferences) are
// skipped; the rest must give regexp's exact results.
func TestFail2banDifferential(t *testing.T) {
	rxFile, logDir := os.Getenv("FASTRE_FAIL2BAN_REGEXES"), os.Getenv("FASTRE_FAIL2BAN_LOGS")
	if rxFile == "" || logDir == "" {
		t.Skip("FASTRE_FAIL2BAN_REGEXES and FASTRE_FAIL2BAN_LOGS not set")
	}
	data, err := os.ReadFile(rxFile)
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	files, _ := filepath.Glob(filepath.Join(logDir, "*"))
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := sc.Text()
			texts = append(texts, line, line+" x", strings.ToUpper(line), line[:len(line)/2])
			// fail2ban matches after cutting the time stamp off: try the
			// line from each of its first spaces.
			for i, n := 0, 0; n < 8; n++ {
				j := strings.IndexByte(line[i:], ' ')
				if j < 0 {
					break
				}
				i += j + 1
				texts = append(texts, line[i:])
			}
		}
		fh.Close()
	}
	compiled, fast, hits := 0, 0, 0
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		_, rx, _ := strings.Cut(line, "\t")
		pat, _, err := tags.Translate(rx)
		if err != nil {
			continue
		}
		std, err := regexp.Compile(pat)
		if err != nil {
			continue
		}
		re, err := Compile(pat)
		if err != nil {
			t.Fatal(err)
		}
		compiled++
		if re.Fast() {
			fast++
		} else {
			t.Logf("slow path (%s): %.80s", re.why, pat)
		}
		for _, s := range texts {
			if d := mismatch(re, std, s); d != "" {
				t.Fatal(d)
			}
			if re.MatchString(s) {
				hits++
			}
		}
	}
	t.Logf("%d regexes compile in Go, %d on the fast path, %d texts, %d matches", compiled, fast, len(texts), hits)
}
