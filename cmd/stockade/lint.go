package main

import (
	"flag"
	"fmt"
	"io"
	"io/fs"
	"sort"

	"github.com/stockade-ids/stockade/rules"
)

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
	fmt.Fprintf(stdout, "ok: %d packs, %d rules\n", len(set.Packs()), len(set.Rules()))
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
			fmt.Fprintf(stdout, "  %-16s %s\n", r.Policy.Name, r.Policy.Description)
		}
	}
	return nil
}
