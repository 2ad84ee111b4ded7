package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/stockade-ids/stockade/daemon"
	"github.com/stockade-ids/stockade/enforce"
	"github.com/stockade-ids/stockade/internal/sdnotify"
)

func enforceCmd(ctx context.Context, args []string, stderr io.Writer) error {
	fl := newFlagSet("enforce", stderr)
	config := fl.String("config", "", "configuration file (YAML; see deploy/enforce.yaml)")
	verbose := fl.Bool("v", false, "debug logging")
	fl.Usage = func() {
		fmt.Fprintln(stderr, "Usage: stockade enforce --config FILE")
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
	ec, deps, err := cfg.Enforcer(logger(stderr, *verbose), nil)
	deps.Version, deps.Notify = version, sdnotify.FromEnv()
	if err == nil {
		err = enforce.Run(ctx, ec, deps)
	}
	return exitCoded(err)
}
