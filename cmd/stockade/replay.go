package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/sinks/jsonl"
	"github.com/stockade-ids/stockade/sources"
)

func replayCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("replay", flag.ContinueOnError)
	fl.SetOutput(stderr)
	var rulePaths, allow listFlag
	fl.Var(&rulePaths, "rules", "rule pack file or directory (repeatable; `default` = the built-in packs, used when none is given)")
	fl.Var(&allow, "allow", "address or CIDR never to ban (repeatable, or comma-separated)")
	maxWindows := fl.Int("max-windows", DefaultMaxWindows, "sliding windows held at most (0: no bound); past it the least recent go")
	typ := fl.String("type", "", "log format of every FILE: syslog, nginx, fastlog, eve, fail2ban, decision, plain (default: detect per file)")
	output := fl.String("output", "", "append decisions to this file instead of stdout")
	tz := fl.String("tz", "", "zone of timestamps written without one (syslog, fast.log, fail2ban, eve without offset), e.g. Europe/Paris (default: local)")
	origin := fl.String("origin", "", "sensor name in decisions (default: host name)")
	unbans := fl.Bool("unbans", false, "also emit an unban decision when a ban runs out")
	quiet := fl.Bool("quiet", false, "no summary or progress on stderr")
	var homeNets listFlag
	fl.Var(&homeNets, "home-net", "network the Suricata sensor protects, never banned by a Suricata alert (CIDR, repeatable, or Suricata's [a,!b] syntax)")
	suricataYAML := fl.String("suricata-yaml", "", "suricata.yaml whose vars: address-groups: HOME_NET joins --home-net")
	workers := fl.Int("workers", runtime.GOMAXPROCS(0), "goroutines that parse, match and count at once (1: all on one; the decisions are the same)")
	fl.Usage = func() {
		fmt.Fprintln(stderr, "Usage: stockade replay [--rules PATH]... [--allow CIDR]... [--type T] [--output FILE] FILE...")
		fl.PrintDefaults()
	}
	names, err := parseArgs(fl, args)
	if err != nil {
		return errHelp
	}
	if len(names) == 0 {
		fl.Usage()
		return &exitError{code: 2, err: fmt.Errorf("replay: no log files given")}
	}
	opt := sources.Options{}
	if *typ != "" {
		f, ok := pipeline.ParseFormat(*typ)
		if !ok {
			return &exitError{code: 2, err: fmt.Errorf("--type %q: want syslog, nginx, fastlog, eve or fail2ban", *typ)}
		}
		opt.Format = f
	}
	if *tz != "" {
		loc, err := time.LoadLocation(*tz)
		if err != nil {
			return &exitError{code: 2, err: fmt.Errorf("--tz: %w", err)}
		}
		opt.Loc = loc
	}
	if opt.HomeNet, err = homeNet("--home-net", homeNets, *suricataYAML); err != nil {
		return &exitError{code: 2, err: err}
	}
	set, err := loadRules(rulePaths)
	if err != nil {
		return err
	}
	allowed, err := allowList(allow)
	if err != nil {
		return err
	}
	if *origin == "" {
		*origin, _ = os.Hostname()
	}

	var files []*sources.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	paths, err := expandPaths(names)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	its := make([]pipeline.Iterator, 0, len(paths))
	for _, p := range paths {
		f, err := sources.Open(p.path, opt)
		if err != nil {
			if p.found && !*quiet {
				fmt.Fprintf(stderr, "skipping %v\n", err)
			}
			if p.found {
				continue
			}
			return &exitError{code: 2, err: err}
		}
		if p.found && f.Format == pipeline.FormatDecision && *typ == "" {
			// Found in a directory: stockade's own output, not a log.
			// Named on the command line, it is replayed (a fleet pack).
			f.Close()
			if !*quiet {
				fmt.Fprintf(stderr, "skipping %s: stockade decisions, not a log (name the file to replay them)\n", p.path)
			}
			continue
		}
		files = append(files, f)
		its = append(its, f)
	}

	var sink pipeline.Sink
	if *output != "" {
		s, err := jsonl.OpenFile(*output)
		if err != nil {
			return &exitError{code: 2, err: err}
		}
		sink = s
	} else {
		sink = jsonl.New(stdout)
	}
	counting := &countingSink{Sink: sink}

	eng := pipeline.NewEngine(set, pipeline.Config{Origin: *origin, Allow: allowed, EmitUnbans: *unbans, MaxWindows: max(0, *maxWindows)})
	start := time.Now()
	var stopProgress func()
	if !*quiet && isTerminal(stderr) {
		stopProgress = startProgress(stderr, files, start)
	}
	formats := make([]pipeline.Format, len(files))
	for i, f := range files {
		formats[i] = f.Format
	}
	err = pipeline.ReplayWith(ctx, eng, its, counting, pipeline.ReplayOptions{Workers: *workers, Formats: formats})
	if stopProgress != nil {
		stopProgress()
	}
	if cerr := sink.Close(ctx); err == nil {
		err = cerr
	}
	if !*quiet {
		printSummary(stderr, files, eng, counting.bans, time.Since(start))
	}
	return err
}

type logPath struct {
	path  string
	found bool // found in a directory, not named: skipped if not a log
}

// expandPaths replaces each directory argument with the regular files below
// it (sorted, hidden ones skipped), so `replay /srv/archive/` takes a whole
// month of rotated logs. A named file must be a log; a file found in a
// directory that is not one is skipped with a warning.
func expandPaths(args []string) ([]logPath, error) {
	var out []logPath
	for _, a := range args {
		fi, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			out = append(out, logPath{path: a})
			continue
		}
		err = filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if p != a && strings.HasPrefix(d.Name(), ".") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.Type().IsRegular() {
				out = append(out, logPath{path: p, found: true})
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// countingSink counts the ban decisions it passes on, for the summary.
type countingSink struct {
	pipeline.Sink
	bans, unbans int
}

func (c *countingSink) Write(ctx context.Context, ds []pipeline.Decision) error {
	for _, d := range ds {
		if d.Action == pipeline.ActionBan {
			c.bans++
		} else {
			c.unbans++
		}
	}
	return c.Sink.Write(ctx, ds)
}
