package main

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/stockade-ids/stockade/config"
	"github.com/stockade-ids/stockade/internal/yamlnode"
	"github.com/stockade-ids/stockade/rules"
	"github.com/stockade-ids/stockade/rules/packtest"
	"github.com/stockade-ids/stockade/rules/ruleset"
)

// packsFlags are what `packs` and `packs show` read the packs from: the
// daemon's configuration (its rules: and packs:) or --rules.
type packsFlags struct {
	config    string
	rulePaths []string
	out       outputFlags
}

func (o *packsFlags) add(c *cobra.Command) {
	c.Flags().StringVar(&o.config, "config", "", "the daemon's configuration `FILE`: its rules: and packs: say which rules run (default: the built-in packs, as shipped)")
	rulesFlag(c.Flags(), &o.rulePaths)
	o.out.add(c)
}

func (a *app) packsCommand() *cobra.Command {
	var o packsFlags
	c := &cobra.Command{
		Use:   "packs [--config FILE] [--rules PATH]...",
		Short: "list the rule packs, their rules, and which run and why",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			asJSON, err := o.out.asJSON()
			if err != nil {
				return a.usageError(c, err)
			}
			packs, err := o.load()
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.stdout, packs)
			}
			listPacks(a.stdout, packs)
			return nil
		},
	}
	o.add(c)
	var so packsFlags
	show := &cobra.Command{
		Use:   "show NAME",
		Short: "print a pack's rules: thresholds, windows, bans, formats, programs, tests",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			asJSON, err := so.out.asJSON()
			if err != nil {
				return a.usageError(c, err)
			}
			packs, err := so.load()
			if err != nil {
				return err
			}
			p, err := findPack(packs, args[0])
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.stdout, p)
			}
			showPack(a.stdout, p)
			return nil
		},
	}
	so.add(show)
	c.AddCommand(show)
	return c
}

// packInfo is a pack as `packs -o json` lists it.
type packInfo struct {
	Name        string     `json:"name"`
	File        string     `json:"file"`
	Description string     `json:"description"`
	Formats     []string   `json:"formats"`
	Tests       int        `json:"tests"`
	Rules       []ruleInfo `json:"rules"`
}

type ruleInfo struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// Off: the rule judges nothing until a pack's enable: names it.
	Off bool `json:"off,omitempty"`
	// On and Why: whether the rule runs with this configuration, and why
	// (default, off by default, enabled by config, disabled by config,
	// enabled by pack P, not selected by config).
	On        bool     `json:"on"`
	Why       string   `json:"why"`
	Formats   []string `json:"formats"`
	Programs  []string `json:"programs,omitempty"`
	Sources   []string `json:"sources,omitempty"`
	Threshold int      `json:"threshold"`
	Window    string   `json:"window,omitempty"`
	Ban       string   `json:"ban"`
	Escalate  string   `json:"escalate,omitempty"`
	Simulate  bool     `json:"simulate,omitempty"`
	// Allowlist: not a rule but ranges no rule bans while on.
	Allowlist bool     `json:"allowlist,omitempty"`
	Ranges    []string `json:"ranges,omitempty"`
}

// load loads the packs as the daemon would, with every rule's state.
func (o *packsFlags) load() ([]packInfo, error) {
	paths, sel := o.rulePaths, rules.Selection{}
	if o.config != "" {
		c, err := config.Load(o.config)
		if err != nil {
			return nil, &exitError{code: 2, err: err}
		}
		if len(paths) == 0 {
			paths = c.Rules
		}
		sel = c.Packs
	}
	files, err := ruleset.Files(paths)
	if err != nil {
		return nil, &exitError{code: 2, err: err}
	}
	packs := make([]*rules.Pack, len(files))
	for i, f := range files {
		packs[i] = f.Pack
	}
	_, states, err := rules.Select(packs, sel)
	if err != nil {
		return nil, &exitError{code: 2, err: fmt.Errorf("packs: refused:\n%w", err)}
	}
	out := make([]packInfo, 0, len(files))
	k := 0
	for _, f := range files {
		pi := packInfo{Name: f.Pack.Name, File: f.Name, Description: strings.TrimSpace(f.Pack.Description), Formats: []string{}, Rules: []ruleInfo{}}
		if ts, err := packtest.Parse(f.Name, f.Data); err == nil {
			pi.Tests = len(ts)
		}
		for _, r := range f.Pack.Rules {
			ri := describeRule(r)
			ri.On, ri.Why = states[k].On, states[k].Why
			k++
			pi.Rules = append(pi.Rules, ri)
			for _, fm := range ri.Formats {
				if !slices.Contains(pi.Formats, fm) {
					pi.Formats = append(pi.Formats, fm)
				}
			}
		}
		for _, a := range f.Pack.Allowlists {
			ri := ruleInfo{Name: a.Name, Description: a.Description, Off: a.Off, Allowlist: true, Formats: []string{}}
			for _, r := range a.Ranges {
				ri.Ranges = append(ri.Ranges, r.String())
			}
			ri.On, ri.Why = states[k].On, states[k].Why
			k++
			pi.Rules = append(pi.Rules, ri)
		}
		out = append(out, pi)
	}
	return out, nil
}

func describeRule(r *rules.Rule) ruleInfo {
	p := r.Policy
	ri := ruleInfo{Name: p.Name, Description: p.Description, Off: r.Off, Formats: []string{},
		Programs: r.Programs, Sources: r.Sources, Threshold: p.Threshold, Ban: fmtDuration(p.Ban), Simulate: p.Simulate}
	for _, f := range r.Formats {
		ri.Formats = append(ri.Formats, f.String())
	}
	if p.Threshold > 1 {
		ri.Window = fmtDuration(p.Window)
	}
	if e := p.Escalate; e != nil {
		switch {
		case e.Formula != nil:
			ri.Escalate = "formula"
		case len(e.Multipliers) > 0:
			ri.Escalate = fmt.Sprintf("multipliers %v", e.Multipliers)
		default:
			ri.Escalate = fmt.Sprintf("×%g per offense", e.Factor)
		}
		if e.Max > 0 {
			ri.Escalate += ", at most " + fmtDuration(e.Max)
		}
	}
	return ri
}

// fmtDuration writes a duration as a pack does: 10m, 1h, 7d, 1w.
func fmtDuration(d time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case d%(7*24*time.Hour) == 0:
		return fmt.Sprintf("%dw", d/(7*24*time.Hour))
	case d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.String()
}

// findPack is the pack named name; an unknown name is bad usage, with the
// pack probably meant.
func findPack(packs []packInfo, name string) (packInfo, error) {
	var names []string
	for _, p := range packs {
		if p.Name == name {
			return p, nil
		}
		names = append(names, p.Name)
	}
	for _, p := range packs {
		for _, r := range p.Rules {
			if r.Name == name {
				return p, nil // a rule's name shows its pack
			}
		}
	}
	msg := fmt.Sprintf("packs show: no pack %q (stockade packs lists them)", name)
	if s := yamlnode.Suggest(name, names); s != "" {
		msg = fmt.Sprintf("packs show: no pack %q; did you mean %s?", name, s)
	}
	return packInfo{}, &exitError{code: 2, err: errors.New(msg)}
}

// listPacks lists packs and their rules, each rule on or off and why.
func listPacks(w io.Writer, packs []packInfo) {
	for _, p := range packs {
		fmt.Fprintf(w, "%s (%s, %s; %d tests): %s\n", p.Name, p.File, formatsOf(p), p.Tests, p.Description)
		for _, r := range p.Rules {
			state := "on "
			if !r.On {
				state = "off"
			}
			fmt.Fprintf(w, "  %s %-22s %-24s %s\n", state, r.Name, "("+r.Why+")", r.Description)
		}
	}
}

// formatsOf is a pack's formats as text; a pack of allowlists alone
// reads none and spares addresses in all.
func formatsOf(p packInfo) string {
	if len(p.Formats) == 0 {
		return "any format"
	}
	return strings.Join(p.Formats, ", ")
}

// showPack prints one pack, a block per rule.
func showPack(w io.Writer, p packInfo) {
	fmt.Fprintf(w, "pack %s (%s)\n  %s\n  formats: %s\n  tests: %d\n", p.Name, p.File, p.Description, formatsOf(p), p.Tests)
	for _, r := range p.Rules {
		state := "on"
		if !r.On {
			state = "off"
		}
		if r.Allowlist {
			fmt.Fprintf(w, "\nallowlist %s: %s (%s)\n  %s\n  never banned: %s\n", r.Name, state, r.Why, r.Description, strings.Join(r.Ranges, ", "))
			continue
		}
		fmt.Fprintf(w, "\nrule %s: %s (%s)\n  %s\n", r.Name, state, r.Why, r.Description)
		when := "1 match"
		if r.Threshold > 1 {
			when = fmt.Sprintf("%d matches within %s", r.Threshold, r.Window)
		}
		fmt.Fprintf(w, "  bans: %s -> %s", when, r.Ban)
		if r.Escalate != "" {
			fmt.Fprintf(w, " (escalating %s)", r.Escalate)
		}
		fmt.Fprintln(w)
		fmt.Fprintf(w, "  formats: %s\n", strings.Join(r.Formats, ", "))
		if len(r.Programs) > 0 {
			fmt.Fprintf(w, "  programs: %s\n", strings.Join(r.Programs, ", "))
		}
		if len(r.Sources) > 0 {
			fmt.Fprintf(w, "  sources: %s\n", strings.Join(r.Sources, ", "))
		}
		if r.Simulate {
			fmt.Fprintln(w, "  mode: simulate")
		}
	}
}
