package report_test

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/stockade-ids/stockade/backtest"
	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/report"
	"github.com/stockade-ids/stockade/sources"
)

// fuzzRecord puts s wherever a log's text reaches a report: evidence,
// the deciding line's source, a reason, a bad-line reason, a file name.
func fuzzRecord(s string) *backtest.Record {
	at := time.Date(2025, 11, 8, 22, 0, 0, 0, time.UTC)
	ban := pipeline.Decision{Action: pipeline.ActionBan, Target: pipeline.MustTarget("203.0.113.1"), Rule: "r", Pack: "p",
		Reason: "r: " + s, At: at, Duration: 3600, Offense: 1, Source: s, Evidence: []string{s, "x" + s}}
	old := &backtest.Side{Name: "old", Rules: "mine/" + s, Stats: []pipeline.RuleStats{{Rule: "r", Pack: "p", Matches: 1, Bans: 1}}}
	new := &backtest.Side{Name: "new", Rules: "default", Stats: []pipeline.RuleStats{{Rule: "r", Pack: "p", Matches: 1, Bans: 1}}, Bans: []pipeline.Decision{ban}}
	return &backtest.Record{
		Sources: []backtest.Source{{Path: s, Format: "syslog", Lines: 2, Bad: []sources.Reason{{Reason: s, Count: 1}}}},
		Sides:   []*backtest.Side{old, new},
		Diff:    backtest.Differ(old, new),
	}
}

// shape is the page's elements and attribute names, in order: what a
// payload would change if it escaped its text.
func shape(t *testing.T, page []byte) []string {
	t.Helper()
	var out []string
	z := html.NewTokenizer(bytes.NewReader(page))
	for {
		switch z.Next() {
		case html.ErrorToken:
			return out
		case html.StartTagToken, html.EndTagToken, html.SelfClosingTagToken:
			tok := z.Token()
			s := tok.Data
			for _, a := range tok.Attr {
				s += " " + a.Key
			}
			out = append(out, s)
		}
	}
}

// FuzzReportShape: whatever a log line holds, the page has the same
// elements and attributes as with a harmless line: the text never becomes
// markup.
func FuzzReportShape(f *testing.F) {
	for _, p := range payloads {
		f.Add(p)
	}
	f.Add("plain")
	f.Add("<!--")
	f.Add("]]><![CDATA[")
	f.Fuzz(func(t *testing.T, s string) {
		var want, got bytes.Buffer
		if err := report.Write(&want, fuzzRecord("harmless"), report.Options{}); err != nil {
			t.Fatal(err)
		}
		if err := report.Write(&got, fuzzRecord(s), report.Options{}); err != nil {
			t.Fatal(err)
		}
		if a, b := shape(t, want.Bytes()), shape(t, got.Bytes()); !slices.Equal(a, b) {
			i := 0
			for i < min(len(a), len(b)) && a[i] == b[i] {
				i++
			}
			t.Fatalf("%q changed the page's markup at element %d: %q", s, i, strings.Join(b[i:min(len(b), i+3)], " | "))
		}
	})
}
