package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/stockade-ids/stockade/backtest"
	"github.com/stockade-ids/stockade/config"
	"github.com/stockade-ids/stockade/internal/hugepages"
	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/report"
	"github.com/stockade-ids/stockade/sinks/jsonl"
	"github.com/stockade-ids/stockade/sources"
	"github.com/stockade-ids/stockade/sources/suricata"
)

// replayFlags are replay's options as parsed.
type replayFlags struct {
	rulePaths, allow, homeNets, realIP    []string
	logFormat                             string
	maxWindows, workers                   int
	typ, output, tz, origin, suricataYAML string
	unbans, quiet                         bool
	compare                               bool
	format, report                        string
	stdin                                 io.Reader // the log named "-"
	cfg                                   daemonConfig
}

func (a *app) replayCommand() *cobra.Command {
	var o replayFlags
	c := &cobra.Command{
		Use:   "replay [flags] FILE|DIR|-...",
		Short: "replay archived logs (.gz too) in event-time order; decisions as JSON lines on stdout",
		Long: `Replays archived logs (.gz too, directories of them) in event-time order,
as the daemon would have judged them live, and writes the decisions as JSON
lines on stdout (or --output); a summary goes to stderr. A FILE of - is
standard input, read as a file is (--type, --tz, --home-net, --log-format,
--real-ip-from).

With --config, the daemon's configuration says which packs and rules judge
(rules:, packs:), whom never to ban (allow:, fleet:), and the zone, home
net, origin, window bound and unbans, as the daemon would; a flag given
wins, and --allow adds.

With --compare, the first two arguments are two pack sets (default, a pack
file or directory, fail2ban:DIR; comma-separated to join several): the logs
are read once and judged by both, and what NEW decides differently is
printed (targets only one side bans with their rule and evidence, bans that
changed, per-rule counts; -o json for a document). --report writes a
self-contained HTML report of a replay or a comparison.`,
		Example: "  stockade replay --allow 10.0.0.0/8 /var/log/auth.log* /var/log/suricata/eve.json\n" +
			"  stockade replay --config /etc/stockade/stockade.yaml /var/log/mail.log*\n" +
			"  stockade replay --compare --report diff.html default /etc/stockade/packs/ /var/log/auth.log*",
		RunE: func(c *cobra.Command, names []string) error {
			if len(names) == 0 {
				return a.usageError(c, fmt.Errorf("replay: no log files given"))
			}
			o.stdin = a.stdin
			opts := judgeOptions{rulePaths: &o.rulePaths, allow: &o.allow, homeNets: &o.homeNets, tz: &o.tz,
				suricataYAML: &o.suricataYAML, origin: &o.origin, maxWindows: &o.maxWindows, unbans: &o.unbans}
			if o.compare {
				if len(names) < 3 || len(o.rulePaths) > 0 || o.format != "text" && o.format != "json" {
					return a.usageError(c, fmt.Errorf("replay --compare OLD NEW FILE...: two pack sets and at least one log, no --rules, -o text or json"))
				}
				// Both sides are judged under the configuration's packs:.
				opts.rulePaths = nil
				if err := o.cfg.load(c.Flags(), opts); err != nil {
					return err
				}
				return o.runCompare(c.Context(), names, a.stdout, a.stderr)
			}
			if err := o.cfg.load(c.Flags(), opts); err != nil {
				return err
			}
			return o.run(c.Context(), names, a.stdout, a.stderr)
		},
	}
	f := c.Flags()
	o.cfg.flag(f)
	rulesFlag(f, &o.rulePaths)
	allowFlag(f, &o.allow)
	f.IntVar(&o.maxWindows, "max-windows", config.DefaultMaxWindows, "sliding windows held at most, `N` (0: no bound); past it the least recent go")
	f.StringVar(&o.typ, "type", "", "log `FORMAT` of every FILE: syslog, nginx, fastlog, eve, fail2ban, decision, plain (default: detect per file)")
	f.StringVar(&o.output, "output", "", "append decisions to this `FILE` instead of stdout")
	tzFlag(f, &o.tz)
	f.StringVar(&o.origin, "origin", "", "sensor `NAME` in decisions (default: host name)")
	f.BoolVar(&o.unbans, "unbans", false, "also emit an unban decision when a ban runs out")
	f.BoolVar(&o.quiet, "quiet", false, "no summary or progress on stderr")
	homeNetFlags(f, &o.homeNets, &o.suricataYAML)
	webFlags(f, &o.logFormat, &o.realIP)
	f.IntVar(&o.workers, "workers", runtime.GOMAXPROCS(0), "`N` goroutines that parse, match and count at once (1: all on one; the decisions are the same)")
	f.BoolVar(&o.compare, "compare", false, "back-test: the first two arguments are the OLD and NEW pack sets; print what NEW decides differently")
	f.StringVarP(&o.format, "format", "o", "text", "--compare's output `FORMAT`: text or json")
	_ = c.RegisterFlagCompletionFunc("format", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
	f.StringVar(&o.report, "report", "", "also write a self-contained HTML report of the replay or comparison to `FILE`")
	return c
}

// replayHeap is how much of a replay's heap is asked to be backed by huge
// pages (see hugepages.Heap): address space, not memory. A million-line
// replay's heap is 40 to 160 MB, four such logs on two cores about 190
// MB; asking costs the runtime a span pointer for each 8 KB page of it
// (512 MB took 2 ms more of a start than 256).
const replayHeap = 256 << 20

// run replays the logs names.
func (o *replayFlags) run(ctx context.Context, names []string, stdout, stderr io.Writer) error {
	hugepages.Heap(replayHeap)
	opt, err := o.sourceOptions()
	if err != nil {
		return err
	}
	allowed, err := allowList(o.allow)
	if err != nil {
		return err
	}
	if o.origin == "" {
		o.origin, _ = os.Hostname()
	}
	files, its, err := openReplayFiles(names, o.stdin, opt, o.typ != "", o.quiet, stderr)
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	if err != nil {
		return err
	}
	// The files are open, their formats known: the built-in packs'
	// rules that read none of them are not compiled.
	set, err := o.cfg.rulesFor(o.rulePaths, o.reading(files))
	if err != nil {
		return err
	}
	eng := pipeline.NewEngine(set, pipeline.Config{Origin: o.origin, Allow: allowed, EmitUnbans: o.unbans, MaxWindows: max(0, o.maxWindows)})
	return replayFiles(ctx, eng, files, its, o, stdout, stderr)
}

// reading are the formats of the files, for the rules to compile only
// what reads them; nil (every rule) when one is not known, when there is
// no file, and for --report, whose record lists every rule of the packs.
func (o *replayFlags) reading(files []*sources.File) []pipeline.Format {
	if o.report != "" || len(files) == 0 {
		return nil
	}
	var formats []pipeline.Format
	for _, f := range files {
		if f.Format == pipeline.FormatUnknown {
			return nil
		}
		if !slices.Contains(formats, f.Format) {
			formats = append(formats, f.Format)
		}
	}
	return formats
}

// sourceOptions are the format, zone and home net every file is read with.
func (o *replayFlags) sourceOptions() (sources.Options, error) {
	opt := sources.Options{}
	if o.typ != "" {
		f, ok := pipeline.ParseFormat(o.typ)
		if !ok {
			return opt, &exitError{code: 2, err: fmt.Errorf("--type %q: want syslog, nginx, fastlog, eve or fail2ban", o.typ)}
		}
		opt.Format = f
	}
	if o.tz != "" {
		loc, err := time.LoadLocation(o.tz)
		if err != nil {
			return opt, &exitError{code: 2, err: fmt.Errorf("--tz: %w", err)}
		}
		opt.Loc = loc
	}
	var err error
	if opt.HomeNet, err = suricata.HomeNetOf("--home-net", o.homeNets, o.suricataYAML); err != nil {
		return opt, &exitError{code: 2, err: err}
	}
	if opt.Web, err = sources.WebOptions("--", o.logFormat, o.realIP); err != nil {
		return opt, &exitError{code: 2, err: err}
	}
	return opt, nil
}

// openReplayFiles opens the logs named and those found in the directories
// named ("-": stdin, read with the same options as a file); typed: --type
// was given. The files opened are returned also with an error, for the
// caller to close.
func openReplayFiles(names []string, stdin io.Reader, opt sources.Options, typed, quiet bool, stderr io.Writer) ([]*sources.File, []pipeline.Iterator, error) {
	var files []*sources.File
	paths, err := expandPaths(names)
	if err != nil {
		return files, nil, &exitError{code: 2, err: err}
	}
	its := make([]pipeline.Iterator, 0, len(paths))
	if budget := sources.DescriptorBudget(); len(paths) > budget {
		// More logs than descriptors to spare: they take turns (see
		// sources.Pool).
		opt.Pool = sources.NewPool(budget)
	}
	for _, p := range paths {
		var f *sources.File
		if p.path == "-" && stdin != nil {
			f, err = sources.OpenStream("stdin", stdin, opt)
		} else {
			f, err = sources.Open(p.path, opt)
		}
		if errors.Is(err, sources.ErrEmpty) {
			// An empty log (a rotated one nothing was written to) holds no
			// line to judge, named or found.
			if !quiet {
				fmt.Fprintf(stderr, "skipping %s: empty file\n", p.path)
			}
			continue
		}
		if err != nil {
			// A file found in a directory that cannot be read is skipped
			// with a note; one the process has no descriptor left for is
			// not unreadable, and skipping it would end the replay as if
			// it had been read.
			found := p.found && !errors.Is(err, syscall.EMFILE) && !errors.Is(err, syscall.ENFILE)
			// --quiet silences the note of a file that is no log (wtmp,
			// a journal), not of a log left unread: unreadable, a
			// broken gzip archive.
			if found && (!quiet || !errors.Is(err, sources.ErrUndetectable)) {
				fmt.Fprintf(stderr, "skipping %v\n", err)
			}
			if found {
				continue
			}
			return files, nil, &exitError{code: 2, err: err}
		}
		if p.found && f.Format == pipeline.FormatDecision && !typed {
			// Found in a directory: stockade's own output, not a log.
			// Named on the command line, it is replayed (a fleet pack).
			f.Close()
			if !quiet {
				fmt.Fprintf(stderr, "skipping %s: stockade decisions, not a log (name the file to replay them)\n", p.path)
			}
			continue
		}
		files = append(files, f)
		its = append(its, f)
	}
	return files, its, nil
}

// replayFiles judges the files' lines and writes the decisions to
// --output or stdout, with progress and a summary on stderr.
func replayFiles(ctx context.Context, eng *pipeline.Engine, files []*sources.File, its []pipeline.Iterator, o *replayFlags, stdout, stderr io.Writer) error {
	var sink pipeline.Sink
	if o.output != "" {
		s, err := jsonl.OpenFile(o.output)
		if err != nil {
			return &exitError{code: 2, err: err}
		}
		sink = s
	} else {
		sink = jsonl.New(stdout)
	}
	side := &backtest.Side{Name: "replay", Rules: strings.Join(o.rulePaths, ",")}
	if o.report != "" {
		sink = &backtest.Recorder{Next: sink, Side: side}
	}
	counting := &countingSink{Sink: sink}
	start := time.Now()
	var stopProgress func()
	if !o.quiet && isTerminal(stderr) {
		stopProgress = startProgress(stderr, files, start)
	}
	formats := make([]pipeline.Format, len(files))
	for i, f := range files {
		formats[i] = f.Format
	}
	err := pipeline.ReplayWith(ctx, eng, its, counting, pipeline.ReplayOptions{Workers: o.workers, Formats: formats})
	if stopProgress != nil {
		stopProgress()
	}
	if cerr := sink.Close(ctx); err == nil {
		err = cerr
	}
	if !o.quiet {
		printSummary(stderr, files, eng, counting.bans, time.Since(start))
	} else {
		warnUnread(stderr, files)
	}
	if err == nil && o.report != "" {
		side.Stats = eng.Stats()
		err = writeReport(o.report, &backtest.Record{Sources: backtest.SourcesOf(files), Sides: []*backtest.Side{side}}, "stockade replay")
	}
	return err
}

// warnUnread says, under --quiet, what the summary would have said of a
// file not read to its end: it shrank while it was replayed, or it is a
// gzip archive cut short.
func warnUnread(w io.Writer, files []*sources.File) {
	for _, f := range files {
		for _, s := range f.Warnings() {
			fmt.Fprintf(w, "warning: %s\n", s)
		}
	}
}

// runCompare is replay --compare OLD NEW FILE...: one pass over the files,
// judged by both pack sets.
func (o *replayFlags) runCompare(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	hugepages.Heap(replayHeap)
	opt, err := o.sourceOptions()
	if err != nil {
		return err
	}
	allowed, err := allowList(o.allow)
	if err != nil {
		return err
	}
	var engines [2]*pipeline.Engine
	for i, spec := range args[:2] {
		set, err := o.cfg.rules(strings.Split(spec, ","))
		if err != nil {
			return fmt.Errorf("%s: %w", spec, err)
		}
		engines[i] = pipeline.NewEngine(set, pipeline.Config{Origin: cmp.Or(o.origin, "replay"), Allow: allowed, EmitUnbans: o.unbans, MaxWindows: max(0, o.maxWindows)})
	}
	files, its, err := openReplayFiles(args[2:], o.stdin, opt, o.typ != "", o.quiet, stderr)
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	if err != nil {
		return err
	}
	old, new, err := backtest.Compare(ctx, engines[0], engines[1], its)
	if err != nil {
		return err
	}
	old.Rules, new.Rules = args[0], args[1]
	diff := backtest.Differ(old, new)
	srcs := backtest.SourcesOf(files)
	if !o.quiet {
		backtest.WriteSources(stderr, srcs)
	} else {
		warnUnread(stderr, files)
	}
	out := stdout
	if o.output != "" {
		f, err := os.Create(o.output)
		if err != nil {
			return &exitError{code: 2, err: err}
		}
		defer f.Close()
		out = f
	}
	if o.format == "json" {
		err = backtest.WriteJSON(out, diff)
	} else {
		err = backtest.WriteText(out, diff)
	}
	if err == nil && o.report != "" {
		err = writeReport(o.report, &backtest.Record{Sources: srcs, Sides: []*backtest.Side{old, new}, Diff: diff}, "stockade replay --compare")
	}
	return err
}

func writeReport(path string, r *backtest.Record, title string) error {
	f, err := os.Create(path)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	if err := report.Write(f, r, report.Options{Title: title, Generated: time.Now()}); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

type logPath struct {
	path  string
	found bool // found in a directory, not named: skipped if not a log
}

// expandPaths replaces each directory argument with the regular files below
// it (sorted, hidden ones skipped), so `replay /srv/archive/` takes a whole
// month of rotated logs. A named file must be a log or empty; a file found
// in a directory that is not one is skipped with a warning.
func expandPaths(args []string) ([]logPath, error) {
	var out []logPath
	for _, a := range args {
		if a == "-" {
			out = append(out, logPath{path: a})
			continue
		}
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
