// Package manpage writes man pages (section 8) of a cobra command tree,
// from the same definitions as its --help: flags as GNU man pages write
// them (--flag VALUE, from the backquoted name in the flag's usage).
package manpage

import (
	"bytes"
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Write writes the page of c and of each command under it (help
// commands aside) into dir, dated date, source naming the program and
// its version; it returns how many.
func Write(c *cobra.Command, dir string, date time.Time, source string) (int, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	n := 0
	var write func(*cobra.Command) error
	write = func(c *cobra.Command) error {
		if c.Hidden || c.Name() == "help" {
			return nil
		}
		if err := os.WriteFile(filepath.Join(dir, manName(c)+".8"), manPage(c, date, source), 0o644); err != nil {
			return err
		}
		n++
		for _, s := range c.Commands() {
			if err := write(s); err != nil {
				return err
			}
		}
		return nil
	}
	return n, write(c)
}

// manName is the page's name: the command path joined by dashes.
func manName(c *cobra.Command) string { return strings.ReplaceAll(c.CommandPath(), " ", "-") }

// manPage is c's page in roff: the help text, flags as GNU man pages
// write them (--flag VALUE), examples, the commands below it.
func manPage(c *cobra.Command, date time.Time, source string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, ".TH %q 8 %q %q %q\n", strings.ToUpper(manName(c)), date.Format("2006-01-02"), source, "System Administration")
	fmt.Fprintf(&b, ".SH NAME\n%s \\- %s\n", roff(manName(c)), roff(c.Short))
	fmt.Fprintf(&b, ".SH SYNOPSIS\n.B %s\n%s\n", roff(c.CommandPath()), roff(strings.TrimSpace(strings.TrimPrefix(c.Use, c.Name()))))
	b.WriteString(".SH DESCRIPTION\n")
	for i, p := range strings.Split(cmp.Or(c.Long, c.Short), "\n\n") {
		if i > 0 {
			b.WriteString(".PP\n")
		}
		b.WriteString(roff(p) + "\n")
	}
	manFlags(&b, "OPTIONS", c.NonInheritedFlags())
	manFlags(&b, "GLOBAL OPTIONS", c.InheritedFlags())
	if c.Example != "" {
		fmt.Fprintf(&b, ".SH EXAMPLES\n.nf\n%s\n.fi\n", roff(c.Example))
	}
	var subs, see []string
	for _, s := range c.Commands() {
		if s.IsAvailableCommand() {
			subs = append(subs, fmt.Sprintf(".TP\n.B %s\n%s\n", roff(s.Name()), roff(s.Short)))
			see = append(see, fmt.Sprintf(".BR %s (8)", roff(manName(s))))
		}
	}
	if len(subs) > 0 {
		b.WriteString(".SH COMMANDS\n" + strings.Join(subs, ""))
	}
	if c.HasParent() {
		see = append([]string{fmt.Sprintf(".BR %s (8)", roff(manName(c.Parent())))}, see...)
	}
	if len(see) > 0 {
		b.WriteString(".SH SEE ALSO\n" + strings.Join(see, ",\n") + "\n")
	}
	return b.Bytes()
}

// manFlags lists fs under a section titled title.
func manFlags(b *bytes.Buffer, title string, fs *pflag.FlagSet) {
	if !fs.HasAvailableFlags() {
		return
	}
	fmt.Fprintf(b, ".SH %s\n", title)
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		name, usage := pflag.UnquoteUsage(f)
		b.WriteString(".TP\n")
		head := "\\fB\\-\\-" + roff(f.Name) + "\\fR"
		if f.Shorthand != "" {
			head = "\\fB\\-" + roff(f.Shorthand) + "\\fR, " + head
		}
		if f.NoOptDefVal == "" {
			head += " \\fI" + roff(name) + "\\fR"
		}
		b.WriteString(head + "\n" + roff(usage))
		if def := f.DefValue; def != "" && def != "false" && def != "[]" && !strings.Contains(usage, "(default") {
			b.WriteString(" (default " + roff(def) + ")")
		}
		b.WriteString("\n")
	})
}

// roff escapes text for a roff line: backslashes, dashes (which must not
// become hyphens in flags), and a period or quote starting a line.
func roff(s string) string {
	s = strings.NewReplacer(`\`, `\e`, "-", `\-`).Replace(s)
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, ".") || strings.HasPrefix(l, "'") {
			lines[i] = `\&` + l
		}
	}
	return strings.Join(lines, "\n")
}
