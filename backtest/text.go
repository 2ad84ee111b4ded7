package backtest

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// maxEvidence is how many evidence lines the text form shows per ban; the
// JSON form and the report have them all.
const maxEvidence = 3

// WriteText prints d for a terminal: the targets only one side banned
// with their rule and evidence, the bans that changed, and the per-rule
// counts of both sides.
func WriteText(w io.Writer, d *Diff) error {
	ew := &errWriter{w: w}
	fmt.Fprintf(ew, "old: %s\nnew: %s\n\n", d.Old, d.New)
	writeOnly(ew, "banned only by old", d.OnlyOld, "new")
	writeOnly(ew, "banned only by new", d.OnlyNew, "old")
	fmt.Fprintf(ew, "changed (%d):\n", len(d.Changed))
	for _, c := range d.Changed {
		fmt.Fprintf(ew, "  %s  %s\n", c.Target, strings.Join(c.What, "; "))
	}
	fmt.Fprintln(ew)
	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "rule\tpack\told matches\told bans\tnew matches\tnew bans\t\t")
	quiet := 0
	for _, r := range d.Rules {
		if r.OldMatches+r.OldBans+r.NewMatches+r.NewBans == 0 && r.Missing == "" {
			quiet++
			continue
		}
		mark := ""
		if r.OldMatches != r.NewMatches || r.OldBans != r.NewBans || r.Missing != "" {
			mark = "*"
		}
		om, ob, nm, nb := fmt.Sprint(r.OldMatches), fmt.Sprint(r.OldBans), fmt.Sprint(r.NewMatches), fmt.Sprint(r.NewBans)
		switch r.Missing {
		case "old":
			om, ob = "-", "-"
		case "new":
			nm, nb = "-", "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Rule, r.Pack, om, ob, nm, nb, mark)
	}
	tw.Flush()
	if quiet > 0 {
		fmt.Fprintf(ew, "(%d more rules matched nothing on either side; * marks a rule whose counts differ, - a rule that side lacks)\n", quiet)
	}
	fmt.Fprintf(ew, "\n%d only by old, %d only by new, %d changed\n", len(d.OnlyOld), len(d.OnlyNew), len(d.Changed))
	return ew.err
}

func writeOnly(w io.Writer, title string, list []Only, other string) {
	fmt.Fprintf(w, "%s (%d):\n", title, len(list))
	for _, o := range list {
		b := o.Bans[0]
		fmt.Fprintf(w, "  %s  %s (%s) at %s for %s", o.Target, b.Rule, b.Pack, clock(b.At), Length(b.Duration))
		if len(o.Bans) > 1 {
			fmt.Fprintf(w, ", banned %d times", len(o.Bans))
		}
		if o.CoveredBy != "" {
			fmt.Fprintf(w, " (held by %s's range ban %s)", other, o.CoveredBy)
		}
		fmt.Fprintf(w, "\n      %s: %s\n", Printable(b.Source), Printable(b.Reason))
		for i, e := range b.Evidence {
			if i == maxEvidence {
				fmt.Fprintf(w, "      … %d more\n", len(b.Evidence)-i)
				break
			}
			fmt.Fprintf(w, "      | %s\n", Printable(e))
		}
	}
	fmt.Fprintln(w)
}

// Printable replaces the control characters of s (C0, DEL, C1) with \xNN:
// an evidence line is the attacker's text, and a terminal obeys escape
// sequences (retitle the window, rewrite what was printed above).
func Printable(s string) string {
	clean := true
	for _, r := range s {
		if isControl(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if isControl(r) {
			fmt.Fprintf(&b, "\\x%02x", r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func isControl(r rune) bool { return r < 0x20 || (r >= 0x7f && r < 0xa0) }

// WriteJSON writes d as one indented JSON document.
func WriteJSON(w io.Writer, d *Diff) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(d)
}

// errWriter keeps the first write error, so a report of many Fprintf
// calls checks once.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

// WriteSources prints each log's lines, events and bad lines by reason:
// a comparison's stderr summary, so a file that was mostly unreadable is
// not taken for a quiet one.
func WriteSources(w io.Writer, srcs []Source) error {
	ew := &errWriter{w: w}
	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "file\tformat\tlines\tevents\tskipped\tbad\t")
	for _, s := range srcs {
		var bad uint64
		for _, b := range s.Bad {
			bad += b.Count
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t\n", Printable(s.Path), s.Format, s.Lines, s.Events, s.Skipped, bad)
	}
	tw.Flush()
	for _, s := range srcs {
		for _, b := range s.Bad {
			fmt.Fprintf(ew, "  bad line in %s: %s ×%d\n", Printable(s.Path), b.Reason, b.Count)
		}
		for _, w := range s.Warnings {
			fmt.Fprintf(ew, "  warning: %s\n", Printable(w))
		}
	}
	return ew.err
}
