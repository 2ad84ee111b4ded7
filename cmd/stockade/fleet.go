package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/spf13/cobra"

	"github.com/stockade-ids/stockade/fleet"
	"github.com/stockade-ids/stockade/internal/kafkaconn"
	"github.com/stockade-ids/stockade/internal/natsconn"
	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/rules"
)

// fleetFlags are the fleet commands' flags.
type fleetFlags struct {
	url, nkey, creds, stream, since, output string
	kafka                                   []string
	topic                                   string
}

func (a *app) fleetCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "fleet status|why ADDR",
		Short: "what each firewall acknowledged on the bus: applied, refused, missing, latency",
		Long: `Reads the streams STOCKADE_ACKS and --stream (default STOCKADE), read-only;
on a bus with roles, as an administrator.`,
		RunE: func(c *cobra.Command, _ []string) error {
			return a.usageError(c, errors.New("usage: stockade fleet status|why ADDR"))
		},
	}
	status := &cobra.Command{
		Use:   "status",
		Short: "what each firewall acknowledged on the bus since --since",
		Long: `What each firewall acknowledged on the bus since DURATION ago (default
1h): decisions applied, refused and why, deferred, overridden by its
administrator, the time from log line to kernel, and the decisions of the
stream it never acknowledged.`,
		Args: cobra.NoArgs,
	}
	why := &cobra.Command{
		Use:   "why ADDR|CIDR",
		Short: "per firewall, whether ADDR is blocked there, and why (not)",
	}
	for _, sub := range []*cobra.Command{status, why} {
		var o fleetFlags
		f := sub.Flags()
		f.StringVar(&o.url, "nats", "nats://127.0.0.1:4222", "the bus, a NATS `URL`")
		f.StringVar(&o.nkey, "nkey", "", "an nkey seed `FILE` (stockade keygen) to connect as")
		f.StringVar(&o.creds, "creds", "", "a .creds `FILE` to connect as")
		f.StringVar(&o.stream, "stream", "STOCKADE", "the decisions' stream `NAME`")
		if sub == status {
			f.StringSliceVar(&o.kafka, "kafka", nil, "read Kafka instead: its `BROKERS` (host:port,...); acks on the topic stockade-acks")
			f.StringVar(&o.topic, "topic", "stockade-decisions", "with --kafka, the decisions' `TOPIC`")
		}
		f.StringVar(&o.since, "since", "1h", "how far back, `DURATION`")
		f.StringVarP(&o.output, "format", "o", "text", "`FORMAT`: text or json")
		sub.RunE = func(c *cobra.Command, args []string) error {
			var addr netip.Prefix
			if c.Name() == "why" {
				if len(args) != 1 {
					return a.usageError(c, errors.New("usage: stockade fleet why ADDR|CIDR"))
				}
				var err error
				if addr, err = pipeline.ParseTarget(args[0]); err != nil {
					return &exitError{code: 2, err: err}
				}
			}
			return o.run(c.Context(), addr, a.stdout, a.stderr)
		}
		c.AddCommand(sub)
	}
	return c
}

// run reads the acknowledgements on the bus and prints the fleet's status,
// or with addr, why each firewall blocks it or not.
func (o *fleetFlags) run(ctx context.Context, addr netip.Prefix, stdout, stderr io.Writer) error {
	back, err := rules.ParseDuration(o.since)
	if err != nil {
		return &exitError{code: 2, err: fmt.Errorf("--since: %w", err)}
	}
	if len(o.kafka) > 0 {
		return o.kafkaStatus(ctx, back, stdout)
	}
	cc := natsconn.Config{URL: o.url, NKey: o.nkey, Creds: o.creds, Timeout: 5 * time.Second}
	opts, err := cc.Options("stockade-fleet-status", logger(stderr, false))
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	nc, err := nats.Connect(cc.URL, append(opts, nats.RetryOnFailedConnect(false))...)
	if err != nil {
		return fmt.Errorf("nats %s: %w", o.url, err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	from := time.Now().Add(-back)
	if addr.IsValid() {
		acks, err := fleet.Read(ctx, nc, from)
		if err != nil {
			return err
		}
		return fleetWhy(ctx, nc, acks, o.stream, from, addr, o.output == "json", stdout)
	}
	st, pub, err := fleet.Status(ctx, nc, o.stream, from, time.Now())
	if err != nil {
		return err
	}
	if o.output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	fleet.Print(stdout, st, len(pub), back)
	return nil
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

// kafkaStatus is the fleet's status read from Kafka.
func (o *fleetFlags) kafkaStatus(ctx context.Context, back time.Duration, stdout io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	now := time.Now()
	st, pub, err := fleet.KafkaStatus(ctx, kafkaconn.Config{Brokers: o.kafka, Timeout: 5 * time.Second}, o.topic, now.Add(-back), now)
	if err != nil {
		return err
	}
	if o.output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	fleet.Print(stdout, st, len(pub), back)
	return nil
}
