package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
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
}

func (a *app) testCommand() *cobra.Command {
	var o testFlags
	c := &cobra.Command{
		Use:   "test [flags] [PACK|DIR]...",
		Short: "run the tests: blocks of rule packs (default: the built-in ones)",
		Long:  "Runs the tests: blocks of rule packs (default: the built-in packs).",
		RunE: func(c *cobra.Command, names []string) error {
			return o.run(c.Context(), names, a.stdout)
		},
	}
	f := c.Flags()
	rulesFlag(f, &o.rulePaths)
	f.StringVar(&o.only, "run", "", "run only the tests whose pack/name contains this `TEXT`")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "also list the decisions of tests that pass")
	return c
}

// run runs the tests of the packs of --rules and names.
func (o *testFlags) run(ctx context.Context, names []string, stdout io.Writer) error {
	files, err := loadPackFiles(append(o.rulePaths, names...))
	if err != nil {
		return err
	}
	var passed, failed int
	var parseErrs rules.Errors
	for _, pf := range files {
		tests, err := packtest.Parse(pf.Name, pf.Data)
		if es, ok := err.(rules.Errors); ok {
			parseErrs = append(parseErrs, es...)
			continue
		}
		if len(tests) == 0 {
			fmt.Fprintf(stdout, "?    %s: no tests\n", pf.Pack.Name)
			continue
		}
		p, f, err := runPackTests(ctx, stdout, pf, tests, o.only, o.verbose)
		if err != nil {
			return err
		}
		passed, failed = passed+p, failed+f
	}
	fmt.Fprintf(stdout, "%d passed, %d failed\n", passed, failed)
	if len(parseErrs) > 0 {
		return &exitError{code: 2, err: fmt.Errorf("tests refused, %d error(s):\n%w", len(parseErrs), parseErrs)}
	}
	if failed > 0 {
		return &exitError{code: 1, err: fmt.Errorf("%d pack test(s) failed", failed)}
	}
	return nil
}

// runPackTests runs the tests of one pack file and prints their results.
func runPackTests(ctx context.Context, stdout io.Writer, pf ruleset.File, tests []*packtest.Test, only string, verbose bool) (passed, failed int, err error) {
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
					fmt.Fprintf(stdout, "warning: %s: rule %s: no test line matches failregex #%d\n", r.Pos, r.Policy.Name, i+1)
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
