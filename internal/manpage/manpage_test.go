package manpage

import (
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// TestRoff: text that roff would take for requests or escapes stays text.
func TestRoff(t *testing.T) {
	for in, want := range map[string]string{
		`a\b`:         `a\eb`,
		"--flag":      `\-\-flag`,
		".TH x\n'x":   "\\&.TH x\n\\&'x",
		"plain text.": "plain text.",
	} {
		if got := roff(in); got != want {
			t.Errorf("roff(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestPage: a command's page has its name, synopsis, GNU-style options
// with their defaults, examples and the commands below it.
func TestPage(t *testing.T) {
	root := &cobra.Command{Use: "tool", Short: "a tool"}
	sub := &cobra.Command{Use: "sub [flags] FILE", Short: "do it", Example: "  tool sub x", Run: func(*cobra.Command, []string) {}}
	sub.Flags().String("config", "/etc/x.yaml", "configuration `FILE`")
	sub.Flags().BoolP("verbose", "v", false, "say more")
	root.AddCommand(sub)
	page := string(manPage(sub, time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), "tool v1"))
	for _, want := range []string{
		`.TH "TOOL-SUB" 8 "2026-01-02" "tool v1" "System Administration"`,
		`tool\-sub \- do it`, ".B tool sub\n[flags] FILE",
		`\fB\-\-config\fR \fIFILE\fR` + "\nconfiguration FILE (default /etc/x.yaml)",
		`\fB\-v\fR, \fB\-\-verbose\fR` + "\nsay more\n",
		".SH EXAMPLES\n.nf\n  tool sub x\n.fi", ".BR tool (8)",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q:\n%s", want, page)
		}
	}
	if page := string(manPage(root, time.Now(), "tool")); !strings.Contains(page, ".SH COMMANDS\n.TP\n.B sub\ndo it") {
		t.Errorf("root page lacks its commands:\n%s", page)
	}
}
