package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/internal/gen"
)

// TestReplayWorkersDecideAlike replays one host's logs (auth.log, an
// access log, eve.json and fast.log over the same hours, plus the sample
// corpus with its fail2ban log) with one worker and with several: the
// decisions must be the same bytes in the same order, and the summary the
// same counts.
func TestReplayWorkersDecideAlike(t *testing.T) {
	dir := t.TempDir()
	const n = 20_000
	span := n * 40 * time.Millisecond
	logs := []struct {
		name  string
		write func(io.Writer) error
	}{
		{"auth.log", func(w io.Writer) error {
			return gen.AuthLog(w, gen.Spec{Lines: n, Seed: 1, Span: span, Attackers: 500})
		}},
		{"access.log", func(w io.Writer) error { return gen.Nginx(w, gen.Spec{Lines: n, Seed: 2, Span: span, Attackers: 300}) }},
		{"eve.json", func(w io.Writer) error {
			return gen.Eve(w, gen.Spec{Lines: n, Seed: 3, Span: span, Attackers: 500, AlertPercent: 20})
		}},
		{"fast.log", func(w io.Writer) error {
			return gen.FastLog(w, gen.Spec{Lines: n / 4, Seed: 4, Span: span, Attackers: 500})
		}},
	}
	var files []string
	for _, l := range logs {
		p := filepath.Join(dir, l.name)
		var b bytes.Buffer
		if err := l.write(&b); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		mt := gen.Start.AddDate(0, 1, 0)
		if err := os.Chtimes(p, mt, mt); err != nil {
			t.Fatal(err)
		}
		files = append(files, p)
	}
	files = append(files, corpusPaths()...)

	for _, extra := range [][]string{nil, {"--unbans"}, {"--unbans", "--max-windows", "2000"}} {
		run := func(workers string) (string, string) {
			t.Helper()
			var stdout, stderr bytes.Buffer
			args := append([]string{"replay", "--origin", "test", "--tz", "UTC", "--workers", workers}, extra...)
			if err := run(t.Context(), append(args, files...), &stdout, &stderr); err != nil {
				t.Fatalf("replay --workers %s: %v\n%s", workers, err, stderr.String())
			}
			// The last paragraph times the run.
			summary := stderr.String()
			summary = summary[:strings.LastIndex(strings.TrimRight(summary, "\n"), "\n")]
			return stdout.String(), summary
		}
		want, wantSummary := run("1")
		if strings.Count(want, "\n") < 500 {
			t.Fatalf("%v: %d decisions: too few to compare", extra, strings.Count(want, "\n"))
		}
		for _, workers := range []string{"2", "3", "5"} {
			got, summary := run(workers)
			if got != want {
				t.Errorf("%v: --workers %s wrote other decisions than --workers 1 (%d lines, want %d)",
					extra, workers, strings.Count(got, "\n"), strings.Count(want, "\n"))
			}
			if summary != wantSummary {
				t.Errorf("%v: --workers %s summary:\n%s\nwant:\n%s", extra, workers, summary, wantSummary)
			}
		}
	}
}
