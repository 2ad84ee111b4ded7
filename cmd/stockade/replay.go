package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/sinks/jsonl"
	"github.com/stockade-ids/stockade/sources"
)

func replayCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var rulePaths, allow listFlag
	fs.Var(&rulePaths, "rules", "rule pack file or directory (repeatable; `default` = the built-in packs, used when none is given)")
	fs.Var(&allow, "allow", "address or CIDR never to ban (repeatable, or comma-separated)")
	typ := fs.String("type", "", "log format of every FILE: syslog, nginx, fastlog, eve, fail2ban (default: detect per file)")
	output := fs.String("output", "", "append decisions to this file instead of stdout")
	tz := fs.String("tz", "", "zone of timestamps written without one (syslog, fast.log, fail2ban), e.g. Europe/Paris (default: local)")
	origin := fs.String("origin", "", "sensor name in decisions (default: host name)")
	unbans := fs.Bool("unbans", false, "also emit an unban decision when a ban runs out")
	quiet := fs.Bool("quiet", false, "no summary or progress on stderr")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: stockade replay [--rules PATH]... [--allow CIDR]... [--type T] [--output FILE] FILE...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return errHelp
	}
	if fs.NArg() == 0 {
		fs.Usage()
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
	its := make([]pipeline.Iterator, 0, fs.NArg())
	for _, path := range fs.Args() {
		f, err := sources.Open(path, opt)
		if err != nil {
			return &exitError{code: 2, err: err}
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

	eng := pipeline.NewEngine(set, pipeline.Config{Origin: *origin, Allow: allowed, EmitUnbans: *unbans})
	start := time.Now()
	var stopProgress func()
	if !*quiet && isTerminal(stderr) {
		stopProgress = startProgress(stderr, files, start)
	}
	err = pipeline.Replay(ctx, eng, its, counting)
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
