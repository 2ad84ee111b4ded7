package rules_test

import (
	"io/fs"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/rules"
	"github.com/stockade-ids/stockade/rules/packtest"
	"github.com/stockade-ids/stockade/sources"
)

// gateLines are the sample lines of every built-in pack's tests, with
// variants a gate could get wrong: upper case (the literals are matched
// without regard to case, as (?i) regexes match), lower case, and a
// character beyond ASCII (Unicode folds K, the Kelvin sign, onto k: such
// a line must not be judged by its ASCII literals).
func gateLines(t testing.TB) []string {
	t.Helper()
	packs, err := rules.DefaultPacks()
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, p := range packs {
		data, err := fs.ReadFile(rules.DefaultFS(), p.File)
		if err != nil {
			t.Fatal(err)
		}
		tests, err := packtest.Parse(path.Join("packs", p.File), data)
		if err != nil {
			t.Fatal(err)
		}
		for _, pt := range tests {
			for _, in := range pt.Inputs {
				for _, l := range in.Lines {
					// A byte past 0x7f at the end leaves the fields
					// ASCII but not the line: each scan answers for
					// its own text.
					lines = append(lines, l.Text, strings.ToUpper(l.Text), strings.ToLower(l.Text),
						strings.Replace(l.Text, "k", "\u212a", 1), l.Text+" \u00e9")
				}
			}
		}
	}
	return lines
}

// gatedAndJudged returns the rules ev hits through Match (gated) and by
// judging every candidate rule (Judge is not gated), each on its own
// copy of ev.
func gatedAndJudged(s *rules.Set, ev pipeline.Event) (gated, judged []string) {
	e1 := ev
	for _, h := range s.Match(&e1, nil) {
		gated = append(gated, h.Policy.Name)
	}
	for _, r := range s.Candidates(&ev) {
		e2 := ev
		if _, v := s.Judge(r, &e2); v == rules.Hit {
			judged = append(judged, r.Policy.Name)
		}
	}
	return gated, judged
}

// TestGateSound: the gates only skip rules that could not hit. Every
// sample line of the built-in packs, and its variants, gets the same hits
// from Match (gated) as from judging every candidate rule (Judge is not
// gated).
func TestGateSound(t *testing.T) {
	s := defaultSet(t)
	now := time.Date(2025, 11, 9, 0, 0, 0, 0, time.UTC)
	var gated, ungated, skipped int
	for _, line := range gateLines(t) {
		f := sources.Detect([]byte(line))
		if f == pipeline.FormatUnknown {
			continue
		}
		p := sources.NewParser(f, now, time.UTC)
		var ev pipeline.Event
		if p.Parse([]byte(line), &ev) != nil {
			continue
		}
		if ev.Line == "" {
			ev.Line = line
		}
		got, want := gatedAndJudged(s, ev)
		for _, r := range s.Candidates(&ev) {
			if !s.Opens(r, &ev) {
				skipped++
			}
		}
		gated += len(got)
		ungated += len(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s\n  gated hits %v, every rule judged: %v", line, got, want)
		}
	}
	if skipped == 0 {
		t.Error("no gate ever shut: the test shows nothing")
	}
	t.Logf("%d hits either way; %d rule judgements skipped by their gates", ungated, skipped)
}

// TestGateShutsForBenignLines: on an ordinary visit no web rule is
// judged, and on a probe only the rules it concerns are: what keeps an
// access log's replay fast with a dozen web rules.
func TestGateShutsForBenignLines(t *testing.T) {
	s := defaultSet(t)
	p := sources.NewParser(pipeline.FormatNginx, time.Now(), time.UTC)
	for line, want := range map[string][]string{
		`198.51.100.7 - - [01/Nov/2025:00:00:01 +0000] "GET /blog/2025/11/hello-world HTTP/1.1" 200 5120 "https://www.example.com/" "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"`: nil,
		`198.51.100.7 - - [01/Nov/2025:00:00:01 +0000] "GET /css/site.css HTTP/1.1" 304 0 "https://www.example.com/" "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"`:                                                         nil,
		`203.0.113.9 - - [01/Nov/2025:00:00:01 +0000] "GET /.env HTTP/1.1" 404 153 "-" "Mozilla/5.0 zgrab/0.x"`:                                                                                                                                        {"nginx-scan", "web-scanner-ua", "web-sensitive-files"},
		`198.51.100.7 - - [01/Nov/2025:00:00:01 +0000] "GET /video.mp4 HTTP/2.0" 206 5120 "https://www.example.com/" "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"`:                                                         nil,
		`203.0.113.9 - - [01/Nov/2025:00:00:01 +0000] "GET / HTTP/2.1" 400 157 "-" "x"`:                                                                                                                                                                {"nginx-scan", "web-malformed", "web-bad-version"},
	} {
		var ev pipeline.Event
		if err := p.Parse([]byte(line), &ev); err != nil {
			t.Fatal(err)
		}
		var open []string
		for _, r := range s.Candidates(&ev) {
			if s.Opens(r, &ev) {
				open = append(open, r.Policy.Name)
			}
		}
		if !slices.Equal(open, want) {
			t.Errorf("%s\n  rules judged %v, want %v", line, open, want)
		}
	}
}

func defaultSet(t testing.TB) *rules.Set {
	t.Helper()
	packs, err := rules.DefaultPacks()
	if err != nil {
		t.Fatal(err)
	}
	s, err := rules.NewSet(packs...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestGateFieldMovedByCapture: a failregex's <F-USER> moves ev.User after
// the line was read for the gates; a later rule's gate on user must not
// judge by where the user was.
func TestGateFieldMovedByCapture(t *testing.T) {
	p, err := rules.Parse("t.yaml", []byte(`pack: t
rules:
  - name: first
    formats: [nginx]
    when: 'path contains "zz"'
    ban: 1h
  - name: capture
    formats: [nginx]
    failregex: ['(?i)agent <F-USER>bob</F-USER>']
    ban: 1h
  - name: by-user
    formats: [nginx]
    when: 'user == "bob"'
    ban: 1h
`))
	if err != nil {
		t.Fatal(err)
	}
	s, err := rules.NewSet(p)
	if err != nil {
		t.Fatal(err)
	}
	line := `203.0.113.9 - alice [08/Nov/2025:22:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "agent bob"`
	var ev pipeline.Event
	if err := sources.NewParser(pipeline.FormatNginx, time.Now(), time.UTC).Parse([]byte(line), &ev); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, h := range s.Match(&ev, nil) {
		got = append(got, h.Policy.Name)
	}
	if want := []string{"capture", "by-user"}; !slices.Equal(got, want) {
		t.Errorf("hits %v, want %v", got, want)
	}
}

// TestGateMethod: a predicate that requires a request method shuts the
// rule's gate on any other, compared exactly as the predicate compares;
// one that may be true whatever the method does not.
func TestGateMethod(t *testing.T) {
	p, err := rules.Parse("t.yaml", []byte(`pack: t
rules:
  - name: post
    formats: [nginx]
    when: 'method == "POST" && status == 200'
    ban: 1h
  - name: put-or-delete
    formats: [nginx]
    when: 'method in ["PUT", "DELETE"]'
    ban: 1h
  - name: post-or-zz
    formats: [nginx]
    when: 'method == "POST" || path contains "zz"'
    ban: 1h
  - name: both
    formats: [nginx]
    when: 'method == "POST" && method == "GET"'
    ban: 1h
`))
	if err != nil {
		t.Fatal(err)
	}
	s, err := rules.NewSet(p)
	if err != nil {
		t.Fatal(err)
	}
	parser := sources.NewParser(pipeline.FormatNginx, time.Now(), time.UTC)
	for method, want := range map[string][]string{
		"POST":   {"post", "post-or-zz"},
		"GET":    {"post-or-zz"},
		"PATCH":  {"post-or-zz"},
		"DELETE": {"put-or-delete", "post-or-zz"},
	} {
		line := `203.0.113.9 - - [08/Nov/2025:22:00:00 +0000] "` + method + ` /zz HTTP/1.1" 200 1 "-" "curl/8"`
		var ev pipeline.Event
		if err := parser.Parse([]byte(line), &ev); err != nil {
			t.Fatal(err)
		}
		var open, hits []string
		for _, r := range s.Candidates(&ev) {
			if s.Opens(r, &ev) {
				open = append(open, r.Policy.Name)
			}
		}
		for _, h := range s.Match(&ev, nil) {
			hits = append(hits, h.Policy.Name)
		}
		if !slices.Equal(open, want) || !slices.Equal(hits, want) {
			t.Errorf("%s: gates open for %v, hits %v; want %v", method, open, hits, want)
		}
	}
}

// FuzzGateSound: whatever a client writes into an access line's fields
// (the path, the user agent, the referer, bytes past 0x7f, quotes), the
// gates' scans, the line's and the path's, let through every rule that
// judging every candidate finds a hit for.
func FuzzGateSound(f *testing.F) {
	for _, line := range gateLines(f) {
		if sources.Detect([]byte(line)) == pipeline.FormatNginx {
			f.Add(line)
		}
	}
	s := defaultSet(f)
	now := time.Date(2025, 11, 9, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, line string) {
		var ev pipeline.Event
		if sources.NewParser(pipeline.FormatNginx, now, time.UTC).Parse([]byte(line), &ev) != nil {
			return
		}
		got, want := gatedAndJudged(s, ev)
		if !slices.Equal(got, want) {
			t.Errorf("%q\n  gated hits %v, every rule judged: %v", line, got, want)
		}
	})
}
