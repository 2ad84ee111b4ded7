package filter_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/internal/testcorpus"
	"github.com/stockade-ids/stockade/rules/fail2ban/datepattern"
	"github.com/stockade-ids/stockade/rules/fail2ban/filter"
	"github.com/stockade-ids/stockade/rules/fail2ban/jailconf"
	"github.com/stockade-ids/stockade/rules/regex"
)

// TestCorpusFastPathsAgree judges fail2ban's sample logs with each of its
// filters (sshd in every mode) twice, the prefregex read by structure and
// the failregexes picked by their lead, and the general way: every line
// gets the same result, failure and all.
func TestCorpusFastPathsAgree(t *testing.T) {
	logs := testcorpus.Path(t, "fail2ban__fail2ban/fail2ban/tests/files/logs")
	dir := jailconf.Open(testcorpus.Path(t, "fail2ban__fail2ban/config"))
	entries, err := os.ReadDir(logs)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	fast, lines := 0, 0
	for _, e := range entries {
		name := e.Name()
		data, err := os.ReadFile(filepath.Join(logs, name))
		if err != nil || e.IsDir() {
			continue
		}
		optsList := []map[string]string{nil}
		if name == "sshd" || name == "sshd-journal" {
			optsList = nil
			for _, mode := range []string{"normal", "ddos", "extra", "aggressive"} {
				optsList = append(optsList, map[string]string{"mode": mode})
			}
		}
		if strings.HasSuffix(name, "-journal") {
			// As its fileOptions say, and as the file: lt_short's
			// prefix line and lt_file's.
			for _, o := range optsList {
				journal := map[string]string{"logtype": "journal"}
				for k, v := range o {
					journal[k] = v
				}
				optsList = append(optsList, journal)
			}
		}
		for _, opts := range optsList {
			f, err := dir.Filter(strings.TrimSuffix(name, "-journal"), opts)
			if err != nil {
				continue
			}
			a, b := compileTwice(t, f)
			if a == nil || !filter.FastPaths(a) {
				continue
			}
			fast++
			sa, sb := a.NewSession(), b.NewSession()
			for _, line := range strings.Split(string(data), "\n") {
				if line == "" || strings.HasPrefix(line, "#") {
					continue
				}
				lines++
				ra := sa.Judge(filter.Line{Text: line, FindDate: true}, at, time.UTC)
				ra.Failure = ra.Failure.Clone()
				rb := sb.Judge(filter.Line{Text: line, FindDate: true}, at, time.UTC)
				if !reflect.DeepEqual(ra, rb) {
					t.Fatalf("%s %v: %q:\nfast    %+v %+v\ngeneral %+v %+v", name, opts, line, ra, ra.Failure, rb, rb.Failure)
				}
			}
		}
	}
	t.Logf("%d filters read their prefregex by structure; %d sample lines judged both ways", fast, lines)
	if fast < 10 || lines < 500 {
		t.Errorf("%d filters, %d lines: the fast paths were hardly tried", fast, lines)
	}
}

// compileTwice compiles an imported filter as a rule of the dialect
// does, once with the fast paths and once without; nil when it does not
// compile.
func compileTwice(t testing.TB, jf *jailconf.Filter) (fast, general *filter.Filter) {
	useDNS := jf.UseDNS
	if useDNS == "" {
		useDNS = "warn"
	}
	maxLines := max(jf.MaxLines, 1)
	var dates []string
	for _, d := range jf.DatePattern {
		for _, l := range strings.Split(d, "\n") {
			if l = strings.TrimSpace(l); l != "" {
				dates = append(dates, l)
			}
		}
	}
	build := func(fastPaths bool) *filter.Filter {
		det, err := datepattern.New(dates)
		if err != nil {
			return nil
		}
		f := &filter.Filter{Dates: det, MaxLines: maxLines}
		compile := func(src string) *regex.Regex {
			re, err := filter.Compile(src, useDNS, maxLines == 1)
			if err != nil {
				return nil
			}
			return re
		}
		if strings.TrimSpace(jf.PrefRegex) != "" {
			if f.Pref = compile(jf.PrefRegex); f.Pref == nil {
				return nil
			}
		}
		for _, src := range jf.FailRegex {
			if re := compile(src); re != nil {
				f.Fail = append(f.Fail, re)
			}
		}
		for _, src := range jf.IgnoreRegex {
			if re := compile(src); re != nil {
				f.Ignore = append(f.Ignore, re)
			}
		}
		filter.BuildIndexWith(f, fastPaths)
		return f
	}
	fast, general = build(true), build(false)
	if fast == nil || general == nil {
		return nil, nil
	}
	return fast, general
}

// BenchmarkCorpusOtherLines: dropbear's filter (its prefregex's tail read
// by regex, its failregexes' literals indexed) judging fail2ban's sshd
// sample lines, none of them dropbear's: what a jail pays for the lines
// of the other daemons in its log.
func BenchmarkCorpusOtherLines(b *testing.B) {
	logs := testcorpus.Path(b, "fail2ban__fail2ban/fail2ban/tests/files/logs")
	dir := jailconf.Open(testcorpus.Path(b, "fail2ban__fail2ban/config"))
	jf, err := dir.Filter("dropbear", nil)
	if err != nil {
		b.Fatal(err)
	}
	f, _ := compileTwice(b, jf)
	if f == nil || !filter.FastPaths(f) {
		b.Fatal("dropbear's filter does not read its prefix line by structure")
	}
	data, err := os.ReadFile(filepath.Join(logs, "sshd"))
	if err != nil {
		b.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(data), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") && !strings.Contains(l, "dropbear") {
			lines = append(lines, l)
		}
	}
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	s := f.NewSession()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s.Judge(filter.Line{Text: lines[i%len(lines)], FindDate: true}, at, time.UTC)
		i++
	}
}
