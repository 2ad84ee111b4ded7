package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/stockade-ids/stockade/control"
	"github.com/stockade-ids/stockade/pipeline"
)

// ctlCmd implements ping, status, ban, unban and reload.
func ctlCmd(op string, args []string, stdout, stderr interface{ Write([]byte) (int, error) }) error {
	fl := newFlagSet(op, stderr)
	socket := fl.String("socket", control.DefaultSocket(), "control socket of the running daemon")
	asJSON := fl.Bool("json", false, "print the reply as JSON (status)")
	rule := fl.String("rule", "", "rule name to ban under (ban)")
	dur := fl.String("for", "1h", "ban duration (ban)")
	replace := fl.Bool("replace", false, "set the ban to exactly --for from now, shorter or longer than the one in force (ban)")
	all := fl.Bool("all", false, "every active ban, or with --rule every ban of that rule (unban)")
	pos, err := parseArgs(fl, args)
	if err != nil {
		return errHelp
	}
	req := control.Request{Op: op}
	switch op {
	case "status":
		if len(pos) > 1 {
			return &exitError{code: 2, err: errors.New("usage: stockade status [RULE] [--json]")}
		}
		if len(pos) == 1 {
			req.Rule = pos[0]
		}
	case "unban":
		if *all {
			if len(pos) != 0 {
				return &exitError{code: 2, err: errors.New("usage: stockade unban --all [--rule R]")}
			}
			req.All, req.Rule = true, *rule
			break
		}
		fallthrough
	case "ban":
		if len(pos) != 1 {
			return &exitError{code: 2, err: fmt.Errorf("usage: stockade %s ADDR|CIDR", op)}
		}
		if _, err := netip.ParsePrefix(pos[0]); err != nil {
			if _, err := netip.ParseAddr(pos[0]); err != nil {
				return &exitError{code: 2, err: fmt.Errorf("%q is neither an address nor a CIDR", pos[0])}
			}
		}
		req.Target, req.Rule, req.For, req.Replace = pos[0], *rule, *dur, *replace
	}
	rep, err := control.NewClient(*socket).Do(req)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	switch {
	case rep.Status != nil:
		printStatus(stdout, rep.Status, req.Rule != "")
	case len(rep.Decisions) > 0:
		for _, x := range rep.Decisions {
			printDecision(stdout, x)
		}
	case rep.Decision != nil:
		printDecision(stdout, *rep.Decision)
	default:
		fmt.Fprintln(stdout, rep.Message)
	}
	return nil
}

func printStatus(w interface{ Write([]byte) (int, error) }, st *control.Status, one bool) {
	if !one {
		fmt.Fprintf(w, "Status\n|- Running since:\t%s\n|- Active bans:\t%d\n|- Tracked windows:\t%d\n`- Rules:\t", st.Since.Format(time.RFC3339), st.ActiveBans, st.Windows)
		var names []string
		for _, r := range st.Rules {
			names = append(names, r.Rule)
		}
		fmt.Fprintln(w, strings.Join(names, ", "))
		for _, f := range st.Files {
			fmt.Fprintf(w, "   file %s (%s): %d lines, offset %d\n", f.Path, f.Format, f.Lines, f.Offset)
		}
		return
	}
	for _, r := range st.Rules {
		fmt.Fprintf(w, "Status for the rule: %s\n", r.Rule)
		fmt.Fprintf(w, "|- Filter\n|  |- Currently failing:\t%d\n|  |- Total failed:\t%d\n|  `- File list:\t%s\n", r.CurrentlyFailing, r.TotalFailed, strings.Join(r.FilesWatched, " "))
		fmt.Fprintf(w, "`- Actions\n   |- Currently banned:\t%d\n   |- Total banned:\t%d\n   `- Banned IP list:\t%s\n", r.CurrentlyBanned, r.TotalBanned, bannedLeft(r))
	}
}

func printDecision(w interface{ Write([]byte) (int, error) }, x pipeline.Decision) {
	if x.Action == pipeline.ActionUnban {
		fmt.Fprintf(w, "unbanned %s (%s)\n", x.Target, x.Reason)
		return
	}
	fmt.Fprintf(w, "banned %s under %s until %s (%s)\n", x.Target, x.Rule, x.Expires.UTC().Format(time.RFC3339), time.Duration(x.Duration)*time.Second)
}

// bannedLeft is the banned list with each target's time left, as
// `203.0.113.7 (9m12s left)`.
func bannedLeft(r control.RuleStatus) string {
	out := make([]string, 0, len(r.BannedList))
	for _, t := range r.BannedList {
		if left, ok := r.Left[t]; ok {
			t = fmt.Sprintf("%s (%s left)", t, time.Duration(left)*time.Second)
		}
		out = append(out, t)
	}
	return strings.Join(out, " ")
}
