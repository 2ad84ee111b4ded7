package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/stockade-ids/stockade/config"
	"github.com/stockade-ids/stockade/control"
	"github.com/stockade-ids/stockade/pipeline"
)

// ctlFlags are the flags of every command that talks to the running
// daemon through its control socket.
type ctlFlags struct {
	socket, config, format string
	json                   bool
}

func (o *ctlFlags) add(c *cobra.Command) {
	f := c.Flags()
	f.StringVar(&o.socket, "socket", "", "control `SOCKET` of the running daemon (default: $STOCKADE_SOCKET, else the socket: of --config, else /var/lib/stockade/stockade.sock)")
	f.StringVar(&o.config, "config", defaultConfig, "the daemon's configuration `FILE`, read for its socket when --socket is not given")
	f.StringVarP(&o.format, "format", "o", "text", "reply `FORMAT`: text or json")
	f.BoolVar(&o.json, "json", false, "print the reply as JSON (-o json)")
	_ = c.RegisterFlagCompletionFunc("format", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
}

// asJSON is whether the reply is wanted as JSON; a format other than
// text or json is bad usage.
func (o *ctlFlags) asJSON() (bool, error) {
	switch o.format {
	case "text", "json":
		return o.json || o.format == "json", nil
	}
	return false, &exitError{code: 2, err: fmt.Errorf("-o: want text or json, not %q", o.format)}
}

// socketPath is --socket, else $STOCKADE_SOCKET, else the socket the
// daemon's configuration sets, else the default one.
func (o *ctlFlags) socketPath(c *cobra.Command) (string, error) {
	if o.socket != "" {
		return o.socket, nil
	}
	if s := os.Getenv("STOCKADE_SOCKET"); s != "" {
		return s, nil
	}
	s, err := config.SocketOf(o.config)
	switch {
	case err != nil:
		return "", &exitError{code: 2, err: fmt.Errorf("%w (give the socket with --socket)", err)}
	case s == "" && c.Flags().Changed("config"):
		return "", &exitError{code: 2, err: fmt.Errorf("--config: %s does not exist", o.config)}
	case s == "":
		return control.DefaultSocket(), nil
	}
	return s, nil
}

// do sends req to the daemon and prints its reply.
func (o *ctlFlags) do(c *cobra.Command, req control.Request, stdout io.Writer) error {
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

// ctlCommand is a command that sends one request; request builds it from
// the arguments (an error is bad usage).
func (a *app) ctlCommand(c *cobra.Command, o *ctlFlags, request func(args []string) (control.Request, error)) *cobra.Command {
	o.add(c)
	c.RunE = func(c *cobra.Command, args []string) error {
		req, err := request(args)
		if err != nil {
			return a.usageError(c, err)
		}
		return o.do(c, req, a.stdout)
	}
	return c
}

func (a *app) statusCommand() *cobra.Command {
	var o ctlFlags
	return a.ctlCommand(&cobra.Command{
		Use:               "status [RULE]",
		Short:             "what the running daemon sees and bans (one rule's bans with RULE)",
		ValidArgsFunction: o.completeRules,
	}, &o, func(args []string) (control.Request, error) {
		if len(args) > 1 {
			return control.Request{}, errors.New("usage: stockade status [RULE] [--json]")
		}
		req := control.Request{Op: "status"}
		if len(args) == 1 {
			req.Rule = args[0]
		}
		return req, nil
	})
}

func (a *app) banCommand() *cobra.Command {
	var o ctlFlags
	var rule, dur string
	var replace bool
	c := a.ctlCommand(&cobra.Command{
		Use:   "ban ADDR|CIDR",
		Short: "ban an address or a network now",
	}, &o, func(args []string) (control.Request, error) {
		target, err := targetArg("ban", args)
		return control.Request{Op: "ban", Target: target, Rule: rule, For: dur, Replace: replace}, err
	})
	c.Flags().StringVar(&rule, "rule", "", "rule `NAME` to ban under (default manual)")
	_ = c.RegisterFlagCompletionFunc("rule", o.completeRules)
	c.Flags().StringVar(&dur, "for", "1h", "ban `DURATION` (90s, 10m, 2h, 7d, 1w)")
	c.Flags().BoolVar(&replace, "replace", false, "set the ban to exactly --for from now, shorter or longer than the one in force")
	return c
}

func (a *app) unbanCommand() *cobra.Command {
	var o ctlFlags
	var rule string
	var all bool
	c := a.ctlCommand(&cobra.Command{
		Use:   "unban (ADDR|CIDR | --all) [--rule R]",
		Short: "lift a ban now, or every ban (of a rule)",
	}, &o, func(args []string) (control.Request, error) {
		if all {
			if len(args) != 0 {
				return control.Request{}, errors.New("usage: stockade unban --all [--rule R]")
			}
			return control.Request{Op: "unban", All: true, Rule: rule}, nil
		}
		target, err := targetArg("unban", args)
		return control.Request{Op: "unban", Target: target, Rule: rule}, err
	})
	c.Flags().StringVar(&rule, "rule", "", "only the ban(s) of rule `NAME`")
	_ = c.RegisterFlagCompletionFunc("rule", o.completeRules)
	c.Flags().BoolVar(&all, "all", false, "every active ban, or with --rule every ban of that rule")
	return c
}

func (a *app) reloadCommand() *cobra.Command {
	var o ctlFlags
	return a.ctlCommand(&cobra.Command{
		Use:   "reload",
		Short: "re-read the configuration's allowlist and fleet and the rule packs (also on SIGHUP)",
		Args:  cobra.NoArgs,
	}, &o, func([]string) (control.Request, error) { return control.Request{Op: "reload"}, nil })
}

func (a *app) pingCommand() *cobra.Command {
	var o ctlFlags
	return a.ctlCommand(&cobra.Command{
		Use:   "ping",
		Short: "check that the daemon answers",
		Args:  cobra.NoArgs,
	}, &o, func([]string) (control.Request, error) { return control.Request{Op: "ping"}, nil })
}

// completeRules completes a rule name with those the running daemon
// judges by (none when it does not answer).
func (o *ctlFlags) completeRules(c *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if c.Name() == "status" && len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	socket, err := o.socketPath(c)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	rep, err := control.NewClient(socket).Do(control.Request{Op: "status"})
	if err != nil || rep.Status == nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var names []string
	for _, r := range rep.Status.Rules {
		names = append(names, r.Rule+"\t"+r.Pack)
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}

// targetArg is the one address or CIDR of ban and unban.
func targetArg(op string, args []string) (string, error) {
	if len(args) != 1 {
		return "", fmt.Errorf("usage: stockade %s ADDR|CIDR", op)
	}
	if _, err := netip.ParsePrefix(args[0]); err != nil {
		if _, err := netip.ParseAddr(args[0]); err != nil {
			return "", fmt.Errorf("%q is neither an address nor a CIDR", args[0])
		}
	}
	return args[0], nil
}

func printStatus(w io.Writer, st *control.Status, one bool) {
	if !one {
		fmt.Fprintf(w, "Status\n|- Running since:\t%s\n|- Active bans:\t%d\n|- Tracked windows:\t%d\n", st.Since.Format(time.RFC3339), st.ActiveBans, st.Windows)
		if st.Memory != "" {
			fmt.Fprintf(w, "|- Memory limit:\t%s, heap %d MiB\n", st.Memory, (st.HeapBytes+1<<19)>>20)
		}
		fmt.Fprintf(w, "`- Rules:\t")
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

func printDecision(w io.Writer, x pipeline.Decision) {
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
