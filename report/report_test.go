package report_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/backtest"
	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/report"
	"github.com/stockade-ids/stockade/rules"
	"github.com/stockade-ids/stockade/sources"
)

// payloads are what an attacker puts in a user name that lands in the
// evidence: a script, an element with a handler, attribute breakers, an
// SVG with onload, a fetch of an outside image.
var payloads = []string{
	`<script>window.pwned="script"</script>`,
	`<img src=x onerror="window.pwned='img'">`,
	`"><svg onload="window.pwned='svg'">`,
	`' onmouseover='window.pwned=1' x='`,
	`</pre></td></tr></table><img src="http://198.51.100.99/beacon.png">`,
	`</title></rect><script>window.pwned="svg-title"</script>`,
}

// hostileRecord replays a log whose failures carry the payloads (and whose
// file name breaks attributes too) through two packs, as replay --compare
// does: old bans at 3 failures, new at 2 and adds a range rule.
func hostileRecord(t *testing.T) *backtest.Record {
	t.Helper()
	dir := t.TempDir()
	name := filepath.Join(dir, `auth"><img src=x onerror=alert(1)>.log`)
	var b strings.Builder
	at := time.Date(2025, 11, 8, 22, 0, 0, 0, time.UTC)
	line := func(who, addr string) {
		at = at.Add(30 * time.Second)
		fmt.Fprintf(&b, "%s web1 sshd[1]: Failed password for %s from %s port 4000 ssh2\n", at.Format(time.RFC3339), who, addr)
	}
	for i, p := range payloads {
		addr := fmt.Sprintf("203.0.113.%d", 10+i)
		for range 3 {
			line(p, addr)
		}
	}
	// Two hours later, a second wave from one address: the timeline spans
	// several buckets.
	at = at.Add(2 * time.Hour)
	for range 4 {
		line("admin", "198.51.100.7")
	}
	b.WriteString("this is not a syslog line <script>window.pwned='bad'</script>\n")
	if err := os.WriteFile(name, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := sources.Open(name, sources.Options{Loc: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	old := pipeline.NewEngine(set(t, 3, false), pipeline.Config{Origin: "t"})
	new := pipeline.NewEngine(set(t, 2, true), pipeline.Config{Origin: "t"})
	os_, ns, err := backtest.Compare(t.Context(), old, new, []pipeline.Iterator{f})
	if err != nil {
		t.Fatal(err)
	}
	os_.Rules, ns.Rules = "default", `mine/"><b>x</b>`
	return &backtest.Record{Sources: backtest.SourcesOf([]*sources.File{f}), Sides: []*backtest.Side{os_, ns}, Diff: backtest.Differ(os_, ns)}
}

func set(t *testing.T, threshold int, rng bool) *rules.Set {
	t.Helper()
	y := fmt.Sprintf(`pack: t
rules:
  - name: ssh
    formats: [syslog]
    programs: [sshd]
    failregex: ['^Failed password for .* from <HOST> port \d+ ssh2$']
    threshold: %d
    window: 10m
    ban: 1h
`, threshold)
	if rng {
		y += `  - name: neighbours
    range: {v4: 24}
    threshold: 3
    window: 1h
    ban: 4h
`
	}
	p, err := rules.Parse("t.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	s, err := rules.NewSet(p)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestReportEscapes: every payload is in the page as text only; no tag,
// handler or outside URL of the attacker's survives.
func TestReportEscapes(t *testing.T) {
	var out bytes.Buffer
	if err := report.Write(&out, hostileRecord(t), report.Options{Title: "t"}); err != nil {
		t.Fatal(err)
	}
	page := out.String()
	for _, bad := range []string{"<script", "<img", "<svg onload", "onmouseover='", `"><svg`, `"><img`, "<b>x</b>"} {
		if strings.Contains(page, bad) {
			t.Errorf("the page holds %q unescaped", bad)
		}
	}
	for _, want := range []string{"&lt;script&gt;window.pwned=&#34;script&#34;&lt;/script&gt;", "&lt;img src=x onerror=&#34;window.pwned=&#39;img&#39;&#34;&gt;"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks the payload as text %q", want)
		}
	}
	if strings.Contains(page, "ZgotmplZ") {
		t.Error("html/template refused a value (ZgotmplZ): a field is in the wrong context")
	}
}
