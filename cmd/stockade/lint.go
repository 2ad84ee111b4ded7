package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"github.com/stockade-ids/stockade/rules"
	"github.com/stockade-ids/stockade/rules/explain"
	"github.com/stockade-ids/stockade/rules/packtest"
)

// lintCommand loads and validates packs: every error with its position
// (exit 2, like any command given a bad pack), then warnings that do not
// fail: a failregex not anchored at both ends, a pack without tests.
func (a *app) lintCommand() *cobra.Command {
	var rulePaths []string
	var o outputFlags
	c := &cobra.Command{
		Use:   "lint [--rules PATH]... [PATH]...",
		Short: "load rule packs and report every error, then warnings",
		RunE: func(c *cobra.Command, args []string) error {
			asJSON, err := o.asJSON()
			if err != nil {
				return err
			}
			paths := append(rulePaths, args...)
			if asJSON {
				return lintJSON(paths, a.stdout)
			}
			return lint(paths, a.stdout)
		},
	}
	rulesFlag(c.Flags(), &rulePaths)
	o.add(c)
	return c
}

// outputFlags are -o/--format and --json, the same shape as the control
// commands' (ctlFlags): every listing command says text or json alike.
type outputFlags struct {
	format string
	json   bool
}

func (o *outputFlags) add(c *cobra.Command) {
	f := c.Flags()
	f.StringVarP(&o.format, "format", "o", "text", "output `FORMAT`: text or json")
	f.BoolVar(&o.json, "json", false, "print the output as JSON (-o json)")
	_ = c.RegisterFlagCompletionFunc("format", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
}

// asJSON is whether JSON is wanted; a format other than text or json is
// bad usage.
func (o *outputFlags) asJSON() (bool, error) {
	switch o.format {
	case "text", "json":
		return o.json || o.format == "json", nil
	}
	return false, &exitError{code: 2, err: fmt.Errorf("-o: want text or json, not %q", o.format)}
}

// writeJSON writes v as one indented JSON document.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// lintReport is `lint -o json`: every error, every warning, and on
// success the counts text prints after "ok:".
type lintReport struct {
	OK       bool          `json:"ok"`
	Packs    int           `json:"packs"`
	Rules    int           `json:"rules"`
	Errors   []lintError   `json:"errors"`
	Warnings []lintWarning `json:"warnings"`
	Info     []lintWarning `json:"info,omitempty"`

	loaded bool
}

type lintError struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Col     int    `json:"col"`
	Message string `json:"message"`
}

// lintWarning is a warning or info: rule names which check said it
// (no-tests, unanchored, engines), so tools can filter.
type lintWarning struct {
	File    string `json:"file"`
	Line    int    `json:"line,omitempty"`
	Col     int    `json:"col,omitempty"`
	Rule    string `json:"rule"`
	Message string `json:"message"`
}

// lintJSON lints like lint and writes the report as JSON to stdout, also
// when the packs have errors (exit 2 all the same).
func lintJSON(rulePaths []string, stdout io.Writer) error {
	rep := lintReport{Errors: []lintError{}, Warnings: []lintWarning{}}
	findings, err := lintCheck(rulePaths, &rep)
	for _, f := range findings {
		w := lintWarning{File: f.pos.File, Line: f.pos.Line, Col: f.pos.Col, Rule: f.rule, Message: f.msg}
		if f.kind == "info" {
			rep.Info = append(rep.Info, w)
		} else {
			rep.Warnings = append(rep.Warnings, w)
		}
	}
	var es rules.Errors
	if ee, ok := err.(*exitError); ok && errors.As(ee.err, &es) {
		for _, e := range es {
			rep.Errors = append(rep.Errors, lintError{File: e.Pos.File, Line: e.Pos.Line, Col: e.Pos.Col, Message: e.Msg})
		}
	} else if err != nil {
		rep.Errors = append(rep.Errors, lintError{Message: err.Error()})
	}
	rep.OK = len(rep.Errors) == 0
	if werr := writeJSON(stdout, rep); werr != nil {
		return werr
	}
	if err != nil {
		return &exitError{code: 2, err: fmt.Errorf("packs refused, %d error(s)", len(rep.Errors))}
	}
	return nil
}

// lintFinding is a warning or an info line of lint.
type lintFinding struct {
	kind  string    // warning or info
	where string    // the position as text prints it
	pos   rules.Pos // where: file only for a pack-wide finding
	rule  string    // the check: no-tests, unanchored, engines
	msg   string
}

// lint lints the packs of rulePaths, as text.
func lint(rulePaths []string, stdout io.Writer) error {
	var rep lintReport
	findings, err := lintCheck(rulePaths, &rep)
	if err != nil && !rep.loaded {
		return err
	}
	warnings := 0
	for _, f := range findings {
		fmt.Fprintf(stdout, "%s: %s: %s\n", f.kind, f.where, f.msg)
		if f.kind == "warning" {
			warnings++
		}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "ok: %d packs, %d rules", rep.Packs, rep.Rules)
	if warnings > 0 {
		fmt.Fprintf(stdout, ", %d warning(s)", warnings)
	}
	fmt.Fprintln(stdout)
	return nil
}

// lintCheck loads the packs of rulePaths and returns lint's findings, in
// file order; the error is the packs' (load or tests: blocks). rep gets
// the counts, and loaded once the packs loaded.
func lintCheck(rulePaths []string, rep *lintReport) ([]lintFinding, error) {
	set, err := loadRules(rulePaths)
	if err != nil {
		return nil, err
	}
	files, err := loadPackFiles(rulePaths)
	if err != nil {
		return nil, err
	}
	rep.loaded = true
	rep.Packs, rep.Rules = len(set.Packs()), len(set.Rules())
	var errs rules.Errors
	var out []lintFinding
	for _, pf := range files {
		tests, err := packtest.Parse(pf.Name, pf.Data)
		if es, ok := err.(rules.Errors); ok {
			errs = append(errs, es...)
		} else if len(tests) == 0 {
			out = append(out, lintFinding{kind: "warning", where: pf.Name, pos: rules.Pos{File: pf.Name}, rule: "no-tests",
				msg: fmt.Sprintf("pack %s has no tests: (see `stockade test`)", pf.Pack.Name)})
		}
		for _, r := range pf.Pack.Rules {
			pos := r.Pos
			pos.File = pf.Name
			if r.Dialect() == "fail2ban" {
				// fail2ban's filters anchor as their authors chose: say
				// instead which engine runs each regex.
				out = append(out, lintFinding{kind: "info", where: pos.String(), pos: pos, rule: "engines",
					msg: fmt.Sprintf("rule %s (dialect fail2ban): %s", r.Policy.Name, explain.Engines(r))})
				continue
			}
			for i, re := range r.FailRegexes() {
				if !rules.Anchored(re) {
					out = append(out, lintFinding{kind: "warning", where: pos.String(), pos: pos, rule: "unanchored",
						msg: fmt.Sprintf("rule %s: failregex #%d is not anchored with ^ and $: text an attacker writes later on the line could choose the target", r.Policy.Name, i+1)})
				}
			}
		}
	}
	if len(errs) > 0 {
		return out, &exitError{code: 2, err: fmt.Errorf("pack tests refused, %d error(s):\n%w", len(errs), errs)}
	}
	return out, nil
}
