package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/stockade-ids/stockade/rules"
	"github.com/stockade-ids/stockade/rules/fail2ban/jailconf"
)

// importCmd is `stockade import fail2ban DIR`: the enabled jails of a
// fail2ban configuration as a stockade pack, YAML on stdout.
func importCmd(args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("import", flag.ContinueOnError)
	fl.SetOutput(stderr)
	output := fl.String("output", "", "write the pack to this file instead of stdout")
	fl.Usage = func() {
		fmt.Fprintln(stderr, "Usage: stockade import fail2ban [--output FILE] DIR")
		fmt.Fprintln(stderr, "Prints the enabled jails of a fail2ban configuration (e.g. /etc/fail2ban) as a stockade rule pack.")
		fl.PrintDefaults()
	}
	pos, err := parseArgs(fl, args)
	if err != nil {
		return errHelp
	}
	if len(pos) != 2 || pos[0] != "fail2ban" {
		fl.Usage()
		return &exitError{code: 2, err: errors.New("import: want `import fail2ban DIR`")}
	}
	data, packs, err := importFail2ban(pos[1])
	if err != nil {
		return err
	}
	if *output != "" {
		if err := os.WriteFile(*output, data, 0o644); err != nil {
			return &exitError{code: 2, err: err}
		}
	} else if _, err := stdout.Write(data); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "imported %d jail(s) from %s\n", len(packs[0].Rules), pos[1])
	return nil
}

// importFail2ban reads a fail2ban directory and loads the pack it makes,
// so that what import prints is refused if it would not load.
func importFail2ban(dir string) ([]byte, []*rules.Pack, error) {
	if err := rules.CheckTrusted(dir); err != nil {
		return nil, nil, &exitError{code: 2, err: err}
	}
	data, p, err := jailconf.Load(dir)
	if err != nil {
		return nil, nil, &exitError{code: 2, err: err}
	}
	return data, []*rules.Pack{p}, nil
}

// fail2banDir reports whether a --rules value names a fail2ban
// configuration: "fail2ban:DIR", or a directory that holds jail.conf or
// jail.local and no rule pack.
func fail2banDir(p string) (string, bool) {
	if dir, ok := strings.CutPrefix(p, "fail2ban:"); ok {
		return dir, true
	}
	fi, err := os.Stat(p)
	if err != nil || !fi.IsDir() {
		return "", false
	}
	packs, _ := filepath.Glob(filepath.Join(p, "*.y*ml"))
	if len(packs) > 0 {
		return "", false
	}
	for _, n := range []string{"jail.conf", "jail.local"} {
		if _, err := os.Stat(filepath.Join(p, n)); err == nil {
			return p, true
		}
	}
	return "", false
}
