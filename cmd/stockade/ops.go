package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/stockade-ids/stockade/control"
	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/pipeline/guard"
	"github.com/stockade-ids/stockade/sources/blocklist"
)

// opsCmd implements the operator's listing and allowlist commands:
//
//	stockade bans [ADDR|CIDR] [--rule R] [--origin O] [--since D] [--simulated] [--evidence] [-o json]
//	stockade bans import FILE [--origin NAME] [--for D]
//	stockade history ADDR|CIDR [-o json]
//	stockade allow add|del|list [CIDR] [--for D] [--comment TEXT] [-o json]
func opsCmd(op string, args []string, stdout, stderr io.Writer) error {
	fl := newFlagSet(op, stderr)
	socket := fl.String("socket", control.DefaultSocket(), "control socket of the running daemon")
	output := fl.String("o", "text", "output format: text or json")
	rule := fl.String("rule", "", "only the bans of this rule (bans)")
	origin := fl.String("origin", "", "only the bans of this origin (bans: operator, list:NAME, a sensor); the list's name (bans import)")
	since := fl.String("since", "", "only the bans decided within this duration, e.g. 1h (bans)")
	simulated := fl.Bool("simulated", false, "the bans of rules in mode: simulate, never enforced (bans)")
	evidence := fl.Bool("evidence", false, "print each ban's evidence lines (bans; always with an address)")
	dur := fl.String("for", "", "how long: the imported bans (default 24h), the allowlist entry (default: until deleted)")
	comment := fl.String("comment", "", "why the entry is there (allow add)")
	pos, err := parseArgs(fl, args)
	if err != nil {
		return errHelp
	}
	if *output != "text" && *output != "json" {
		return &exitError{code: 2, err: fmt.Errorf("-o: want text or json, not %q", *output)}
	}
	req := control.Request{Op: op, Rule: *rule, Origin: *origin, Since: *since, Simulated: *simulated, For: *dur, Comment: *comment}
	if req, err = opsRequest(req, pos, stderr); err != nil {
		return err
	}
	rep, err := control.NewClient(*socket).Do(req)
	if err != nil {
		return err
	}
	if *output == "json" {
		return printJSON(stdout, req, rep)
	}
	switch req.Op + " " + req.Action {
	case "bans ":
		printBans(stdout, rep.Bans, *evidence || req.Target != "")
	case "history ":
		printHistory(stdout, rep.History)
	case "allow list":
		printAllow(stdout, rep.Allow)
	default:
		fmt.Fprintln(stdout, rep.Message)
		if rep.Import != nil {
			for _, s := range rep.Import.ProtectedSamples {
				fmt.Fprintf(stdout, "  not banned: %s\n", s)
			}
		}
	}
	return nil
}

// opsRequest completes req with the command's arguments.
func opsRequest(req control.Request, pos []string, stderr io.Writer) (control.Request, error) {
	switch {
	case req.Op == "bans" && len(pos) > 0 && pos[0] == "import":
		if len(pos) != 2 {
			return req, usageError("stockade bans import FILE [--origin NAME] [--for D]")
		}
		return importRequest(pos[1], req.Origin, req.For, stderr)
	case req.Op == "bans":
		if len(pos) > 1 {
			return req, usageError("stockade bans [ADDR|CIDR] [--rule R] [--origin O] [--since D] [--simulated] [-o json]")
		}
		if len(pos) == 1 {
			req.Target = pos[0]
		}
	case req.Op == "history":
		if len(pos) != 1 {
			return req, usageError("stockade history ADDR|CIDR [-o json]")
		}
		req.Target = pos[0]
	case req.Op == "allow":
		if len(pos) < 1 || pos[0] != "list" && len(pos) != 2 || pos[0] == "list" && len(pos) != 1 {
			return req, usageError("stockade allow add CIDR [--for D] [--comment TEXT] | allow del CIDR | allow list")
		}
		req.Action = pos[0]
		if len(pos) == 2 {
			req.Target = pos[1]
		}
	}
	return req, nil
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
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
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
