package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/stockade-ids/stockade/control"
	"github.com/stockade-ids/stockade/daemon"
	"github.com/stockade-ids/stockade/enforce"
	"github.com/stockade-ids/stockade/internal/sdnotify"
	"github.com/stockade-ids/stockade/pipeline"
)

const enforceUsage = `Usage:
  stockade enforce --config FILE                  run the firewall
  stockade enforce status                         what it enforces, per origin, and its verdicts
  stockade enforce bans [ADDR|CIDR] [--origin NAME] [--rule NAME]
                                                  bans in force with time left, and overrides
  stockade enforce unban ADDR|CIDR --reason TEXT [--for DURATION]
                                                  lift the fleet's bans here and refuse them
                                                  until they would have ended (or for DURATION)
  stockade enforce allow add CIDR [--for DURATION] [--comment TEXT]
  stockade enforce allow del CIDR
  stockade enforce allow list                     the allowlist set at run time
  stockade enforce reload                         read the configuration again (as SIGHUP)
  stockade enforce check                          check the running firewall's configuration file
Control commands find the socket from --socket, else from --config's
state_dir (default /etc/stockade/enforce.yaml when it exists), else
/var/lib/stockade-enforce/stockade-enforce.sock.
`

var enforceOps = map[string]bool{"status": true, "bans": true, "unban": true, "allow": true, "reload": true, "check": true, "ping": true}

func enforceCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && enforceOps[args[0]] {
		return enforceCtl(args[0], args[1:], stdout, stderr)
	}
	fl := newFlagSet("enforce", stderr)
	config := fl.String("config", "", "configuration file (YAML; see deploy/enforce.yaml)")
	verbose := fl.Bool("v", false, "debug logging")
	fl.Usage = func() {
		fmt.Fprint(stderr, enforceUsage)
		fl.PrintDefaults()
	}
	if _, err := parseArgs(fl, args); err != nil {
		return errHelp
	}
	if *config == "" {
		fl.Usage()
		return &exitError{code: 2, err: errors.New("enforce: --config is required")}
	}
	cfg, err := daemon.LoadEnforceConfig(*config)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	ec, deps, err := daemon.Enforcer(cfg, logger(stderr, *verbose), nil)
	deps.Version, deps.Notify = version, sdnotify.FromEnv()
	if err == nil {
		err = enforce.Run(ctx, ec, deps)
	}
	return exitCoded(err)
}

// enforceFlags are the control commands' flags.
type enforceFlags struct {
	socket, config, output, origin, rule, reason, dur, comment *string
}

// enforceCtl sends one request to a running firewall and prints its reply.
func enforceCtl(op string, args []string, stdout, stderr io.Writer) error {
	fl := newFlagSet("enforce "+op, stderr)
	f := enforceFlags{
		socket: fl.String("socket", "", "the firewall's control socket"), config: fl.String("config", "", "the firewall's configuration (finds its socket)"),
		output: fl.String("o", "text", "text or json"), origin: fl.String("origin", "", "bans: only this origin's"),
		rule: fl.String("rule", "", "bans: only this rule's"), reason: fl.String("reason", "", "unban: why (kept and reported on the bus)"),
		dur: fl.String("for", "", "unban, allow add: how long (1h, 7d)"), comment: fl.String("comment", "", "allow add: a note"),
	}
	fl.Usage = func() { fmt.Fprint(stderr, enforceUsage); fl.PrintDefaults() }
	pos, err := parseArgs(fl, args)
	if err != nil {
		return errHelp
	}
	req, err := enforceRequest(op, pos, f)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	socket, err := enforceSocket(*f.socket, *f.config)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	rep, err := control.NewClient(socket).Do(req)
	if err != nil {
		if op == "check" {
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
