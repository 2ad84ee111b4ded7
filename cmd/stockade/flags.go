package main

import (
	"errors"
	"net/netip"
	"runtime/debug"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/stockade-ids/stockade/config"
	"github.com/stockade-ids/stockade/daemon"
	"github.com/stockade-ids/stockade/enforce"
	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/protect"
	"github.com/stockade-ids/stockade/rules"
	"github.com/stockade-ids/stockade/rules/ruleset"
)

// rulesFlag is --rules, which every command that judges lines has.
func rulesFlag(f *pflag.FlagSet, paths *[]string) {
	f.StringArrayVar(paths, "rules", nil, "rule pack `PATH`: a file, a directory, fail2ban:DIR, or default (the built-in packs, used when none is given); repeatable")
}

// allowFlag is --allow.
func allowFlag(f *pflag.FlagSet, allow *[]string) {
	f.StringArrayVar(allow, "allow", nil, "`CIDR` or address never to ban (repeatable, or comma-separated)")
}

// tzFlag is --tz.
func tzFlag(f *pflag.FlagSet, tz *string) {
	f.StringVar(tz, "tz", "", "`ZONE` of timestamps written without one (syslog, fast.log, fail2ban, eve without offset), e.g. Europe/Paris (default: local)")
}

// homeNetFlags are --home-net and --suricata-yaml.
func homeNetFlags(f *pflag.FlagSet, homeNets *[]string, suricataYAML *string) {
	f.StringArrayVar(homeNets, "home-net", nil, "`CIDR` the Suricata sensor protects, never banned by a Suricata alert (repeatable, or Suricata's [a,!b] syntax)")
	f.StringVar(suricataYAML, "suricata-yaml", "", "suricata.yaml `FILE` whose vars: address-groups: HOME_NET joins --home-net")
}

// webFlags are --log-format and --real-ip-from.
func webFlags(f *pflag.FlagSet, logFormat *string, realIP *[]string) {
	f.StringVar(logFormat, "log-format", "", "access-log `LAYOUT` in nginx log_format or Apache LogFormat syntax; makes the files access logs unless --type is given")
	f.StringArrayVar(realIP, "real-ip-from", nil, "trusted proxy `CIDR` (or address; repeatable): its X-Forwarded-For client is taken, as nginx's set_real_ip_from")
}

// loadRules is ruleset.Load: "default" (or no --rules at all) means the
// packs built into the binary; a refused pack is bad usage.
func loadRules(paths []string) (*rules.Set, error) {
	set, err := ruleset.Load(paths)
	if err != nil {
		return nil, &exitError{code: 2, err: err}
	}
	return set, nil
}

// allowList parses --allow values and adds the host's own addresses and
// loopback, which are never banned (replay and explain: a one-shot run;
// the daemon and the enforcer follow their addresses live, see protect.WatchOwn).
func allowList(vals []string) ([]netip.Prefix, error) {
	out, err := parsePrefixes("--allow", vals)
	if err != nil {
		return nil, err
	}
	return append(append(protect.Loopback(), out...), protect.OwnAddresses()...), nil
}

// parsePrefixes is protect.ParsePrefixes; a bad entry is bad usage.
func parsePrefixes(field string, vals []string) ([]netip.Prefix, error) {
	out, err := protect.ParsePrefixes(field, vals)
	if err != nil {
		return nil, &exitError{code: 2, err: err}
	}
	return out, nil
}

// exitCoded gives a bad configuration (the daemon's or the enforcer's)
// exit code 2; other errors are failures while running (1).
func exitCoded(err error) error {
	var bad *daemon.BadConfig
	var badEnforce *enforce.BadConfig
	if errors.As(err, &bad) {
		return &exitError{code: 2, err: err}
	}
	if errors.As(err, &badEnforce) {
		return &exitError{code: 2, err: badEnforce.Err}
	}
	return err
}

// formats are the names --type completes to.
var formats = []string{"syslog", "nginx", "fastlog", "eve", "fail2ban", "decision", "plain"}

// completeValues makes the shells complete the values of c's flags that
// take a file, a directory or one of a few words.
func completeValues(c *cobra.Command) {
	f := c.Flags()
	for _, name := range []string{"rules", "config", "suricata-yaml"} {
		if f.Lookup(name) != nil {
			_ = cobra.MarkFlagFilename(f, name, "yaml", "yml")
		}
	}
	for _, name := range []string{"output", "out", "nats-user"} {
		if f.Lookup(name) != nil {
			_ = cobra.MarkFlagFilename(f, name)
		}
	}
	if f.Lookup("state") != nil {
		_ = cobra.MarkFlagDirname(f, "state")
	}
	if f.Lookup("type") != nil {
		_ = c.RegisterFlagCompletionFunc("type", cobra.FixedCompletions(formats, cobra.ShellCompDirectiveNoFileComp))
	}
}

// daemonConfig is --config of the commands that judge lines (replay,
// explain, test): the daemon's configuration, whose rules:, packs:,
// allow:, fleet:, tz:, home_net: (and, for replay, origin:,
// max_windows:, unbans:) they judge with unless a flag says otherwise.
type daemonConfig struct {
	path string
	sel  rules.Selection // its packs:, applied to the packs loaded
}

func (d *daemonConfig) flag(f *pflag.FlagSet) {
	f.StringVar(&d.path, "config", "", "the daemon's configuration `FILE`: judge with its rules:, packs:, allow:, fleet:, tz: and home_net:, as the daemon would (a flag given wins; --allow adds)")
}

// judgeOptions are the options of a command that judges lines which the
// daemon's configuration can give as well.
type judgeOptions struct {
	rulePaths, allow, homeNets *[]string
	tz, suricataYAML, origin   *string
	maxWindows                 *int
	unbans                     *bool
}

// load reads --config, if given, and fills in each option of o whose
// flag was not given with the configuration's (a nil option: the command
// has none); --allow adds to the configuration's allow: and fleet:.
func (d *daemonConfig) load(f *pflag.FlagSet, o judgeOptions) error {
	if d.path == "" {
		return nil
	}
	j, err := config.LoadJudging(d.path)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	d.sel = j.Packs
	unset := func(name string) bool { return !f.Changed(name) }
	if o.rulePaths != nil && unset("rules") {
		// The daemon without rules: runs the built-in packs; say so, for
		// test's PACK arguments are added to these.
		*o.rulePaths = j.Rules
		if len(j.Rules) == 0 {
			*o.rulePaths = []string{"default"}
		}
	}
	if o.allow != nil {
		*o.allow = append(j.Protected, *o.allow...)
	}
	if o.tz != nil && unset("tz") {
		*o.tz = j.TZ
	}
	if o.homeNets != nil && unset("home-net") && unset("suricata-yaml") {
		*o.homeNets, *o.suricataYAML = j.HomeNet, j.SuricataYAML
	}
	if o.origin != nil && unset("origin") {
		*o.origin = j.Origin
	}
	if o.maxWindows != nil && unset("max-windows") {
		*o.maxWindows = j.MaxWindows
	}
	if o.unbans != nil && unset("unbans") {
		*o.unbans = j.Unbans
	}
	return nil
}

// rules is loadRules with the configuration's packs: applied: a name it
// gives that no pack loaded has is an error at its place in the file.
func (d *daemonConfig) rules(paths []string) (*rules.Set, error) {
	return d.rulesFor(paths, nil)
}

// rulesFor is rules for sources of formats (nil: of any; see
// ruleset.LoadFor).
func (d *daemonConfig) rulesFor(paths []string, formats []pipeline.Format) (*rules.Set, error) {
	defer loadingGC()()
	set, err := ruleset.LoadFor(paths, d.sel, formats)
	if err != nil {
		return nil, &exitError{code: 2, err: err}
	}
	return set, nil
}

// loadGCPercent is the collector's pace while a one-shot command (replay,
// explain) loads its packs: about 11 MB of short-lived parse trees,
// collected four or five times over at the default pace, which was a
// fifth of a replay's start-up. The pace in force is put back after.
const loadGCPercent = 400

// loadingGC sets the collector's pace for loading packs, unless it is
// set slower already (or off), and returns what puts it back.
func loadingGC() func() {
	old := debug.SetGCPercent(loadGCPercent)
	if old < 0 || old >= loadGCPercent {
		debug.SetGCPercent(old)
	}
	return func() { debug.SetGCPercent(old) }
}
