package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"

	"github.com/stockade-ids/stockade/daemon"
	"github.com/stockade-ids/stockade/sources/listen"
)

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fl := flag.NewFlagSet(name, flag.ContinueOnError)
	fl.SetOutput(stderr)
	return fl
}

// runCmd is `stockade run --config FILE` or the one-line start
// `stockade run [--state DIR] [--socket PATH] [--output FILE] [--allow CIDR]... [--nftables] FILE...`.
func runCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := newFlagSet("run", stderr)
	config := fl.String("config", "", "configuration file (YAML; see deploy/stockade.yaml)")
	state := fl.String("state", "", "state directory (default /var/lib/stockade)")
	socket := fl.String("socket", "", "control socket (default STATE/stockade.sock)")
	output := fl.String("output", "", "append decisions as JSON lines to this file (- for stdout)")
	nft := fl.Bool("nftables", false, "enforce bans in nftables (table inet stockade) with the default settings")
	metrics := fl.String("metrics", "", "serve Prometheus metrics on this address, e.g. 127.0.0.1:9477")
	typ := fl.String("type", "", "force the format of the FILEs")
	fromStart := fl.Bool("from-start", false, "read files seen for the first time from their beginning (default: their end)")
	var allow, rulePaths listFlag
	fl.Var(&allow, "allow", "address or CIDR never to ban (repeatable)")
	fl.Var(&rulePaths, "rules", "rule pack file or directory (repeatable; `default` = the built-in packs)")
	verbose := fl.Bool("v", false, "debug logging")
	fl.Usage = func() {
		fmt.Fprintln(stderr, "Usage: stockade run --config FILE\n       stockade run [--state DIR] [--socket PATH] [--output FILE] [--allow CIDR]... [--nftables] FILE...")
		fl.PrintDefaults()
	}
	files, err := parseArgs(fl, args)
	if err != nil {
		return errHelp
	}
	var cfg *daemon.Config
	if *config != "" {
		if len(files) > 0 {
			return &exitError{code: 2, err: fmt.Errorf("run: give files in the configuration or on the command line, not both")}
		}
		c, err := daemon.LoadConfig(*config)
		if err != nil {
			return &exitError{code: 2, err: err}
		}
		cfg = c
	} else {
		start := "end"
		if *fromStart {
			start = "beginning"
		}
		cfg = &daemon.Config{Sources: []daemon.SourceConfig{{Files: files, Type: *typ, Start: start}}}
		if len(files) == 0 {
			srcs, err := rulesSources(rulePaths, *typ, start)
			if err != nil {
				return err
			}
			if len(srcs) == 0 {
				fl.Usage()
				return &exitError{code: 2, err: fmt.Errorf("run: no --config, no files to follow, and no rule names a log (sources:) to follow")}
			}
			fmt.Fprintf(stderr, "following the logs the rules read: %s\n", describeSources(srcs))
			cfg.Sources = srcs
		}
		out := *output
		if out == "" {
			out = "-"
		}
		cfg.Sinks = append(cfg.Sinks, daemon.SinkConfig{JSONL: out})
		if *nft {
			cfg.Sinks = append(cfg.Sinks, daemon.SinkConfig{NFTables: &daemon.NFTablesConfig{}})
		}
	}
	// Flags given with --config override the file.
	if *state != "" {
		cfg.StateDir = *state
	}
	if *socket != "" {
		cfg.Socket = *socket
	}
	if *metrics != "" {
		cfg.Metrics = *metrics
	}
	cfg.Allow = append(cfg.Allow, allow...)
	cfg.AllowFlags = allow
	if len(rulePaths) > 0 {
		cfg.Rules = rulePaths
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	d, err := daemon.New(cfg, log)
	if err != nil {
		return exitCoded(err)
	}
	_ = stdout
	return exitCoded(d.Run(ctx))
}

// rulesSources are the logs the rules of paths read, for `run --rules
// fail2ban:DIR` with no files: the absolute paths (and globs) of their
// sources:, which an imported jail takes from its logpath, and journald
// for a rule reading it (a jail with backend = systemd). A rule with no
// such source names nothing to follow.
func rulesSources(paths []string, typ, start string) ([]daemon.SourceConfig, error) {
	if len(paths) == 0 {
		return nil, nil
	}
	set, err := loadRules(paths)
	if err != nil {
		return nil, err
	}
	var globs []string
	journald := false
	for _, r := range set.Rules() {
		for _, s := range r.Sources {
			switch {
			case s == listen.JournaldSource:
				journald = true
			case filepath.IsAbs(s) && !slices.Contains(globs, s):
				globs = append(globs, s)
			}
		}
	}
	var out []daemon.SourceConfig
	if len(globs) > 0 {
		out = append(out, daemon.SourceConfig{Files: globs, Type: typ, Start: start})
	}
	if journald {
		out = append(out, daemon.SourceConfig{Journald: &daemon.JournaldConfig{}})
	}
	return out, nil
}

// describeSources lists what srcs follow, for the log.
func describeSources(srcs []daemon.SourceConfig) string {
	var parts []string
	for _, s := range srcs {
		if s.Journald != nil {
			parts = append(parts, "journald")
		}
		parts = append(parts, s.Files...)
	}
	return strings.Join(parts, ", ")
}
