package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"github.com/stockade-ids/stockade/rules"
	"github.com/stockade-ids/stockade/rules/ruleset"
)

// importCommand is `stockade import fail2ban DIR`: the enabled jails of a
// fail2ban configuration as a stockade pack, YAML on stdout.
func (a *app) importCommand() *cobra.Command {
	wrong := errors.New("import: want `import fail2ban DIR`")
	c := &cobra.Command{
		Use:   "import fail2ban [flags] DIR",
		Short: "print a fail2ban configuration's enabled jails as a rule pack",
		RunE:  func(c *cobra.Command, _ []string) error { return a.usageError(c, wrong) },
	}
	var output string
	f2b := &cobra.Command{
		Use:     "fail2ban [flags] DIR",
		Short:   "print the enabled jails of a fail2ban configuration (e.g. /etc/fail2ban) as a stockade rule pack",
		Example: "  stockade import fail2ban /etc/fail2ban > /etc/stockade/packs/jails.yaml",
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) != 1 {
				return a.usageError(c, wrong)
			}
			return importJails(args[0], output, a.stdout, a.stderr)
		},
	}
	f2b.Flags().StringVar(&output, "output", "", "write the pack to this `FILE` instead of stdout")
	c.AddCommand(f2b)
	return c
}

// importJails prints (or writes to output) the pack of the fail2ban
// configuration in dir.
func importJails(dir, output string, stdout, stderr io.Writer) error {
	data, packs, err := importFail2ban(dir)
	if err != nil {
		return err
	}
	if output != "" {
		if err := os.WriteFile(output, data, 0o644); err != nil {
			return &exitError{code: 2, err: err}
		}
	} else if _, err := stdout.Write(data); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "imported %d jail(s) from %s\n", len(packs[0].Rules), dir)
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
