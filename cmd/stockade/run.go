package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/stockade-ids/stockade/config"
	"github.com/stockade-ids/stockade/daemon"
	"github.com/stockade-ids/stockade/internal/logging"
	"github.com/stockade-ids/stockade/internal/sdnotify"
	"github.com/stockade-ids/stockade/sinks/jsonl"
	"github.com/stockade-ids/stockade/sinks/nftables"
	"github.com/stockade-ids/stockade/sources/listen"
	"github.com/stockade-ids/stockade/sources/tail"
)

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fl := flag.NewFlagSet(name, flag.ContinueOnError)
	fl.SetOutput(stderr)
	return fl
}

// runFlags are run's flags.
type runFlags struct {
	config, state, socket, output, metrics, typ, logFormat *string
	nft, fromStart, verbose, testOnly                      *bool
	allow, rulePaths                                       listFlag
}

// runCmd is `stockade run --config FILE` or the one-line start
// `stockade run [--state DIR] [--socket PATH] [--output FILE] [--allow CIDR]... [--nftables] FILE...`.
func runCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := newFlagSet("run", stderr)
	o := runFlags{
		config:    fl.String("config", "", "configuration file (YAML; every key in deploy/stockade.reference.yaml)"),
		state:     fl.String("state", "", "state directory (default /var/lib/stockade)"),
		socket:    fl.String("socket", "", "control socket (default STATE/stockade.sock)"),
		output:    fl.String("output", "", "append decisions as JSON lines to this file (- for stdout)"),
		nft:       fl.Bool("nftables", false, "enforce bans in nftables (table inet stockade) with the default settings"),
		metrics:   fl.String("metrics", "", "serve Prometheus metrics on this address, e.g. 127.0.0.1:9477"),
		typ:       fl.String("type", "", "force the format of the FILEs"),
		fromStart: fl.Bool("from-start", false, "read files seen for the first time from their beginning (default: their end)"),
	}
	fl.Var(&o.allow, "allow", "address or CIDR never to ban (repeatable)")
	fl.Var(&o.rulePaths, "rules", "rule pack file or directory (repeatable; `default` = the built-in packs)")
	o.verbose = fl.Bool("v", false, "debug logging")
	o.logFormat = fl.String("log-format", "text", "log as text, json, or journal (journald's native protocol: PRIORITY and STOCKADE_* fields; <N> prefixes on stderr without it)")
	o.testOnly = fl.Bool("t", false, "check the configuration (--config) and its packs, then exit, as stockade check does")
	fl.Usage = func() {
		fmt.Fprintln(stderr, "Usage: stockade run --config FILE\n       stockade run [--state DIR] [--socket PATH] [--output FILE] [--allow CIDR]... [--nftables] FILE...")
		fl.PrintDefaults()
	}
	files, err := parseArgs(fl, args)
	if err != nil {
		return errHelp
	}
	if *o.testOnly {
		if *o.config == "" {
			*o.config = defaultConfig
		}
		return checkConfig(*o.config, "run", stdout, stderr)
	}
	cfg, err := o.daemonConfig(files, stderr)
	if err != nil {
		if errors.Is(err, errNoSources) {
			fl.Usage()
		}
		return err
	}
	_ = stdout
	log, err := newLogger(stderr, *o.verbose, *o.logFormat)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	return exitCoded(serve(ctx, *cfg, log))
}

var errNoSources = &exitError{code: 2, err: errors.New("run: no --config, no files to follow, and no rule names a log (sources:) to follow")}

// daemonConfig is the configuration file, or the one-line start's
// configuration, with the flags that override it.
func (o *runFlags) daemonConfig(files []string, stderr io.Writer) (*daemon.Config, error) {
	var cfg *daemon.Config
	if *o.config != "" {
		if len(files) > 0 {
			return nil, &exitError{code: 2, err: fmt.Errorf("run: give files in the configuration or on the command line, not both")}
		}
		c, err := daemon.LoadConfig(*o.config)
		if err != nil {
			return nil, &exitError{code: 2, err: err}
		}
		cfg = c
	} else {
		c, err := o.oneLineConfig(files, stderr)
		if err != nil {
			return nil, err
		}
		cfg = c
	}
	// Flags given with --config override the file.
	if *o.state != "" {
		cfg.StateDir = *o.state
	}
	if *o.socket != "" {
		cfg.Socket = *o.socket
	}
	if *o.metrics != "" {
		cfg.Metrics = *o.metrics
	}
	cfg.Allow = append(cfg.Allow, o.allow...)
	cfg.AllowFlags = o.allow
	if len(o.rulePaths) > 0 {
		cfg.Rules = o.rulePaths
	}
	return cfg, nil
}

// oneLineConfig is the configuration of `stockade run FILE...`: the files
// (or the logs the rules name) decided into --output, and nftables.
func (o *runFlags) oneLineConfig(files []string, stderr io.Writer) (*daemon.Config, error) {
	start := "end"
	if *o.fromStart {
		start = "beginning"
	}
	cfg := &daemon.Config{Sources: []config.Source{{Files: &tail.FilesConfig{Files: files, Type: *o.typ, Start: start}}}}
	if len(files) == 0 {
		srcs, err := rulesSources(o.rulePaths, *o.typ, start)
		if err != nil {
			return nil, err
		}
		if len(srcs) == 0 {
			return nil, errNoSources
		}
		fmt.Fprintf(stderr, "following the logs the rules read: %s\n", describeSources(srcs))
		cfg.Sources = srcs
	}
	out := *o.output
	if out == "" {
		out = "-"
	}
	cfg.Sinks = append(cfg.Sinks, config.Sink{JSONL: &jsonl.Config{Path: out}})
	if *o.nft {
		cfg.Sinks = append(cfg.Sinks, config.Sink{NFTables: &nftables.Config{}})
	}
	return cfg, nil
}

// serve runs the daemon of cfg until ctx is done; SIGHUP reloads it and
// reopens its output files, SIGUSR1 only reopens them (logrotate).
func serve(ctx context.Context, cfg daemon.Config, log *slog.Logger) error {
	hup, usr1 := make(chan os.Signal, 1), make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(hup)
	defer signal.Stop(usr1)
	d, err := daemon.New(cfg, daemon.Deps{Log: log, Hangup: hup, Reopen: usr1, Version: version, Notify: sdnotify.FromEnv()})
	if err != nil {
		return err
	}
	if err := d.Start(ctx); err != nil {
		return err
	}
	defer d.Stop()
	return d.Run(ctx)
}

// logger logs text to w, debug lines too when verbose.
func logger(w io.Writer, verbose bool) *slog.Logger {
	l, _ := newLogger(w, verbose, "text")
	return l
}

// newLogger logs in format (text, json, journal) to w, debug lines too
// when verbose; bans and unbans are at NOTICE (see internal/logging).
func newLogger(w io.Writer, verbose bool, format string) (*slog.Logger, error) {
	level := slog.LevelInfo
	if verbose {
		level = slog.LevelDebug
	}
	h, err := logging.New(logging.Options{Format: format, Level: level, W: w})
	if err != nil {
		return nil, err
	}
	return slog.New(h), nil
}

// rulesSources are the logs the rules of paths read, for `run --rules
// fail2ban:DIR` with no files: the absolute paths (and globs) of their
// sources:, which an imported jail takes from its logpath, and journald
// for a rule reading it (a jail with backend = systemd). A rule with no
// such source names nothing to follow.
func rulesSources(paths []string, typ, start string) ([]config.Source, error) {
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
	var out []config.Source
	if len(globs) > 0 {
		out = append(out, config.Source{Files: &tail.FilesConfig{Files: globs, Type: typ, Start: start}})
	}
	if journald {
		out = append(out, config.Source{Journald: &listen.JournaldConfig{}})
	}
	return out, nil
}

// describeSources lists what srcs follow, for the log.
func describeSources(srcs []config.Source) string {
	var parts []string
	for _, s := range srcs {
		if s.Journald != nil {
			parts = append(parts, "journald")
		}
		if s.Files != nil {
			parts = append(parts, s.Files.Files...)
		}
	}
	return strings.Join(parts, ", ")
}
