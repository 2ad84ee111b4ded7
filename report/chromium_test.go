package report_test

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/stockade-ids/stockade/backtest"
	"github.com/stockade-ids/stockade/report"
)

// chromium finds a Chromium to drive, or skips the test saying how to get
// one.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no Chromium on PATH: apt-get install -y chromium (the report is checked in a real browser)")
	return ""
}

// shown is what the browser shows of a report.
type shown struct {
	Scripts      int            `json:"scripts"`
	Pwned        any            `json:"pwned"`
	Handlers     int            `json:"handlers"`
	Imgs         int            `json:"imgs"`
	Bars         map[string]int `json:"bars"`       // side → rule → summed data-count, as "side/rule"
	BarsDrawn    int            `json:"barsDrawn"`  // bars with a rendered height > 0
	BarsTotal    int            `json:"barsTotal"`  // rect.bar elements
	XTicks       int            `json:"xticks"`     // labels on the time axis
	YTicks       int            `json:"yticks"`     // labels on the count axis
	OnlyNew      int            `json:"onlyNew"`    // rows of "banned only by new"
	OnlyOld      int            `json:"onlyOld"`    // rows of "banned only by old"
	Changed      int            `json:"changed"`    // rows of "changed"
	Offenders    map[string]int `json:"offenders"`  // side → rows
	RuleRows     int            `json:"ruleRows"`   // rows of the rule comparison
	Evidence     string         `json:"evidence"`   // all evidence text
	SourcePath   string         `json:"sourcePath"` // the first source's path as shown
	BadLines     string         `json:"badLines"`
	LegendOldSsh string         `json:"legendOldSsh"`
}

const probe = `(() => {
  const rows = sel => document.querySelectorAll(sel).length;
  const bars = {};
  let drawn = 0;
  for (const r of document.querySelectorAll('svg.timeline rect.bar')) {
    const k = r.closest('svg').dataset.side + '/' + r.dataset.rule;
    bars[k] = (bars[k] || 0) + Number(r.dataset.count);
    if (r.getBoundingClientRect().height > 0) drawn++;
  }
  const offenders = {};
  for (const t of document.querySelectorAll('table.offenders')) offenders[t.dataset.side] = t.rows.length - 1;
  const only = side => { const t = document.querySelector('table.only[data-side="' + side + '"]'); return t ? t.rows.length - 1 : 0; };
  const legend = document.querySelector('svg.timeline[data-side="old"] + p.legend span[data-rule="ssh"]');
  return {
    scripts: document.scripts.length,
    pwned: window.pwned === undefined ? null : window.pwned,
    handlers: rows('[onerror],[onload],[onmouseover]'),
    imgs: rows('img'),
    bars: bars, barsDrawn: drawn, barsTotal: rows('svg.timeline rect.bar'),
    xticks: rows('svg.timeline[data-side="old"] text.xtick'),
    yticks: rows('svg.timeline[data-side="old"] text.ytick'),
    onlyOld: only('old'), onlyNew: only('new'),
    changed: document.getElementById('changed').rows.length - 1,
    offenders: offenders,
    ruleRows: document.getElementById("rule-diff").rows.length - 1,
    evidence: Array.from(document.querySelectorAll('pre.evidence')).map(p => p.textContent).join('\n'),
    sourcePath: document.querySelector('#source-table td code').textContent,
    badLines: document.querySelector('#source-table span.bad').textContent,
    legendOldSsh: legend ? legend.textContent : '',
  };
})()`

// TestReportInChromium opens a comparison's report in headless Chromium
// and checks what it shows: the timeline's bars add up to each side's
// bans per rule and are drawn, the axes are labelled, the tables have a
// row per target and rule, the attacker's payloads show as text, no
// script of theirs ran and the page fetched nothing.
func TestReportInChromium(t *testing.T) {
	exe := chromium(t)
	rec := hostileRecord(t)
	path := filepath.Join(t.TempDir(), "report.html")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := report.Write(f, rec, report.Options{Title: "comparison"}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	pageURL := (&url.URL{Scheme: "file", Path: path}).String()
	got, requests := open(t, exe, pageURL)
	checkChart(t, rec, got)
	checkTables(t, rec, got)
	checkPayloads(t, got)
	if len(requests) == 0 {
		t.Error("saw no request at all: the listener is deaf, so 'no outside request' would prove nothing")
	}
	for _, u := range requests {
		if u != pageURL {
			t.Errorf("the page made a request: %s", u)
		}
	}
}

// open loads the page in Chromium and returns what the probe read of it
// and the URLs of every request the page made.
func open(t *testing.T, exe, pageURL string) (shown, []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox,
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.UserDataDir(t.TempDir()))
	actx, cancelA := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelA()
	bctx, cancelB := chromedp.NewContext(actx)
	defer cancelB()
	var mu sync.Mutex
	var requests []string
	err := chromedp.Listen(bctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			mu.Lock()
			requests = append(requests, e.Request.URL)
			mu.Unlock()
		}
	})
	if err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	if err := chromedp.Do(bctx, chromedp.Navigate(pageURL), chromedp.WaitVisible(chromedp.CSS("svg.timeline"))); err != nil {
		t.Fatalf("opening the report in Chromium: %v", err)
	}
	got, err := chromedp.Run(bctx, chromedp.Evaluate[shown](probe))
	if err != nil {
		t.Fatalf("reading the page: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	return got, slices.Clone(requests)
}

// checkChart: the bars of each side add up to its bans per rule, every
// bar is drawn, the axes are labelled.
func checkChart(t *testing.T, rec *backtest.Record, got shown) {
	t.Helper()
	want := map[string]int{}
	for _, s := range rec.Sides {
		for _, d := range s.Bans {
			want[s.Name+"/"+d.Rule]++
		}
	}
	if len(got.Bars) != len(want) {
		t.Errorf("bars by side/rule %v, want %v", got.Bars, want)
	}
	for k, n := range want {
		if got.Bars[k] != n {
			t.Errorf("bars of %s add up to %d, want %d bans", k, got.Bars[k], n)
		}
	}
	if got.BarsTotal == 0 || got.BarsDrawn != got.BarsTotal {
		t.Errorf("%d of %d bars drawn with a height", got.BarsDrawn, got.BarsTotal)
	}
	if got.XTicks < 2 || got.YTicks < 2 {
		t.Errorf("axes labelled with %d time and %d count ticks, want at least 2 each", got.XTicks, got.YTicks)
	}
	if got.LegendOldSsh != "ssh (7)" {
		t.Errorf("old side's legend for ssh reads %q, want %q", got.LegendOldSsh, "ssh (7)")
	}
}

// checkTables: a row per target and rule of the difference, per
// offender, and the source's bad line.
func checkTables(t *testing.T, rec *backtest.Record, got shown) {
	t.Helper()
	d := rec.Diff
	if got.OnlyOld != len(d.OnlyOld) || got.OnlyNew != len(d.OnlyNew) || got.Changed != len(d.Changed) || got.RuleRows != len(d.Rules) {
		t.Errorf("rows: only old %d, only new %d, changed %d, rules %d; want %d, %d, %d, %d",
			got.OnlyOld, got.OnlyNew, got.Changed, got.RuleRows, len(d.OnlyOld), len(d.OnlyNew), len(d.Changed), len(d.Rules))
	}
	if got.OnlyOld == 0 || got.Changed == 0 || got.OnlyNew == 0 {
		t.Errorf("the comparison should have targets only old bans, only new bans, and changed: %+v", got)
	}
	if got.Offenders["old"] != 7 || got.Offenders["new"] != 5 {
		t.Errorf("offender rows %v, want old 7 (six addresses and the second wave), new 5", got.Offenders)
	}
	if !strings.HasSuffix(got.SourcePath, `auth"><img src=x onerror=alert(1)>.log`) {
		t.Errorf("source path shown as %q", got.SourcePath)
	}
	if got.BadLines != "no timestamp ×1" {
		t.Errorf("bad lines shown as %q, want %q", got.BadLines, "no timestamp ×1")
	}
}

// checkPayloads: every payload shows as text; none became markup or ran.
func checkPayloads(t *testing.T, got shown) {
	t.Helper()
	for _, p := range payloads {
		if !strings.Contains(got.Evidence, p) {
			t.Errorf("evidence does not show the payload %q as text", p)
		}
	}
	if got.Scripts != 0 || got.Pwned != nil || got.Handlers != 0 || got.Imgs != 0 {
		t.Errorf("a payload became markup: %d scripts, window.pwned=%v, %d handler attributes, %d images", got.Scripts, got.Pwned, got.Handlers, got.Imgs)
	}
}
