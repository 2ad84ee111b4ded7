package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/stockade-ids/stockade/config"
	"github.com/stockade-ids/stockade/rules"
	"github.com/stockade-ids/stockade/rules/ruleset"
)

// defaultConfig is where the packages install the daemon's configuration.
const defaultConfig = "/etc/stockade/stockade.yaml"

func checkCmd(args []string, stdout, stderr io.Writer) error {
	fl := newFlagSet("check", stderr)
	path := fl.String("config", "", "configuration file (default "+defaultConfig+")")
	as := fl.String("as", "", "read it as `run` (the daemon's) or `enforce` (the enforcer's); default: detected")
	fl.Usage = func() {
		fmt.Fprintln(stderr, "Usage: stockade check [--config FILE] [--as run|enforce]\n\nLoads the configuration and its rule packs and reports every problem at\nfile:line:col, starting nothing. Exit 0 when clean, 2 on problems.")
		fl.PrintDefaults()
	}
	rest, err := parseArgs(fl, args)
	if err != nil {
		return errHelp
	}
	switch {
	case len(rest) == 1 && *path == "":
		*path = rest[0]
	case len(rest) > 0:
		fl.Usage()
		return errHelp
	case *path == "":
		*path = defaultConfig
	}
	return checkConfig(*path, *as, stdout, stderr)
}

// checkConfig is `stockade check` and `stockade run -t`: every problem
// on stderr, one a line, and exit code 2; a summary on stdout when clean.
func checkConfig(path, as string, stdout, stderr io.Writer) error {
	c, err := config.Check(path, as, func(paths []string) error {
		_, err := ruleset.Load(paths)
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
	fmt.Fprintf(stdout, "%s: ok (%s)\n", path, c.Summary())
	return nil
}
