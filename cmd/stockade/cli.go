package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// app is what every command writes to and reads from; tests give their
// own.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	// ran is set once a command's flags and arguments were accepted: an
	// error before it is bad usage (exit 2).
	ran bool
}

// Command groups, as help lists them.
const (
	groupDaemon  = "daemon"
	groupControl = "control"
	groupLogs    = "logs"
	groupSetup   = "setup"
)

// commands are stockade's commands, by group. A new command is one
// constructor in this list: a *cobra.Command with a GroupID, whose RunE
// returns an *exitError for bad usage (code 2; a.usageError prints the
// usage with it) and any other error for a failure (code 1). Its flags'
// usage strings name their value in backquotes (`FILE`), which help, the
// man pages and completion show.
func (a *app) commands() []*cobra.Command {
	groups := []struct {
		id   string
		cmds []*cobra.Command
	}{
		{groupDaemon, []*cobra.Command{a.runCommand(), a.enforceCommand()}},
		{groupControl, []*cobra.Command{a.statusCommand(), a.bansCommand(), a.historyCommand(), a.banCommand(), a.unbanCommand(),
			a.allowCommand(), a.reloadCommand(), a.pingCommand(), a.fleetCommand()}},
		{groupLogs, []*cobra.Command{a.checkCommand(), a.replayCommand(), a.explainCommand(), a.testCommand(), a.lintCommand(), a.packsCommand(), a.importCommand()}},
		{groupSetup, []*cobra.Command{a.keygenCommand(), a.manCommand(), a.versionCommand()}},
	}
	var out []*cobra.Command
	for _, g := range groups {
		for _, c := range g.cmds {
			c.GroupID = g.id
			completeValues(c)
			for _, s := range c.Commands() {
				completeValues(s)
			}
			out = append(out, c)
		}
	}
	return out
}

// root is the stockade command: help, completion and every command of
// commands.
func (a *app) root() *cobra.Command {
	root := &cobra.Command{
		Use:   "stockade",
		Short: "stockade turns attacks seen in logs into ban decisions",
		Long: `stockade reads security logs (syslog and sshd, web access logs, Suricata,
fail2ban's log, journald, a NATS or Kafka bus) and turns attacks into ban
decisions, enforced by nftables and fanned out to remote firewalls.`,
		Args:          cobra.ArbitraryArgs,
		SilenceErrors: true,
		SilenceUsage:  true,
		RunE: func(c *cobra.Command, args []string) error {
			if v, _ := c.Flags().GetBool("version"); v && len(args) == 0 {
				return a.printVersion()
			}
			fmt.Fprint(a.stderr, c.UsageString())
			if len(args) == 0 {
				return errHelp
			}
			return &exitError{code: 2, err: fmt.Errorf("unknown command %q", args[0])}
		},
		PersistentPreRun: func(*cobra.Command, []string) { a.ran = true },
	}
	root.Flags().Bool("version", false, "print the version (as stockade version)")
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		fmt.Fprint(a.stderr, c.UsageString())
		return &exitError{code: 2, err: err}
	})
	root.AddGroup(
		&cobra.Group{ID: groupDaemon, Title: "Run:"},
		&cobra.Group{ID: groupControl, Title: "Control the running daemon:"},
		&cobra.Group{ID: groupLogs, Title: "Logs and rule packs:"},
		&cobra.Group{ID: groupSetup, Title: "Setup:"},
	)
	root.SetHelpCommandGroupID(groupSetup)
	root.SetCompletionCommandGroupID(groupSetup)
	root.AddCommand(a.commands()...)
	return root
}

// execute runs the command args name.
func (a *app) execute(ctx context.Context, args []string) error {
	root := a.root()
	root.SetArgs(commandFirst(root, args))
	err := root.ExecuteContext(ctx)
	var ee *exitError
	if err != nil && !a.ran && !errors.As(err, &ee) {
		// cobra's own: an unknown command or flag, a wrong count of
		// arguments.
		return &exitError{code: 2, err: err}
	}
	return err
}

// commandFirst moves the flags written before the command after it
// (`stockade --socket S status` as `stockade status --socket S`), so
// that flags may stand before or after the command. Whether a flag takes
// a value is known from the commands that define it.
func commandFirst(root *cobra.Command, args []string) []string {
	valued := flagsTakingValues(root)
	i := 0
	for i < len(args) {
		arg := args[i]
		if arg == "--" || arg == "-" || !strings.HasPrefix(arg, "-") {
			break
		}
		name := strings.TrimLeft(arg, "-")
		if !strings.Contains(name, "=") && valued[name] {
			i++ // its value
		}
		i++
	}
	if i == 0 || i >= len(args) || args[i] == "--" {
		return args
	}
	for _, c := range root.Commands() {
		if c.Name() == args[i] || c.HasAlias(args[i]) {
			return append(append([]string{args[i]}, args[:i]...), args[i+1:]...)
		}
	}
	return args
}

// flagsTakingValues are the names and shorthands of every command's flags
// that take a value.
func flagsTakingValues(c *cobra.Command) map[string]bool {
	out := map[string]bool{}
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		visit := func(f *pflag.Flag) {
			v := f.NoOptDefVal == ""
			out[f.Name] = v
			if f.Shorthand != "" {
				out[f.Shorthand] = v
			}
		}
		c.Flags().VisitAll(visit)
		c.PersistentFlags().VisitAll(visit)
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(c)
	return out
}

// usageError is bad usage of c: its usage on stderr, exit 2.
func (a *app) usageError(c *cobra.Command, err error) error {
	fmt.Fprint(a.stderr, c.UsageString())
	return &exitError{code: 2, err: err}
}

// newApp is an app on the process's standard streams.
func newApp(stdin io.Reader, stdout, stderr io.Writer) *app {
	return &app{stdin: stdin, stdout: stdout, stderr: stderr}
}
