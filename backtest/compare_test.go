package backtest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/backtest"
	"github.com/stockade-ids/stockade/internal/gen"
	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/rules"
	"github.com/stockade-ids/stockade/sources"
)

// pack is an sshd-like rule with its threshold and ban as given, and a
// range rule when rng is set.
func pack(t *testing.T, threshold int, ban string, rng bool) *rules.Set {
	t.Helper()
	y := fmt.Sprintf(`pack: t
rules:
  - name: ssh
    formats: [syslog]
    programs: [sshd]
    failregex: ['^Failed password for \S+ from <HOST> port \d+ ssh2$']
    threshold: %d
    window: 10m
    ban: %s
`, threshold, ban)
	if rng {
		y += `  - name: neighbours
    range: {v4: 24}
    threshold: 2
    window: 1h
    ban: 2h
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

// authLog writes n failures for each address, 20 s apart, the addresses
// interleaved, and returns the file's path.
func authLog(t *testing.T, fails map[string]int) string {
	t.Helper()
	addrs := make([]string, 0, len(fails))
	for a := range fails {
		addrs = append(addrs, a)
	}
	slices.Sort(addrs)
	var b strings.Builder
	at := time.Date(2025, 11, 8, 22, 0, 0, 0, time.UTC)
	for i := range 10 {
		for _, a := range addrs {
			if i < fails[a] {
				at = at.Add(20 * time.Second)
				fmt.Fprintf(&b, "%s web1 sshd[%d]: Failed password for root from %s port %d ssh2\n", at.Format(time.RFC3339), 100+i, a, 40000+i)
			}
		}
	}
	p := filepath.Join(t.TempDir(), "auth.log")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// countingIt counts the events its file yields.
type countingIt struct {
	f      *sources.File
	events int
}

func (c *countingIt) Next(ev *pipeline.Event) error {
	err := c.f.Next(ev)
	if err == nil {
		c.events++
	}
	return err
}

func open(t *testing.T, path string) *sources.File {
	t.Helper()
	f, err := sources.Open(path, sources.Options{Loc: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// alone replays path through set alone, as `replay --workers 1` does.
func alone(t *testing.T, set *rules.Set, path string) []pipeline.Decision {
	t.Helper()
	rec := &backtest.Recorder{Side: &backtest.Side{}}
	e := pipeline.NewEngine(set, pipeline.Config{Origin: "t"})
	if err := pipeline.Replay(t.Context(), e, []pipeline.Iterator{open(t, path)}, rec); err != nil {
		t.Fatal(err)
	}
	return rec.Side.Bans
}

// TestCompare: a new pack that bans at 3 failures for 1h instead of 5 for
// 10m. The log is read once (each event yielded once) and each side
// decides exactly what a replay of its pack alone decides; the difference
// names the address only the new pack bans with its rule and evidence,
// and the bans whose time and length changed.
func TestCompare(t *testing.T) {
	log := authLog(t, map[string]int{
		"203.0.113.1": 3, // banned only by new
		"203.0.113.2": 5, // both: new sooner and longer
		"203.0.113.3": 2, // neither
	})
	old, new := pack(t, 5, "10m", false), pack(t, 3, "1h", false)
	it := &countingIt{f: open(t, log)}
	oldE, newE := pipeline.NewEngine(old, pipeline.Config{Origin: "t"}), pipeline.NewEngine(new, pipeline.Config{Origin: "t"})
	os_, ns, err := backtest.Compare(t.Context(), oldE, newE, []pipeline.Iterator{it})
	if err != nil {
		t.Fatal(err)
	}
	if it.events != 10 {
		t.Errorf("the log's 10 events were read %d times in all, want once each", it.events)
	}
	for _, c := range []struct {
		name string
		got  []pipeline.Decision
		set  *rules.Set
	}{{"old", os_.Bans, old}, {"new", ns.Bans, new}} {
		want := alone(t, c.set, log)
		if !equalJSON(t, c.got, want) {
			t.Errorf("%s side decided\n%v\nwhat its pack alone decides is\n%v", c.name, c.got, want)
		}
	}
	os_.Rules, ns.Rules = "old.yaml", "new.yaml"
	d := backtest.Differ(os_, ns)
	if len(d.OnlyOld) != 0 {
		t.Errorf("only old: %+v, want none", d.OnlyOld)
	}
	if len(d.OnlyNew) != 1 || d.OnlyNew[0].Target != "203.0.113.1" {
		t.Fatalf("only new: %+v, want 203.0.113.1", d.OnlyNew)
	}
	b := d.OnlyNew[0].Bans[0]
	if b.Rule != "ssh" || b.Duration != 3600 || len(b.Evidence) != 3 || !strings.Contains(b.Evidence[0], "from 203.0.113.1 port") {
		t.Errorf("only new's ban: %+v", b)
	}
	if len(d.Changed) != 1 || d.Changed[0].Target != "203.0.113.2" {
		t.Fatalf("changed: %+v, want 203.0.113.2", d.Changed)
	}
	what := strings.Join(d.Changed[0].What, "; ")
	for _, w := range []string{"length 10m → 1h", "banned at 2025-11-08 22:03:20 → 2025-11-08 22:02:40 (-40s)"} {
		if !strings.Contains(what, w) {
			t.Errorf("changed says %q, want %q in it", what, w)
		}
	}
	want := backtest.RuleDiff{Rule: "ssh", Pack: "t", OldMatches: 10, OldBans: 1, NewMatches: 10, NewBans: 2}
	if len(d.Rules) != 1 || d.Rules[0] != want {
		t.Errorf("rules: %+v, want %+v", d.Rules, want)
	}
	var text bytes.Buffer
	if err := backtest.WriteText(&text, d); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"banned only by new (1):\n  203.0.113.1  ssh (t) at 2025-11-08 22:02:20 for 1h\n", "| 2025-11-08T22:00:20Z web1 sshd[100]: Failed password for root from 203.0.113.1 port 40000 ssh2", "0 only by old, 1 only by new, 1 changed"} {
		if !strings.Contains(text.String(), w) {
			t.Errorf("text output lacks %q:\n%s", w, text.String())
		}
	}
}

// TestCompareRangeCovers: an address only the old side bans on its own is
// noted as held by the new side's range ban of its /24.
func TestCompareRangeCovers(t *testing.T) {
	log := authLog(t, map[string]int{"203.0.113.1": 3, "203.0.113.2": 3, "203.0.113.3": 3})
	oldE := pipeline.NewEngine(pack(t, 3, "1h", false), pipeline.Config{Origin: "t"})
	newE := pipeline.NewEngine(pack(t, 3, "1h", true), pipeline.Config{Origin: "t"})
	os_, ns, err := backtest.Compare(t.Context(), oldE, newE, []pipeline.Iterator{open(t, log)})
	if err != nil {
		t.Fatal(err)
	}
	d := backtest.Differ(os_, ns)
	if len(d.OnlyNew) != 1 || d.OnlyNew[0].Target != "203.0.113.0/24" || d.OnlyNew[0].Bans[0].Rule != "neighbours" {
		t.Fatalf("only new: %+v, want the /24 by neighbours", d.OnlyNew)
	}
	// The third address is banned on its own by old only: new's /24 held it.
	if len(d.OnlyOld) != 1 || d.OnlyOld[0].Target != "203.0.113.3" || d.OnlyOld[0].CoveredBy != "203.0.113.0/24" {
		t.Errorf("only old: %+v, want 203.0.113.3 held by 203.0.113.0/24", d.OnlyOld)
	}
	var rd *backtest.RuleDiff
	for i := range d.Rules {
		if d.Rules[i].Rule == "neighbours" {
			rd = &d.Rules[i]
		}
	}
	if rd == nil || rd.Missing != "old" || rd.NewBans != 1 {
		t.Errorf("neighbours rule diff: %+v, want missing on old, 1 ban on new", rd)
	}
}

// TestPrintable: an evidence line cannot send escape sequences to the
// terminal that prints a comparison.
func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"plain ü":                 "plain ü",
		"a\x1b]0;pwned\x07b":      `a\x1b]0;pwned\x07b`,
		"x\r\nFake line\u009b31m": `x\x0d\x0aFake line\x9b31m`,
	} {
		if got := backtest.Printable(in); got != want {
			t.Errorf("Printable(%q) = %q, want %q", in, got, want)
		}
	}
}

func equalJSON(t *testing.T, a, b any) bool {
	t.Helper()
	x, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(x, y)
}

// TestSourcesWarnShrank: a log truncated in place while it is compared
// is named with what was not read, in the sources' text and the record
// a report is drawn from, as replay's summary names it.
func TestSourcesWarnShrank(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.log")
	var data bytes.Buffer // about 2 MB, well past the read buffer and the cut
	if err := gen.AuthLog(&data, gen.Spec{Lines: 20000, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := sources.Open(path, sources.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ev pipeline.Event
	if err := f.Next(&ev); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, 1<<20); err != nil {
		t.Fatal(err)
	}
	for f.Next(&ev) == nil {
		ev.Reset()
	}
	srcs := backtest.SourcesOf([]*sources.File{f})
	if len(srcs) != 1 || len(srcs[0].Warnings) != 1 || !strings.Contains(srcs[0].Warnings[0], "shrank from") {
		t.Fatalf("sources %+v: want the shrink named", srcs)
	}
	var out bytes.Buffer
	if err := backtest.WriteSources(&out, srcs); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "  warning: "+path+" shrank from") {
		t.Fatalf("WriteSources wrote:\n%s", out.String())
	}
}
