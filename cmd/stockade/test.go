package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/rules"
	"github.com/stockade-ids/stockade/rules/packtest"
	"github.com/stockade-ids/stockade/rules/ruleset"
)

// loadPackFiles is ruleset.Files; a pack that does not load is bad usage.
func loadPackFiles(paths []string) ([]ruleset.File, error) {
	files, err := ruleset.Files(paths)
	if err != nil {
		return nil, &exitError{code: 2, err: err}
	}
	return files, nil
}

// testFlags are test's flags.
type testFlags struct {
	rulePaths []string
	only      string
	verbose   bool
	out       outputFlags
	cfg       daemonConfig
}

// testReport is `test -o json`: per pack, per test, whether it passed,
// why not, and the decisions it made.
type testReport struct {
	OK     bool          `json:"ok"`
	Passed int           `json:"passed"`
	Failed int           `json:"failed"`
	Errors []lintError   `json:"errors"` // tests: blocks that do not parse
	Packs  []packResults `json:"packs"`
}

type packResults struct {
	Pack string `json:"pack"`
	File string `json:"file"`
	// Skipped: --config's packs: runs no rule of the pack, and why.
	Skipped  string       `json:"skipped,omitempty"`
	Tests    []testResult `json:"tests"`
	Warnings []string     `json:"warnings,omitempty"`
}

type testResult struct {
	Name      string         `json:"name"`
	File      string         `json:"file"`
	Line      int            `json:"line"`
	Passed    bool           `json:"passed"`
	Failures  []lintError    `json:"failures,omitempty"`
	Decisions []testDecision `json:"decisions"`
}

// testDecision is a decision and the sample line that caused it.
type testDecision struct {
	pipeline.Decision
	Line string `json:"line"` // file:line:col of the sample line
}

func (a *app) testCommand() *cobra.Command {
	var o testFlags
	c := &cobra.Command{
		Use:   "test [flags] [PACK|DIR]...",
		Short: "run the tests: blocks of rule packs (default: the built-in ones)",
		Long: `Runs the tests: blocks of rule packs (default: the built-in packs).
With --config, the packs of the daemon's configuration (its rules:, and the
PACK arguments); a pack its packs: runs no rule of is skipped, and a name of
packs: that no pack has is an error at its place in the file. Each test
judges its pack as written: which rules the configuration turns on is for
replay --config and explain --config to show.`,
		RunE: func(c *cobra.Command, names []string) error {
			asJSON, err := o.out.asJSON()
			if err != nil {
				return err
			}
			if err := o.cfg.load(c.Flags(), judgeOptions{rulePaths: &o.rulePaths}); err != nil {
				return err
			}
			if asJSON {
				return o.runJSON(c.Context(), names, a.stdout)
			}
			return o.run(c.Context(), names, a.stdout, nil)
		},
	}
	o.out.add(c)
	f := c.Flags()
	o.cfg.flag(f)
	rulesFlag(f, &o.rulePaths)
	f.StringVar(&o.only, "run", "", "run only the tests whose pack/name contains this `TEXT`")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "also list the decisions of tests that pass")
	return c
}

// runJSON runs the tests like run and writes the report as JSON to
// stdout, also when tests fail (exit 1) or do not parse (exit 2).
func (o *testFlags) runJSON(ctx context.Context, names []string, stdout io.Writer) error {
	rep := &testReport{Errors: []lintError{}, Packs: []packResults{}}
	err := o.run(ctx, names, io.Discard, rep)
	var ee *exitError
	if err != nil && !errors.As(err, &ee) {
		return err // cancelled
	}
	if ee != nil && len(rep.Errors) == 0 && rep.Failed == 0 {
		// The packs did not load: no test ran.
		var es rules.Errors
		if !errors.As(ee.err, &es) {
			es = rules.Errors{{Msg: ee.err.Error()}}
		}
		for _, e := range es {
			rep.Errors = append(rep.Errors, lintError{File: e.Pos.File, Line: e.Pos.Line, Col: e.Pos.Col, Message: e.Msg})
		}
	}
	rep.OK = err == nil
	if werr := writeJSON(stdout, rep); werr != nil {
		return werr
	}
	return err
}

// run runs the tests of the packs of --rules and names; rep, if not nil,
// gets every result.
func (o *testFlags) run(ctx context.Context, names []string, stdout io.Writer, rep *testReport) error {
	files, err := loadPackFiles(append(o.rulePaths, names...))
	if err != nil {
		return err
	}
	skip, err := ruleset.Unselected(files, o.cfg.sel)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	var passed, failed int
	var parseErrs rules.Errors
	for _, pf := range files {
		if why, ok := skip[pf.Pack]; ok {
			fmt.Fprintf(stdout, "skip %s: no rule runs with %s (%s)\n", pf.Pack.Name, o.cfg.path, why)
			if rep != nil {
				rep.Packs = append(rep.Packs, packResults{Pack: pf.Pack.Name, File: pf.Name, Skipped: why, Tests: []testResult{}})
			}
			continue
		}
		tests, err := packtest.Parse(pf.Name, pf.Data)
		if es, ok := err.(rules.Errors); ok {
			parseErrs = append(parseErrs, es...)
			continue
		}
		var pr *packResults
		if rep != nil {
			rep.Packs = append(rep.Packs, packResults{Pack: pf.Pack.Name, File: pf.Name, Tests: []testResult{}})
			pr = &rep.Packs[len(rep.Packs)-1]
		}
		if len(tests) == 0 {
			fmt.Fprintf(stdout, "?    %s: no tests\n", pf.Pack.Name)
			continue
		}
		p, f, err := runPackTests(ctx, stdout, pf, tests, o, pr)
		if err != nil {
			return err
		}
		passed, failed = passed+p, failed+f
	}
	fmt.Fprintf(stdout, "%d passed, %d failed\n", passed, failed)
	if rep != nil {
		rep.Passed, rep.Failed = passed, failed
		for _, e := range parseErrs {
			rep.Errors = append(rep.Errors, lintError{File: e.Pos.File, Line: e.Pos.Line, Col: e.Pos.Col, Message: e.Msg})
		}
	}
	if len(parseErrs) > 0 {
		return &exitError{code: 2, err: fmt.Errorf("tests refused, %d error(s):\n%w", len(parseErrs), parseErrs)}
	}
	if failed > 0 {
		return &exitError{code: 1, err: fmt.Errorf("%d pack test(s) failed", failed)}
	}
	return nil
}

// runPackTests runs the tests of one pack file and prints their results;
// pr, if not nil, gets them.
func runPackTests(ctx context.Context, stdout io.Writer, pf ruleset.File, tests []*packtest.Test, o *testFlags, pr *packResults) (passed, failed int, err error) {
	only, verbose := o.only, o.verbose
	regexHits := map[string][]int{}
	for _, t := range tests {
		if err := ctx.Err(); err != nil {
			return passed, failed, err
		}
		id := pf.Pack.Name + "/" + t.Name
		if only != "" && !strings.Contains(id, only) {
			continue
		}
		res := t.Run(pf.Pack, time.Time{})
		for rule, hits := range res.Regex {
			if regexHits[rule] == nil {
				regexHits[rule] = make([]int, len(hits))
			}
			for i, n := range hits {
				regexHits[rule][i] += n
			}
		}
		if pr != nil {
			pr.Tests = append(pr.Tests, resultOf(t, res))
		}
		if res.Passed() {
			passed++
			fmt.Fprintf(stdout, "ok   %s\n", id)
			if verbose {
				printDecisions(stdout, res)
			}
			continue
		}
		failed++
		fmt.Fprintf(stdout, "FAIL %s:%d: %s\n", t.Pos.File, t.Pos.Line, id)
		for _, f := range res.Failures {
			fmt.Fprintf(stdout, "    %s\n", f.Error())
		}
		printDecisions(stdout, res)
	}
	if only == "" {
		// fail2ban asks a sample line of every filter regex: say which
		// have none (a warning: only the built-in packs must).
		for _, r := range pf.Pack.Rules {
			for i, n := range regexHits[r.Policy.Name] {
				if n == 0 {
					w := fmt.Sprintf("%s: rule %s: no test line matches failregex #%d", r.Pos, r.Policy.Name, i+1)
					fmt.Fprintf(stdout, "warning: %s\n", w)
					if pr != nil {
						pr.Warnings = append(pr.Warnings, w)
					}
				}
			}
		}
	}
	return passed, failed, nil
}

func printDecisions(w io.Writer, res *packtest.Result) {
	if len(res.Decisions) == 0 {
		if !res.Passed() {
			fmt.Fprintln(w, "    decisions: none")
		}
		return
	}
	fmt.Fprintf(w, "    decisions (%d):\n", len(res.Decisions))
	for _, d := range res.Decisions {
		fmt.Fprintf(w, "      %s\n", d.String())
	}
}

// resultOf is test t's result as `test -o json` reports it.
func resultOf(t *packtest.Test, res *packtest.Result) testResult {
	tr := testResult{Name: t.Name, File: t.Pos.File, Line: t.Pos.Line, Passed: res.Passed(), Decisions: []testDecision{}}
	for _, f := range res.Failures {
		tr.Failures = append(tr.Failures, lintError{File: f.Pos.File, Line: f.Pos.Line, Col: f.Pos.Col, Message: f.Msg})
	}
	for _, d := range res.Decisions {
		tr.Decisions = append(tr.Decisions, testDecision{Decision: d.Decision, Line: d.Line.String()})
	}
	return tr
}
