package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/rules"
	"github.com/stockade-ids/stockade/rules/explain"
	"github.com/stockade-ids/stockade/sources"
	"github.com/stockade-ids/stockade/sources/suricata"
)

// explainCmd is stockade's fail2ban-regex: it reads a log line by line and
// says what the parser made of each line and what every rule that could
// see it decided, and why. It runs a real engine over the lines, so the
// counts, allowlists and bans it shows are the ones replay would produce.
func explainCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("explain", flag.ContinueOnError)
	fl.SetOutput(stderr)
	var rulePaths, allow listFlag
	fl.Var(&rulePaths, "rules", "rule pack file or directory (repeatable; `default` = the built-in packs, used when none is given)")
	fl.Var(&allow, "allow", "address or CIDR never to ban (repeatable, or comma-separated)")
	typ := fl.String("type", "", "log format: syslog, nginx, fastlog, eve, fail2ban (default: detect)")
	tz := fl.String("tz", "", "zone of timestamps written without one (syslog, fast.log, fail2ban, eve without offset), e.g. Europe/Paris (default: local)")
	var homeNets listFlag
	fl.Var(&homeNets, "home-net", "network the Suricata sensor protects, never banned by a Suricata alert (CIDR, repeatable, or Suricata's [a,!b] syntax)")
	suricataYAML := fl.String("suricata-yaml", "", "suricata.yaml whose vars: address-groups: HOME_NET joins --home-net")
	logFormat := fl.String("log-format", "", logFormatUsage)
	var realIP listFlag
	fl.Var(&realIP, "real-ip-from", realIPUsage)
	fl.Usage = func() {
		fmt.Fprintln(stderr, "Usage: stockade explain [--rules PATH]... [--type T] [--allow CIDR]... [--tz Z] [--home-net CIDR]... [--suricata-yaml PATH] FILE|-")
		fmt.Fprintln(stderr, "Shows, for each line, the parsed fields and every rule's verdict, then a summary.")
		fl.PrintDefaults()
	}
	names, err := parseArgs(fl, args)
	if err != nil {
		return errHelp
	}
	if len(names) != 1 {
		fl.Usage()
		return &exitError{code: 2, err: fmt.Errorf("explain: give one log file, or - for standard input")}
	}
	format := pipeline.FormatUnknown
	if *typ != "" {
		f, ok := pipeline.ParseFormat(*typ)
		if !ok {
			return &exitError{code: 2, err: fmt.Errorf("--type %q: want syslog, nginx, fastlog, eve or fail2ban", *typ)}
		}
		format = f
	}
	var loc *time.Location
	if *tz != "" {
		if loc, err = time.LoadLocation(*tz); err != nil {
			return &exitError{code: 2, err: fmt.Errorf("--tz: %w", err)}
		}
	}
	home, err := suricata.HomeNetOf("--home-net", homeNets, *suricataYAML)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	web, err := sources.WebOptions("--", *logFormat, realIP)
	if err != nil {
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

	x := explainSetup{set: set, allow: allowed, format: format, loc: loc, home: home, web: web}
	return x.explainLog(ctx, names[0], stdin, stdout)
}

// explainSetup is what explain's flags chose.
type explainSetup struct {
	set    *rules.Set
	allow  []netip.Prefix
	format pipeline.Format // FormatUnknown: detect
	loc    *time.Location
	home   suricata.HomeNet
	web    sources.Web
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
	x := explain.New(set, c.allow, dec, out)
	fmt.Fprintf(out, "%s: %s (%s); %d packs, %d rules\n\n", name, rd.Format, how, len(set.Packs()), len(set.Rules()))
	for n := 1; ; n++ {
		if n&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		line, err := rd.ReadString('\n')
		if line == "" && err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return fmt.Errorf("%s: %w", name, err)
		}
		line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		x.Line(n, name, line)
	}
	x.Summary()
	return out.Flush()
}
