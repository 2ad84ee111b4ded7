package main

import (
	"flag"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strings"

	"github.com/stockade-ids/stockade/rules"
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
		tests, err := packtest.Parse(pf.name, pf.data)
		if es, ok := err.(rules.Errors); ok {
			errs = append(errs, es...)
		} else if len(tests) == 0 {
			warnings++
			fmt.Fprintf(stdout, "warning: %s: pack %s has no tests: (see `stockade test`)\n", pf.name, pf.pack.Name)
		}
		for _, r := range pf.pack.Rules {
			pos := r.Pos
			pos.File = pf.name
			if r.Dialect() == "fail2ban" {
				// fail2ban's filters anchor as their authors chose: say
				// instead which engine runs each regex.
				fmt.Fprintf(stdout, "info: %s: rule %s (dialect fail2ban): %s\n", pos, r.Policy.Name, engineSummary(r))
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

// engineSummary says which engine runs a rule's regexes: RE2 (linear
// time) when the Python pattern translates exactly, regexp2 (backtracking,
// with a time limit) when it needs lookarounds, back references,
// conditionals or Unicode word boundaries.
func engineSummary(r *rules.Rule) string {
	fail, ignore, pref := r.RegexEngines()
	var parts []string
	if pref != "" {
		parts = append(parts, "prefregex on "+pref)
	}
	parts = append(parts, "failregex "+kindList(fail))
	if len(ignore) > 0 {
		parts = append(parts, "ignoreregex "+kindList(ignore))
	}
	return strings.Join(parts, ", ")
}

// kindList writes engine kinds by regex number: "#1-3 re2, #4 regexp2".
func kindList(kinds []string) string {
	var parts []string
	for i := 0; i < len(kinds); {
		j := i
		for j+1 < len(kinds) && kinds[j+1] == kinds[i] {
			j++
		}
		if i == j {
			parts = append(parts, fmt.Sprintf("#%d %s", i+1, kinds[i]))
		} else {
			parts = append(parts, fmt.Sprintf("#%d-%d %s", i+1, j+1, kinds[i]))
		}
		i = j + 1
	}
	return strings.Join(parts, ", ")
}
