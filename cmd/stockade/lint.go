package main

import (
	"encoding/json"
	"fmt"
	"io"
	"path"

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
	c := &cobra.Command{
		Use:   "lint [--rules PATH]... [PATH]...",
		Short: "load rule packs and report every error, then warnings",
		RunE: func(c *cobra.Command, args []string) error {
			return lint(append(rulePaths, args...), a.stdout)
		},
	}
	rulesFlag(c.Flags(), &rulePaths)
	return c
}

// lint lints the packs of rulePaths.
func lint(rulePaths []string, stdout io.Writer) error {
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

func (a *app) packsCommand() *cobra.Command {
	var format string
	c := &cobra.Command{
		Use:   "packs",
		Short: "list the built-in rule packs and their rules",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if format != "text" && format != "json" {
				return a.usageError(c, fmt.Errorf("-o: want text or json, not %q", format))
			}
			return listPacks(a.stdout, format == "json")
		},
	}
	c.Flags().StringVarP(&format, "format", "o", "text", "`FORMAT`: text or json")
	return c
}

// packInfo is a built-in pack as `packs -o json` lists it.
type packInfo struct {
	Name        string     `json:"name"`
	File        string     `json:"file"`
	Description string     `json:"description"`
	Rules       []ruleInfo `json:"rules"`
}

type ruleInfo struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// Off: the rule judges nothing until a pack's enable: names it.
	Off bool `json:"off,omitempty"`
}

// listPacks lists the built-in packs and their rules.
func listPacks(stdout io.Writer, asJSON bool) error {
	set, err := loadRules(nil)
	if err != nil {
		return err
	}
	packs := []packInfo{}
	for _, p := range set.Packs() {
		pi := packInfo{Name: p.Name, File: path.Join("rules/packs", p.File), Description: p.Description}
		for _, r := range p.Rules {
			pi.Rules = append(pi.Rules, ruleInfo{Name: r.Policy.Name, Description: r.Policy.Description, Off: r.Off})
		}
		packs = append(packs, pi)
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(packs)
	}
	for _, p := range packs {
		fmt.Fprintf(stdout, "%s (%s): %s\n", p.Name, p.File, p.Description)
		for _, r := range p.Rules {
			off := ""
			if r.Off {
				off = " (off: a pack's enable: turns it on)"
			}
			fmt.Fprintf(stdout, "  %-16s %s%s\n", r.Name, r.Description, off)
		}
	}
	return nil
}
