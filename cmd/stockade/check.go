package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/spf13/cobra"
	"github.com/stockade-ids/stockade/config"
	"github.com/stockade-ids/stockade/rules"
	"github.com/stockade-ids/stockade/rules/ruleset"
)

// defaultConfig is where the packages install the daemon's configuration.
const defaultConfig = "/etc/stockade/stockade.yaml"

func (a *app) checkCommand() *cobra.Command {
	var path, as string
	c := &cobra.Command{
		Use:   "check [--config FILE | FILE] [--as run|enforce]",
		Short: "check a configuration and its rule packs, starting nothing",
		Long: `Loads the configuration and its rule packs and reports every problem at
file:line:col, starting nothing. Exit 0 when clean, 2 on problems.`,
		RunE: func(c *cobra.Command, rest []string) error {
			switch {
			case len(rest) == 1 && path == "":
				path = rest[0]
			case len(rest) > 0:
				return a.usageError(c, errors.New("usage: stockade check [--config FILE | FILE] [--as run|enforce]"))
			case path == "":
				path = defaultConfig
			}
			return checkConfig(path, as, a.stdout, a.stderr)
		},
	}
	c.Flags().StringVar(&path, "config", "", "configuration `FILE` (default "+defaultConfig+")")
	c.Flags().StringVar(&as, "as", "", "read it `AS` run (the daemon's) or enforce (the enforcer's); default: detected")
	_ = c.RegisterFlagCompletionFunc("as", cobra.FixedCompletions([]string{"run", "enforce"}, cobra.ShellCompDirectiveNoFileComp))
	return c
}

// checkConfig is `stockade check` and `stockade run -t`: every problem
// on stderr, one a line, and exit code 2; a summary on stdout when clean.
func checkConfig(path, as string, stdout, stderr io.Writer) error {
	c, err := config.Check(path, as, func(paths []string, sel rules.Selection) error {
		_, err := ruleset.LoadSelected(paths, sel)
		// The packs' problems as they are, one a line like the file's:
		// without Load's heading, which a count of lines would count.
		var es rules.Errors
		if errors.As(err, &es) {
			return es
		}
		return err
	})
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
		return &exitError{code: 2, err: err}
	}
	if err != nil {
		n := strings.Count(err.Error(), "\n") + 1
		fmt.Fprintln(stderr, err)
		return &exitError{code: 2, err: fmt.Errorf("%s: refused, %d problem(s)", path, n)}
	}
	if c.Daemon != nil {
		// Warnings do not refuse the file: the daemon starts with them.
		for _, w := range c.Daemon.Warnings() {
			fmt.Fprintf(stderr, "warning: %s\n", w.Error())
		}
	}
	fmt.Fprintf(stdout, "%s: ok (%s)\n", path, c.Summary())
	return nil
}
