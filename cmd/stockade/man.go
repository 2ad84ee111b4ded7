package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/stockade-ids/stockade/internal/manpage"
)

func (a *app) manCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "man DIR",
		Short: "write a man page of every command into DIR (stockade.8, stockade-run.8, …)",
		Long: `Writes a man page of every command into DIR, from the same definitions
as --help. Their date is $SOURCE_DATE_EPOCH when set, for reproducible
packages.`,
		Example: "  stockade man /usr/local/share/man/man8",
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) != 1 {
				return a.usageError(c, errors.New("man: give the directory to write the pages into"))
			}
			date, err := manDate()
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			n, err := manpage.Write(c.Root(), args[0], date, "stockade "+moduleVersion())
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stderr, "%d man pages written to %s\n", n, args[0])
			return nil
		},
	}
}

// manDate is $SOURCE_DATE_EPOCH, else today.
func manDate() (time.Time, error) {
	s := os.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		return time.Now().UTC(), nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH: %q is not a count of seconds", s)
	}
	return time.Unix(n, 0).UTC(), nil
}
