package fleet

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/stockade-ids/stockade/enforce"
)

// Print writes st as `stockade fleet status` shows it: a table, then
// each firewall's refusals by reason and its overrides.
func Print(w io.Writer, st []Firewall, decisions int, back time.Duration) {
	fmt.Fprintf(w, "%d decisions on the bus in the last %s; %d firewalls heard from\n", decisions, back, len(st))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FIREWALL\tLAST SEEN\tJUDGED\tAPPLIED\tREFUSED\tDEFERRED\tOVERRIDDEN\tMISSING\tLAG\tREPAIRED\tLINE→KERNEL p50/p95\tSIGNED")
	for _, f := range st {
		signed := "yes"
		for _, s := range f.Signers {
			if s == "" {
				signed = "no"
			}
		}
		lat := "-"
		if f.Latency.N > 0 {
			lat = f.Latency.P50.Round(time.Millisecond).String() + "/" + f.Latency.P95.Round(time.Millisecond).String()
		}
		lag := "-"
		if f.Lag > 0 {
			lag = roundLag(f.Lag).String()
		}
		fmt.Fprintf(tw, "%s\t%s ago\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%d\t%s\t%s\n", f.Name, f.Behind.Round(time.Second), f.Judged, f.Applied,
			f.Refused, f.Deferred, f.Overridden, f.Missing, lag, f.Repaired, lat, signed)
	}
	tw.Flush()
	for _, f := range st {
		if len(f.Reasons) > 0 {
			var rs []string
			for r, n := range f.Reasons {
				rs = append(rs, fmt.Sprintf("%s=%d", r, n))
			}
			sort.Strings(rs)
			fmt.Fprintf(w, "%s refused: %s\n", f.Name, strings.Join(rs, " "))
		}
		for _, o := range f.Overrides {
			if o.Verdict == enforce.VerdictLifted {
				fmt.Fprintf(w, "%s lifted %s: %s\n", f.Name, o.Target, o.Reason)
				continue
			}
			fmt.Fprintf(w, "%s overrode %s until %s: %s\n", f.Name, o.Target, o.Until.Format(time.RFC3339), o.Reason)
		}
	}
}

// roundLag keeps a tenth of a second, or a millisecond when below it (a
// lag that shows as 0s would read as none).
func roundLag(d time.Duration) time.Duration {
	if r := d.Round(100 * time.Millisecond); r > 0 {
		return r
	}
	return max(d.Round(time.Millisecond), time.Millisecond)
}
