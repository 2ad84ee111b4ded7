package main

import (
	"flag"
	"fmt"
	"io"
	"io/fs"
	"sort"

	"github.com/stockade-ids/stockade/rules"
	"github.com/stockade-ids/stockade/rules/explain"
	"github.com/stockade-ids/stockade/rules/packtest"
)

// lintCmd loads and validates packs: every error with its position (exit
// 2, like any command given a bad pack), then warnings that do not fail:
// a failregex not anchored at both ends, a pack without tests.
func lintCmd(args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("lint", flag.ContinueOnError)
	fl.SetOutput(stderr)
	var rulePaths listFlag
	fl.Var(&rulePaths, "rules", "rule pack file or directory (repeatable; `default` = the built-in packs)")
	if err := fl.Parse(args); err != nil {
		return errHelp
	}
	rulePaths = append(rulePaths, fl.Args()...)
	set, err := loadRules(rulePaths)
	if err != nil {
		return err
	}
	files, err := loadPackFiles(rulePaths)
	if err != nil {
		return err
	}
	var errs rules.Errors
	warnings := 0
	for _, pf := range files {
		tests, err := packtest.Parse(pf.Name, pf.Data)
		if es, ok := err.(rules.Errors); ok {
			errs = append(errs, es...)
		} else if len(tests) == 0 {
			warnings++
			fmt.Fprintf(stdout, "warning: %s: pack %s has no tests: (see `stockade test`)\n", pf.Name, pf.Pack.Name)
		}
		for _, r := range pf.Pack.Rules {
			pos := r.Pos
			pos.File = pf.Name
			if r.Dialect() == "fail2ban" {
				// fail2ban's filters anchor as their authors chose: say
				// instead which engine runs each regex.
				fmt.Fprintf(stdout, "info: %s: rule %s (dialect fail2ban): %s\n", pos, r.Policy.Name, explain.Engines(r))
				continue
			}
			for i, re := range r.FailRegexes() {
				if !rules.Anchored(re) {
					warnings++
					fmt.Fprintf(stdout, "warning: %s: rule %s: failregex #%d is not anchored with ^ and $: text an attacker writes later on the line could choose the target\n",
						pos, r.Policy.Name, i+1)
				}
			}
		}
	}
	if len(errs) > 0 {
		return &exitError{code: 2, err: fmt.Errorf("pack tests refused, %d error(s):\n%w", len(errs), errs)}
	}
	fmt.Fprintf(stdout, "ok: %d packs, %d rules", len(set.Packs()), len(set.Rules()))
	if warnings > 0 {
		fmt.Fprintf(stdout, ", %d warning(s)", warnings)
	}
	fmt.Fprintln(stdout)
	return nil
}

func packsCmd(stdout io.Writer) error {
	names, _ := fs.Glob(rules.DefaultFS(), "*.yaml")
	sort.Strings(names)
	set, err := loadRules(nil)
	if err != nil {
		return err
	}
	for _, p := range set.Packs() {
		fmt.Fprintf(stdout, "%s (rules/packs/%s): %s\n", p.Name, p.File, p.Description)
		for _, r := range p.Rules {
			off := ""
			if r.Off {
				off = " (off: a pack's enable: turns it on)"
			}
			fmt.Fprintf(stdout, "  %-16s %s%s\n", r.Policy.Name, r.Policy.Description, off)
		}
	}
	return nil
}
