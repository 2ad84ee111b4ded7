package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/stockade-ids/stockade/rules"
	"github.com/stockade-ids/stockade/rules/ruleset"
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

// importFail2ban is ruleset.ImportFail2ban; a bad configuration is bad
// usage.
func importFail2ban(dir string) ([]byte, []*rules.Pack, error) {
	data, packs, err := ruleset.ImportFail2ban(dir)
	if err != nil {
		return nil, nil, &exitError{code: 2, err: err}
	}
	return data, packs, nil
}
