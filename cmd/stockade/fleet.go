package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stockade-ids/stockade/enforce"
	"github.com/stockade-ids/stockade/fleet"
	"github.com/stockade-ids/stockade/internal/natsconn"
	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/rules"
)

const fleetUsage = `Usage: stockade fleet status|why ADDR [--nats URL] [--nkey FILE | --creds FILE] [--stream NAME] [--since DURATION] [-o json]
status: what each firewall acknowledged on the bus since DURATION ago
(default 1h): decisions applied, refused and why, deferred, overridden by
its administrator, the time from log line to kernel, and the decisions of
the stream it never acknowledged.
why ADDR: per firewall, whether ADDR is blocked there, and why (not).
Reads the streams STOCKADE_ACKS and --stream (default STOCKADE), read-only;
on a bus with roles, as an administrator.
`

func fleetCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "status" && args[0] != "why" {
		fmt.Fprint(stderr, fleetUsage)
		return &exitError{code: 2, err: errors.New("usage: stockade fleet status|why ADDR")}
	}
	fl := newFlagSet("fleet status", stderr)
	url := fl.String("nats", "nats://127.0.0.1:4222", "the bus")
	nkey := fl.String("nkey", "", "an nkey seed file (stockade keygen) to connect as")
	creds := fl.String("creds", "", "a .creds file to connect as")
	stream := fl.String("stream", "STOCKADE", "the decisions' stream")
	since := fl.String("since", "1h", "how far back")
	output := fl.String("o", "text", "text or json")
	fl.Usage = func() { fmt.Fprint(stderr, fleetUsage); fl.PrintDefaults() }
	pos, err := parseArgs(fl, args[1:])
	if err != nil {
		return errHelp
	}
	var addr netip.Prefix
	if args[0] == "why" {
		if len(pos) != 1 {
			return &exitError{code: 2, err: errors.New("usage: stockade fleet why ADDR|CIDR")}
		}
		if addr, err = pipeline.ParseTarget(pos[0]); err != nil {
			return &exitError{code: 2, err: err}
		}
	}
	back, err := rules.ParseDuration(*since)
	if err != nil {
		return &exitError{code: 2, err: fmt.Errorf("--since: %w", err)}
	}
	cc := natsconn.Config{URL: *url, NKey: *nkey, Creds: *creds, Timeout: 5 * time.Second}
	opts, err := cc.Options("stockade-fleet-status", logger(stderr, false))
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	nc, err := nats.Connect(cc.URL, append(opts, nats.RetryOnFailedConnect(false))...)
	if err != nil {
		return fmt.Errorf("nats %s: %w", *url, err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	from := time.Now().Add(-back)
	acks, err := fleet.Read(ctx, nc, from)
	if err != nil {
		return err
	}
	if addr.IsValid() {
		return fleetWhy(ctx, nc, acks, *stream, from, addr, *output == "json", stdout)
	}
	ids, err := fleet.Decisions(ctx, nc, *stream, from)
	if err != nil {
		return err
	}
	st := fleet.Summarize(acks, ids, time.Now())
	if *output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	printFleet(stdout, st, len(ids), back)
	return nil
}

func printFleet(w io.Writer, st []fleet.Firewall, decisions int, back time.Duration) {
	fmt.Fprintf(w, "%d decisions on the bus in the last %s; %d firewalls heard from\n", decisions, back, len(st))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FIREWALL\tLAST SEEN\tJUDGED\tAPPLIED\tREFUSED\tDEFERRED\tOVERRIDDEN\tMISSING\tREPAIRED\tLINE→KERNEL p50/p95\tSIGNED")
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
		fmt.Fprintf(tw, "%s\t%s ago\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", f.Name, f.Behind.Round(time.Second), f.Judged, f.Applied,
			f.Refused, f.Deferred, f.Overridden, f.Missing, f.Repaired, lat, signed)
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

func fleetWhy(ctx context.Context, nc *nats.Conn, acks []fleet.Ack, stream string, from time.Time, addr netip.Prefix, asJSON bool, w io.Writer) error {
	about, err := fleet.About(ctx, nc, stream, from, addr)
	if err != nil {
		return err
	}
	why := fleet.WhyAbout(acks, about, addr, time.Now())
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(why)
	}
	fmt.Fprintf(w, "%s: %d decisions about it on the bus; %d firewalls heard from\n", pipeline.TargetOf(addr), len(about), len(why))
	for _, y := range why {
		fmt.Fprintf(w, "%s: %s: %s\n", y.Firewall, y.State, y.Detail)
	}
	return nil
}
