package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/stockade-ids/stockade/internal/hugepages"
	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/rules"
	"github.com/stockade-ids/stockade/rules/explain"
	"github.com/stockade-ids/stockade/sources"
	"github.com/stockade-ids/stockade/sources/suricata"
)

// explainFlags are explain's flags.
type explainFlags struct {
	rulePaths, allow, homeNets, realIP []string
	typ, tz, suricataYAML, logFormat   string
	out                                outputFlags
	cfg                                daemonConfig
}

// explainCommand is stockade's fail2ban-regex: it reads a log line by line
// and says what the parser made of each line and what every rule that
// could see it decided, and why. It runs a real engine over the lines, so
// the counts, allowlists and bans it shows are the ones replay would
// produce.
func (a *app) explainCommand() *cobra.Command {
	var o explainFlags
	c := &cobra.Command{
		Use:   "explain [flags] FILE|-",
		Short: "show, line by line, what every rule makes of a log (as fail2ban-regex)",
		Long: `Shows, for each line, the parsed fields and every rule's verdict, then a summary.
With --config, the daemon's configuration says which packs and rules judge
(rules:, packs:), whom never to ban (allow:, fleet:), the zone and the home
net, as the daemon would; a flag given wins, and --allow adds.`,
		RunE: func(c *cobra.Command, names []string) error {
			if len(names) != 1 {
				return a.usageError(c, fmt.Errorf("explain: give one log file, or - for standard input"))
			}
			err := o.cfg.load(c.Flags(), judgeOptions{rulePaths: &o.rulePaths, allow: &o.allow, homeNets: &o.homeNets, tz: &o.tz, suricataYAML: &o.suricataYAML})
			if err != nil {
				return err
			}
			return o.run(c.Context(), names[0], a.stdin, a.stdout)
		},
	}
	o.out.add(c)
	f := c.Flags()
	o.cfg.flag(f)
	rulesFlag(f, &o.rulePaths)
	allowFlag(f, &o.allow)
	f.StringVar(&o.typ, "type", "", "log `FORMAT`: syslog, nginx, fastlog, eve, fail2ban (default: detect)")
	tzFlag(f, &o.tz)
	homeNetFlags(f, &o.homeNets, &o.suricataYAML)
	webFlags(f, &o.logFormat, &o.realIP)
	return c
}

// run explains the log at name (-: stdin).
func (o *explainFlags) run(ctx context.Context, name string, stdin io.Reader, stdout io.Writer) error {
	hugepages.Heap(replayHeap) // a whole log read at once, as a replay's
	var err error
	format := pipeline.FormatUnknown
	if o.typ != "" {
		f, ok := pipeline.ParseFormat(o.typ)
		if !ok {
			return &exitError{code: 2, err: fmt.Errorf("--type %q: want syslog, nginx, fastlog, eve or fail2ban", o.typ)}
		}
		format = f
	}
	var loc *time.Location
	if o.tz != "" {
		if loc, err = time.LoadLocation(o.tz); err != nil {
			return &exitError{code: 2, err: fmt.Errorf("--tz: %w", err)}
		}
	}
	home, err := suricata.HomeNetOf("--home-net", o.homeNets, o.suricataYAML)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	web, err := sources.WebOptions("--", o.logFormat, o.realIP)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	set, err := o.cfg.rules(o.rulePaths)
	if err != nil {
		return err
	}
	allowed, err := allowList(o.allow)
	if err != nil {
		return err
	}

	asJSON, err := o.out.asJSON()
	if err != nil {
		return err
	}
	x := explainSetup{set: set, allow: allowed, format: format, loc: loc, home: home, web: web, json: asJSON}
	return x.explainLog(ctx, name, stdin, stdout)
}

// explainSetup is what explain's flags chose.
type explainSetup struct {
	set    *rules.Set
	allow  []netip.Prefix
	format pipeline.Format // FormatUnknown: detect
	loc    *time.Location
	home   suricata.HomeNet
	web    sources.Web
	json   bool // -o json
}

// explainLog explains the log at path (-: standard input) to stdout.
func (c *explainSetup) explainLog(ctx context.Context, path string, stdin io.Reader, stdout io.Writer) error {
	set, format := c.set, c.format
	name, in, ref := "stdin", stdin, time.Now()
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return &exitError{code: 2, err: err}
		}
		defer f.Close()
		if fi, err := f.Stat(); err == nil {
			ref = fi.ModTime()
		}
		name, in = path, f
	}
	how := "given"
	switch {
	case format == pipeline.FormatUnknown && c.web.Layout != nil:
		how = "log_format"
	case format == pipeline.FormatUnknown:
		how = "detected"
	}
	rd, err := sources.OpenReader(in, c.web.Format(format))
	switch {
	case errors.Is(err, sources.ErrEmpty), errors.Is(err, sources.ErrUndetectable):
		return &exitError{code: 2, err: fmt.Errorf("%s: cannot detect the log format from the first lines (use --type syslog|nginx|fastlog|eve|fail2ban)", name)}
	case err != nil:
		return &exitError{code: 2, err: fmt.Errorf("%s: %w", name, err)}
	}
	defer rd.Close()

	out := bufio.NewWriter(stdout)
	dec := sources.NewDecoder(rd.Format, ref, c.loc, nil)
	dec.SetHomeNet(c.home)
	dec.SetWeb(c.web)
	dec.SetDocker(rd.Docker)
	var text io.Writer = out
	var js *explainJSON
	if c.json {
		text = io.Discard
		js = &explainJSON{w: out}
		js.begin(name, rd.Format.String(), how, len(set.Packs()), len(set.Rules()))
	} else {
		fmt.Fprintf(out, "%s: %s (%s); %d packs, %d rules\n\n", name, rd.Format, how, len(set.Packs()), len(set.Rules()))
	}
	x := explain.New(set, c.allow, dec, text)
	if err := explainLines(ctx, rd, name, x, js); err != nil {
		out.Flush() // the lines explained before it stand
		return err
	}
	if js != nil {
		js.end(x.Totals())
		if js.err != nil {
			return js.err
		}
	} else {
		x.Summary()
	}
	return out.Flush()
}

// explainLines explains the lines of rd, to js too when it is not nil.
func explainLines(ctx context.Context, rd *sources.Reader, name string, x *explain.Explainer, js *explainJSON) error {
	for n := 1; ; n++ {
		if n&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		line, err := rd.ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			// A gzip archive cut short or corrupt: what was read of the
			// line is cut, and a cut address is another address.
			return fmt.Errorf("%s: cut short or corrupt after line %d, its lines after it not read: %w", name, n-1, err)
		}
		if line == "" && err != nil {
			break
		}
		line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		if res := x.Line(n, name, line); js != nil && res != nil {
			js.line(res)
		}
	}
	return nil
}

// explainJSON writes `explain -o json`: one JSON document, its lines
// streamed as they are explained so that a long log is not held whole.
type explainJSON struct {
	w   io.Writer
	n   int
	err error
}

func (j *explainJSON) raw(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil && j.err == nil {
		j.err = err
	}
	return b
}

func (j *explainJSON) begin(file, format, how string, packs, rules int) {
	fmt.Fprintf(j.w, "{\"file\":%s,\"format\":%s,\"format_from\":%s,\"packs\":%d,\"rules\":%d,\"lines\":[",
		j.raw(file), j.raw(format), j.raw(how), packs, rules)
}

func (j *explainJSON) line(res *explain.LineResult) {
	if j.n > 0 {
		fmt.Fprint(j.w, ",")
	}
	j.n++
	fmt.Fprintf(j.w, "\n%s", j.raw(res))
}

func (j *explainJSON) end(sum explain.SummaryResult) {
	fmt.Fprintf(j.w, "\n],\"summary\":%s}\n", j.raw(sum))
}
