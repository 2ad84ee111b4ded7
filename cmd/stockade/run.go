package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/stockade-ids/stockade/config"
	"github.com/stockade-ids/stockade/daemon"
	"github.com/stockade-ids/stockade/internal/logging"
	"github.com/stockade-ids/stockade/internal/sdnotify"
	"github.com/stockade-ids/stockade/sinks/jsonl"
	"github.com/stockade-ids/stockade/sinks/nftables"
	"github.com/stockade-ids/stockade/sources/listen"
	"github.com/stockade-ids/stockade/sources/tail"
)

// runFlags are run's flags.
type runFlags struct {
	config, state, socket, output, metrics, typ, logFormat string
	nft, fromStart, verbose, testOnly                      bool
	allow, rulePaths                                       []string
}

func (a *app) runCommand() *cobra.Command {
	var o runFlags
	c := &cobra.Command{
		Use:   "run [flags] (--config FILE | FILE...)",
		Short: "run the daemon: follow logs, ban, serve the control socket",
		Long: `Runs the daemon on a configuration file (deploy/stockade.yaml documents
every key), or, for a first try, on log files given on the command line:
their decisions go to stdout (or --output) and, with --nftables, to the
kernel. Flags given with --config override the file.`,
		Example: "  stockade run --config /etc/stockade/stockade.yaml\n  stockade run --nftables --allow 10.0.0.0/8 /var/log/auth.log",
		RunE: func(c *cobra.Command, files []string) error {
			if o.testOnly {
				if o.config == "" {
					o.config = defaultConfig
				}
				return checkConfig(o.config, "run", a.stdout, a.stderr)
			}
			cfg, err := o.daemonConfig(files, a.stderr)
			if err != nil {
				if errors.Is(err, errNoSources) {
					fmt.Fprint(a.stderr, c.UsageString())
				}
				return err
			}
			log, err := newLogger(a.stderr, o.verbose, o.logFormat)
			if err != nil {
				return a.usageError(c, err)
			}
			return exitCoded(serve(c.Context(), *cfg, log))
		},
	}
	f := c.Flags()
	f.StringVar(&o.config, "config", "", "configuration `FILE` (YAML; every key in deploy/stockade.reference.yaml)")
	f.StringVar(&o.state, "state", "", "state `DIR` (default /var/lib/stockade)")
	f.StringVar(&o.socket, "socket", "", "control `SOCKET` (default STATE/stockade.sock)")
	f.StringVar(&o.output, "output", "", "append decisions as JSON lines to this `FILE` (- for stdout)")
	f.BoolVar(&o.nft, "nftables", false, "enforce bans in nftables (table inet stockade) with the default settings")
	f.StringVar(&o.metrics, "metrics", "", "serve Prometheus metrics on this `ADDRESS`, e.g. 127.0.0.1:9477")
	f.StringVar(&o.typ, "type", "", "force the `FORMAT` of the FILEs")
	f.BoolVar(&o.fromStart, "from-start", false, "read files seen for the first time from their beginning (default: their end)")
	f.StringArrayVar(&o.allow, "allow", nil, "`CIDR` or address never to ban (repeatable)")
	rulesFlag(f, &o.rulePaths)
	f.BoolVarP(&o.verbose, "verbose", "v", false, "debug logging")
	f.BoolVarP(&o.testOnly, "test", "t", false, "check the configuration (--config) and its packs, then exit, as stockade check does")
	f.StringVar(&o.logFormat, "log-format", "text", "log as `FORMAT`: text, json, or journal (journald's native protocol: PRIORITY and STOCKADE_* fields; <N> prefixes on stderr without it)")
	return c
}

var errNoSources = &exitError{code: 2, err: errors.New("run: no --config, no files to follow, and no rule names a log (sources:) to follow")}

// daemonConfig is the configuration file, or the one-line start's
// configuration, with the flags that override it.
func (o *runFlags) daemonConfig(files []string, stderr io.Writer) (*daemon.Config, error) {
	var cfg *daemon.Config
	if o.config != "" {
		if len(files) > 0 {
			return nil, &exitError{code: 2, err: fmt.Errorf("run: give files in the configuration or on the command line, not both")}
		}
		c, err := daemon.LoadConfig(o.config)
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
	if o.state != "" {
		cfg.StateDir = o.state
	}
	if o.socket != "" {
		cfg.Socket = o.socket
	}
	if o.metrics != "" {
		cfg.Metrics = o.metrics
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
	if o.fromStart {
		start = "beginning"
	}
	cfg := &daemon.Config{Sources: []config.Source{{Files: &tail.FilesConfig{Files: files, Type: o.typ, Start: start}}}}
	if len(files) == 0 {
		srcs, err := rulesSources(o.rulePaths, o.typ, start)
		if err != nil {
			return nil, err
		}
		if len(srcs) == 0 {
			return nil, errNoSources
		}
		fmt.Fprintf(stderr, "following the logs the rules read: %s\n", describeSources(srcs))
		cfg.Sources = srcs
	}
	out := o.output
	if out == "" {
		out = "-"
	}
	cfg.Sinks = append(cfg.Sinks, config.Sink{JSONL: &jsonl.Config{Path: out}})
	if o.nft {
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
	d, err := daemon.New(cfg, daemon.Deps{Log: log, Hangup: hup, Reopen: usr1, Version: moduleVersion(), Notify: sdnotify.FromEnv()})
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
