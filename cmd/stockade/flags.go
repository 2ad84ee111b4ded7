package main

import (
	"errors"
	"flag"
	"net/netip"
	"strings"

	"github.com/stockade-ids/stockade/daemon"
	"github.com/stockade-ids/stockade/enforce"
	"github.com/stockade-ids/stockade/protect"
	"github.com/stockade-ids/stockade/rules"
	"github.com/stockade-ids/stockade/rules/ruleset"
)

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

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

// parseArgs parses flags wherever they stand among the arguments
// (`stockade ban 192.0.2.1 --for 1h` as well as `--for 1h 192.0.2.1`);
// "--" ends the flags.
func parseArgs(fl *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fl.Parse(args); err != nil {
			return nil, err
		}
		rest := fl.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if rest[0] == "--" {
			return append(pos, rest[1:]...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// parsePrefixes is protect.ParsePrefixes; a bad entry is bad usage.
func parsePrefixes(field string, vals []string) ([]netip.Prefix, error) {
	out, err := protect.ParsePrefixes(field, vals)
	if err != nil {
		return nil, &exitError{code: 2, err: err}
	}
	return out, nil
}

const (
	logFormatUsage = "access-log layout in nginx log_format or Apache LogFormat syntax; makes the files access logs unless --type is given"
	realIPUsage    = "trusted proxy (address or CIDR, repeatable): its X-Forwarded-For client is taken, as nginx's set_real_ip_from"
)

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
