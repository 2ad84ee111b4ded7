package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/stockade-ids/stockade/control"
	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/pipeline/guard"
	"github.com/stockade-ids/stockade/sources/blocklist"
)

// The operator's listing and allowlist commands:
//
//	stockade bans [ADDR|CIDR] [--rule R] [--origin O] [--since D] [--simulated] [--evidence] [-o json]
//	stockade bans import FILE [--origin NAME] [--for D]
//	stockade history ADDR|CIDR [-o json]
//	stockade allow add|del|list [CIDR] [--for D] [--comment TEXT] [-o json]

func (a *app) bansCommand() *cobra.Command {
	var o ctlFlags
	var req control.Request
	var evidence bool
	c := &cobra.Command{
		Use:   "bans [ADDR|CIDR] [flags]",
		Short: "every active ban with its rule, origin, time left and evidence",
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) > 1 {
				return a.usageError(c, usageError("stockade bans [ADDR|CIDR] [--rule R] [--origin O] [--since D] [--simulated] [-o json]"))
			}
			r := req
			r.Op = "bans"
			if len(args) == 1 {
				r.Target = args[0]
			}
			return a.opsDo(c, &o, r, evidence || r.Target != "")
		},
	}
	o.add(c)
	f := c.Flags()
	f.StringVar(&req.Rule, "rule", "", "only the bans of rule `NAME`")
	_ = c.RegisterFlagCompletionFunc("rule", o.completeRules)
	f.StringVar(&req.Origin, "origin", "", "only the bans of `ORIGIN` (operator, list:NAME, a sensor)")
	f.StringVar(&req.Since, "since", "", "only the bans decided within `DURATION`, e.g. 1h")
	f.BoolVar(&req.Simulated, "simulated", false, "the bans of rules in mode: simulate, never enforced")
	f.BoolVar(&evidence, "evidence", false, "print each ban's evidence lines (always with an address)")
	c.AddCommand(a.bansImportCommand())
	return c
}

func (a *app) bansImportCommand() *cobra.Command {
	var o ctlFlags
	var name, dur string
	c := &cobra.Command{
		Use:   "import FILE [--origin NAME] [--for DURATION]",
		Short: "ban a list (plain, FireHOL netset, Spamhaus DROP) under list:NAME",
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) != 1 {
				return a.usageError(c, usageError("stockade bans import FILE [--origin NAME] [--for D]"))
			}
			req, err := importRequest(args[0], name, dur, a.stderr)
			if err != nil {
				return err
			}
			return a.opsDo(c, &o, req, false)
		},
	}
	o.add(c)
	c.Flags().StringVar(&name, "origin", "", "the list's `NAME` (its bans are under list:NAME)")
	c.Flags().StringVar(&dur, "for", "", "how long the bans last, `DURATION` (default 24h)")
	return c
}

func (a *app) historyCommand() *cobra.Command {
	var o ctlFlags
	c := &cobra.Command{
		Use:   "history ADDR|CIDR",
		Short: "every decision about an address",
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) != 1 {
				return a.usageError(c, usageError("stockade history ADDR|CIDR [-o json]"))
			}
			return a.opsDo(c, &o, control.Request{Op: "history", Target: args[0]}, false)
		},
	}
	o.add(c)
	return c
}

func (a *app) allowCommand() *cobra.Command {
	usage := usageError("stockade allow add CIDR [--for D] [--comment TEXT] | allow del CIDR | allow list")
	c := &cobra.Command{
		Use:   "allow add|del|list [CIDR]",
		Short: "the runtime allowlist (adding lifts the bans it covers)",
		RunE:  func(c *cobra.Command, _ []string) error { return a.usageError(c, usage) },
	}
	for _, sub := range []struct{ name, use, short string }{
		{"add", "add CIDR [--for DURATION] [--comment TEXT]", "allow an address or a network, and lift its bans"},
		{"del", "del CIDR", "remove an entry of the runtime allowlist"},
		{"list", "list", "list the allowlist: the configuration's entries and the runtime ones"},
	} {
		var o ctlFlags
		var dur, comment string
		s := &cobra.Command{
			Use:   sub.use,
			Short: sub.short,
			RunE: func(c *cobra.Command, args []string) error {
				if (sub.name == "list") != (len(args) == 0) || len(args) > 1 {
					return a.usageError(c, usage)
				}
				req := control.Request{Op: "allow", Action: sub.name, For: dur, Comment: comment}
				if len(args) == 1 {
					req.Target = args[0]
				}
				return a.opsDo(c, &o, req, false)
			},
		}
		o.add(s)
		if sub.name == "add" {
			s.Flags().StringVar(&dur, "for", "", "how long the entry lasts, `DURATION` (default: until deleted)")
			s.Flags().StringVar(&comment, "comment", "", "why the entry is there, `TEXT`")
		}
		c.AddCommand(s)
	}
	return c
}

// opsDo sends req to the daemon and prints its reply: a listing as a
// table (evidence: with each ban's evidence lines) or, with -o json, what
// a script needs.
func (a *app) opsDo(c *cobra.Command, o *ctlFlags, req control.Request, evidence bool) error {
	asJSON, err := o.asJSON()
	if err != nil {
		return err
	}
	socket, err := o.socketPath(c)
	if err != nil {
		return err
	}
	rep, err := control.NewClient(socket).Do(req)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(a.stdout, req, rep)
	}
	switch req.Op + " " + req.Action {
	case "bans ":
		printBans(a.stdout, rep.Bans, evidence)
	case "history ":
		printHistory(a.stdout, rep.History)
	case "allow list":
		printAllow(a.stdout, rep.Allow)
	default:
		fmt.Fprintln(a.stdout, rep.Message)
		if rep.Import != nil {
			for _, s := range rep.Import.ProtectedSamples {
				fmt.Fprintf(a.stdout, "  not banned: %s\n", s)
			}
		}
	}
	return nil
}

func usageError(s string) error { return &exitError{code: 2, err: errors.New("usage: " + s)} }

// printJSON prints what the reply holds for a listing (an array, empty
// when there is nothing), the whole reply for a change.
func printJSON(w io.Writer, req control.Request, rep control.Reply) error {
	var v any = rep
	switch req.Op + " " + req.Action {
	case "bans ":
		v = append([]control.Ban{}, rep.Bans...)
	case "history ":
		v = append([]pipeline.HistoryEntry{}, rep.History...)
	case "allow list":
		v = append([]guard.Entry{}, rep.Allow...)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// importRequest reads a list file (a plain list, a FireHOL netset,
// Spamhaus DROP) here, where the admin's file is, and says what it
// skipped.
func importRequest(path, name, dur string, stderr io.Writer) (control.Request, error) {
	f, err := os.Open(path)
	if err != nil {
		return control.Request{}, err
	}
	defer f.Close()
	l, err := blocklist.Parse(f, blocklist.Limits{})
	if err != nil {
		return control.Request{}, fmt.Errorf("%s: %w", path, err)
	}
	if len(l.Skipped) > 0 {
		var reasons []string
		for r, n := range l.Skipped {
			reasons = append(reasons, fmt.Sprintf("%d %s", n, r))
		}
		sort.Strings(reasons)
		fmt.Fprintf(stderr, "%s: skipped %s\n", path, strings.Join(reasons, ", "))
		for _, s := range l.Samples {
			fmt.Fprintf(stderr, "  %s\n", s)
		}
	}
	if len(l.Prefixes) == 0 {
		return control.Request{}, fmt.Errorf("%s: no address or range in %d lines", path, l.Lines)
	}
	req := control.Request{Op: "import", List: name, For: dur}
	for _, p := range l.Prefixes {
		req.Targets = append(req.Targets, p.String())
	}
	return req, nil
}

func printBans(w io.Writer, bans []control.Ban, evidence bool) {
	if len(bans) == 0 {
		fmt.Fprintln(w, "no active bans")
		return
	}
	// Buffered: the table writer writes each cell on its own, which for
	// 200,000 bans was 5 s of system calls.
	bw := bufio.NewWriterSize(w, 64<<10)
	defer bw.Flush()
	tw := tabwriter.NewWriter(bw, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TARGET\tRULE\tORIGIN\tOFFENSE\tBANNED AT\tEXPIRES\tLEFT\tREASON")
	for _, b := range bans {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", b.Target, b.Rule, orDash(b.Origin), b.Offense, stamp(b.At), stamp(b.Expires),
			time.Duration(b.Left)*time.Second, orDash(b.Reason))
		if evidence {
			for _, e := range b.Evidence {
				fmt.Fprintf(tw, "  > %s\n", e)
			}
		}
	}
	tw.Flush()
}

func printHistory(w io.Writer, h []pipeline.HistoryEntry) {
	if len(h) == 0 {
		fmt.Fprintln(w, "no decision about it")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AT\tACTION\tTARGET\tRULE\tORIGIN\tEXPIRES\tREASON")
	for _, e := range h {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", stamp(e.At), e.Action, e.Target, orDash(e.Rule), orDash(e.Origin), stamp(e.Expires), orDash(e.Reason))
	}
	tw.Flush()
}

func printAllow(w io.Writer, es []guard.Entry) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PREFIX\tSOURCE\tADDED\tEXPIRES\tCOMMENT")
	for _, e := range es {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.Prefix, e.Source, stamp(e.Added), stamp(e.Expires), orDash(e.Comment))
	}
	tw.Flush()
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
