package main

import (
	"flag"
	"fmt"
	"net/netip"
	"strings"

	"github.com/stockade-ids/stockade/pipeline/guard"
	"github.com/stockade-ids/stockade/protect"
	"github.com/stockade-ids/stockade/rules"
)

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// loadRules loads the packs named by --rules; "default" (or no --rules at
// all) means the packs built into the binary, "fail2ban:DIR" (or a
// directory holding jail.conf) the jails of a fail2ban configuration.
func loadRules(paths []string) (*rules.Set, error) {
	if len(paths) == 0 {
		paths = []string{"default"}
	}
	var packs []*rules.Pack
	var errs rules.Errors
	for _, p := range paths {
		var ps []*rules.Pack
		var err error
		if dir, ok := fail2banDir(p); ok {
			_, ps, err := importFail2ban(dir)
			if err != nil {
				return nil, err
			}
			packs = append(packs, ps...)
			continue
		}
		if p == "default" {
			ps, err = rules.DefaultPacks()
		} else {
			ps, err = rules.LoadPath(p)
		}
		if es, ok := err.(rules.Errors); ok {
			errs = append(errs, es...)
			continue
		}
		if err != nil {
			return nil, &exitError{code: 2, err: fmt.Errorf("rules: %w", err)}
		}
		packs = append(packs, ps...)
	}
	if len(errs) > 0 {
		return nil, &exitError{code: 2, err: fmt.Errorf("rule packs refused, %d error(s):\n%w", len(errs), errs)}
	}
	set, err := rules.NewSet(packs...)
	if err != nil {
		return nil, &exitError{code: 2, err: fmt.Errorf("rule packs refused:\n%w", err)}
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

// setProtected is protect.Set; a bad entry is bad usage.
func setProtected(g *guard.Guard, allow, fleet []string) error {
	if err := protect.Set(g, allow, fleet); err != nil {
		return &exitError{code: 2, err: err}
	}
	return nil
}
