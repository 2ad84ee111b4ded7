package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/stockade-ids/stockade/control"
	"github.com/stockade-ids/stockade/daemon"
	"github.com/stockade-ids/stockade/enforce"
	"github.com/stockade-ids/stockade/internal/sdnotify"
	"github.com/stockade-ids/stockade/pipeline"
)

func (a *app) enforceCommand() *cobra.Command {
	var config string
	var verbose bool
	c := &cobra.Command{
		Use:   "enforce --config FILE",
		Short: "enforce signed decisions from NATS or Kafka under this firewall's policy",
		Long: `Runs a firewall: it takes signed decisions from NATS or Kafka and enforces
them in its own nftables under its own trust policy (deploy/enforce.yaml
documents every key). Its commands control a running firewall; they find
its socket from --socket, else from --config's state_dir (default
/etc/stockade/enforce.yaml when it exists), else
/var/lib/stockade-enforce/stockade-enforce.sock.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if config == "" {
				return a.usageError(c, errors.New("enforce: --config is required"))
			}
			cfg, err := daemon.LoadEnforceConfig(config)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			ec, deps, err := daemon.Enforcer(cfg, logger(a.stderr, verbose), nil)
			deps.Version, deps.Notify = moduleVersion(), sdnotify.FromEnv()
			if err == nil {
				err = enforce.Run(c.Context(), ec, deps)
			}
			return exitCoded(err)
		},
	}
	c.Flags().StringVar(&config, "config", "", "configuration `FILE` (YAML; see deploy/enforce.yaml)")
	c.Flags().BoolVarP(&verbose, "verbose", "v", false, "debug logging")
	for _, sub := range []struct {
		op, use, short string
		flags          []string // of origin, rule, reason, for, comment
	}{
		{"status", "status", "what the firewall enforces, per origin, and its verdicts", nil},
		{"bans", "bans [ADDR|CIDR] [--origin NAME] [--rule NAME]", "bans in force with time left, and overrides", []string{"origin", "rule"}},
		{"unban", "unban ADDR|CIDR --reason TEXT [--for DURATION]", "lift the fleet's bans here and refuse them until they would have ended (or for DURATION)", []string{"reason", "for"}},
		{"allow", "allow add|del|list [CIDR] [--for DURATION] [--comment TEXT]", "the allowlist set at run time", []string{"for", "comment"}},
		{"reload", "reload", "read the configuration again (as SIGHUP)", nil},
		{"check", "check", "check the running firewall's configuration file", nil},
		{"ping", "ping", "check that the firewall answers", nil},
	} {
		c.AddCommand(a.enforceCtlCommand(sub.op, sub.use, sub.short, sub.flags))
	}
	return c
}

// enforceFlags are the control commands' flags.
type enforceFlags struct {
	socket, config, output, origin, rule, reason, dur, comment *string
}

// enforceCtlCommand is `stockade enforce OP`: one request to a running
// firewall, its reply printed; extra names the flags it takes besides
// --socket, --config and -o.
func (a *app) enforceCtlCommand(op, use, short string, extra []string) *cobra.Command {
	f := enforceFlags{socket: new(string), config: new(string), output: new(string), origin: new(string), rule: new(string),
		reason: new(string), dur: new(string), comment: new(string)}
	c := &cobra.Command{
		Use:   use,
		Short: short,
		RunE: func(c *cobra.Command, args []string) error {
			if *f.output != "text" && *f.output != "json" {
				return a.usageError(c, fmt.Errorf("-o: want text or json, not %q", *f.output))
			}
			req, err := enforceRequest(op, args, f)
			if err != nil {
				return a.usageError(c, err)
			}
			return enforceDo(req, f, a.stdout)
		},
	}
	fl := c.Flags()
	fl.StringVar(f.socket, "socket", "", "the firewall's control `SOCKET`")
	fl.StringVar(f.config, "config", "", "the firewall's configuration `FILE` (finds its socket)")
	fl.StringVarP(f.output, "format", "o", "text", "reply `FORMAT`: text or json")
	usage := map[string]struct {
		ptr  *string
		text string
	}{
		"origin":  {f.origin, "only the bans of origin `NAME`"},
		"rule":    {f.rule, "only the bans of rule `NAME`"},
		"reason":  {f.reason, "why, `TEXT` (kept and reported on the bus)"},
		"for":     {f.dur, "how long, `DURATION` (1h, 7d)"},
		"comment": {f.comment, "a note, `TEXT`"},
	}
	for _, name := range extra {
		fl.StringVar(usage[name].ptr, name, "", usage[name].text)
	}
	return c
}

// enforceDo sends req to the firewall and prints its reply.
func enforceDo(req control.Request, f enforceFlags, stdout io.Writer) error {
	socket, err := enforceSocket(*f.socket, *f.config)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	rep, err := control.NewClient(socket).Do(req)
	if err != nil {
		if req.Op == "check" {
			return &exitError{code: 2, err: err}
		}
		return err
	}
	if *f.output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printFirewallReply(stdout, req, rep)
	return nil
}

func enforceRequest(op string, pos []string, f enforceFlags) (control.Request, error) {
	req := control.Request{Op: op, Origin: *f.origin, Rule: *f.rule, Reason: *f.reason, For: *f.dur, Comment: *f.comment}
	switch op {
	case "bans":
		if len(pos) > 1 {
			return req, errors.New("usage: stockade enforce bans [ADDR|CIDR] [--origin NAME] [--rule NAME]")
		}
		if len(pos) == 1 {
			req.Target = pos[0]
		}
	case "unban":
		if len(pos) != 1 || *f.reason == "" {
			return req, errors.New("usage: stockade enforce unban ADDR|CIDR --reason TEXT [--for DURATION]")
		}
		req.Target = pos[0]
	case "allow":
		if len(pos) == 0 {
			pos = []string{"list"}
		}
		req.Action = pos[0]
		switch {
		case req.Action == "list" && len(pos) == 1:
		case (req.Action == "add" || req.Action == "del") && len(pos) == 2:
			req.Target = pos[1]
		default:
			return req, errors.New("usage: stockade enforce allow add|del CIDR, or allow list")
		}
	default:
		if len(pos) != 0 {
			return req, fmt.Errorf("usage: stockade enforce %s", op)
		}
	}
	return req, nil
}

// enforceSocket finds the firewall's socket: the flag, else the
// configuration's (the one given, or /etc/stockade/enforce.yaml), else
// the default state directory's.
func enforceSocket(socket, config string) (string, error) {
	if socket != "" {
		return socket, nil
	}
	if config == "" {
		if _, err := os.Stat("/etc/stockade/enforce.yaml"); err == nil {
			config = "/etc/stockade/enforce.yaml"
		}
	}
	if config == "" {
		return "/var/lib/stockade-enforce/stockade-enforce.sock", nil
	}
	cfg, err := daemon.LoadEnforceConfig(config)
	if err != nil {
		return "", err
	}
	if p := cfg.SocketPath(); p != "" {
		return p, nil
	}
	return "", fmt.Errorf("%s: socket: - (no control socket)", config)
}

func printFirewallReply(w io.Writer, req control.Request, rep control.Reply) {
	switch {
	case rep.Firewall != nil:
		printFirewallStatus(w, rep.Firewall)
	case req.Op == "bans":
		printFirewallBans(w, rep)
	case req.Op == "allow" && req.Action == "list":
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TARGET\tSOURCE\tADDED\tEXPIRES\tCOMMENT")
		for _, a := range rep.Allow {
			added, expires := "-", "-"
			if !a.Added.IsZero() {
				added = a.Added.Format(time.RFC3339)
			}
			if !a.Expires.IsZero() {
				expires = a.Expires.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", pipeline.TargetOf(a.Prefix), a.Source, added, expires, a.Comment)
		}
		tw.Flush()
	default:
		fmt.Fprintln(w, rep.Message)
	}
}

func printFirewallStatus(w io.Writer, st *control.FirewallStatus) {
	fmt.Fprintf(w, "Firewall %s (%s), running since %s\n", st.Name, st.Bus, st.Since.Format(time.RFC3339))
	fmt.Fprintf(w, "|- Active bans:\t%d\n|- Overrides:\t%d\n|- Allowed at run time:\t%d\n", st.ActiveBans, st.Overrides, st.Allowed)
	if !st.LastApply.IsZero() {
		fmt.Fprintf(w, "|- Last applied:\t%s\n", st.LastApply.Format(time.RFC3339))
	}
	fmt.Fprintf(w, "|- Acks waiting for the bus:\t%d\n`- Origins:\n", st.AcksWaiting)
	for _, o := range st.Origins {
		fmt.Fprintf(w, "   %s: %d active, %d deferred\n", o.Name, o.Active, o.Deferred)
	}
	var vs []string
	for _, r := range enforce.Reasons {
		if n := st.Verdicts[string(r)]; n > 0 {
			vs = append(vs, fmt.Sprintf("%s=%d", r, n))
		}
	}
	fmt.Fprintf(w, "Decisions since start: %s\n", strings.Join(vs, " "))
}

func printFirewallBans(w io.Writer, rep control.Reply) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TARGET\tORIGIN\tRULE\tLEFT\tEXPIRES")
	for _, b := range rep.Bans {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", b.Target, b.Origin, b.Rule, time.Duration(b.Left)*time.Second, b.Expires.Format(time.RFC3339))
	}
	tw.Flush()
	if len(rep.Overrides) == 0 {
		return
	}
	fmt.Fprintln(w, "\nOverridden here (their bans are refused):")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TARGET\tLEFT\tUNTIL\tORIGINS\tREASON")
	for _, o := range rep.Overrides {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", o.Target, time.Duration(o.Left)*time.Second, o.Until.Format(time.RFC3339), strings.Join(o.Origins, ","), o.Reason)
	}
	tw.Flush()
}
