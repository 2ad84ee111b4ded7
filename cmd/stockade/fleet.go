package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/spf13/cobra"

	"github.com/stockade-ids/stockade/config"
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
	topic, config                           string
}

func (a *app) fleetCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "fleet status|why ADDR",
		Short: "what each firewall acknowledged on the bus: applied, refused, missing, latency",
		Long: `Reads the streams STOCKADE_ACKS and --stream (default STOCKADE), read-only;
on a bus with roles, as an administrator. With --kafka, the topics
stockade-acks and --topic instead, without a consumer group. With
--config, the bus and how to reach it (TLS, SASL, credentials) are the
configuration's: its follow_acks, else its first kafka sink, else its
first nats sink.`,
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
		f.StringSliceVar(&o.kafka, "kafka", nil, "read Kafka instead: its `BROKERS` (host:port,...); acks on the topic stockade-acks")
		f.StringVar(&o.topic, "topic", "stockade-decisions", "with --kafka, the decisions' `TOPIC`")
		f.StringVar(&o.config, "config", "", "take the bus and its TLS, SASL or credentials from this daemon configuration `FILE`")
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

// fleetBus is the bus a fleet command reads: Kafka when kafka is set,
// else NATS.
type fleetBus struct {
	nats   natsconn.Config
	stream string
	kafka  *fleet.FollowKafka
}

// bus is the bus the flags name, or --config's.
func (o *fleetFlags) bus() (fleetBus, error) {
	b := fleetBus{nats: natsconn.Config{URL: o.url, NKey: o.nkey, Creds: o.creds}, stream: o.stream}
	if len(o.kafka) > 0 {
		b.kafka = &fleet.FollowKafka{Config: kafkaconn.Config{Brokers: o.kafka}, Topic: o.topic}
	}
	if o.config != "" {
		c, err := config.Load(o.config)
		if err != nil {
			return b, err
		}
		var ok bool
		if b, ok = configBus(c); !ok {
			return b, fmt.Errorf("%s: no follow_acks, kafka sink or nats sink to read the fleet on", o.config)
		}
	}
	if b.kafka != nil {
		b.kafka.Timeout = cmp.Or(b.kafka.Timeout, 5*time.Second)
	}
	b.nats.Timeout = cmp.Or(b.nats.Timeout, 5*time.Second)
	return b, nil
}

// configBus is the bus of a daemon's configuration: follow_acks's, else
// its first kafka sink's, else its first nats sink's.
func configBus(c *config.Daemon) (fleetBus, bool) {
	if f := c.FollowAcks; f != nil {
		fc := *f
		fc.SetDefaults()
		return fleetBus{nats: fc.Config, stream: fc.Stream, kafka: fc.Kafka}, true
	}
	for _, s := range c.Sinks {
		if s.Kafka != nil {
			return fleetBus{kafka: &fleet.FollowKafka{Config: s.Kafka.Config, Topic: cmp.Or(s.Kafka.Topic, "stockade-decisions")}}, true
		}
	}
	for _, s := range c.Sinks {
		if s.NATS != nil {
			return fleetBus{nats: s.NATS.Config, stream: cmp.Or(s.NATS.Stream, "STOCKADE")}, true
		}
	}
	return fleetBus{}, false
}

// run reads the acknowledgements on the bus and prints the fleet's status,
// or with addr, why each firewall blocks it or not.
func (o *fleetFlags) run(ctx context.Context, addr netip.Prefix, stdout, stderr io.Writer) error {
	back, err := rules.ParseDuration(o.since)
	if err != nil {
		return &exitError{code: 2, err: fmt.Errorf("--since: %w", err)}
	}
	b, err := o.bus()
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	from, now := time.Now().Add(-back), time.Now()
	if b.kafka != nil {
		return o.kafkaFleet(ctx, b.kafka, addr, from, back, stdout)
	}
	opts, err := b.nats.Options("stockade-fleet-status", logger(stderr, false))
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	nc, err := nats.Connect(b.nats.URL, append(opts, nats.RetryOnFailedConnect(false))...)
	if err != nil {
		return fmt.Errorf("nats %s: %w", b.nats.URL, err)
	}
	defer nc.Close()
	if addr.IsValid() {
		acks, err := fleet.Read(ctx, nc, from)
		if err != nil {
			return err
		}
		about, err := fleet.About(ctx, nc, b.stream, from, addr)
		if err != nil {
			return err
		}
		return printWhy(acks, about, addr, o.output == "json", stdout)
	}
	st, pub, err := fleet.Status(ctx, nc, b.stream, from, now)
	if err != nil {
		return err
	}
	return o.printStatus(st, len(pub), back, stdout)
}

func (o *fleetFlags) printStatus(st []fleet.Firewall, published int, back time.Duration, w io.Writer) error {
	if o.output == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	fleet.Print(w, st, published, back)
	return nil
}

func printWhy(acks []fleet.Ack, about []pipeline.Decision, addr netip.Prefix, asJSON bool, w io.Writer) error {
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

// kafkaFleet is the fleet's status, or why about addr, read from Kafka.
func (o *fleetFlags) kafkaFleet(ctx context.Context, k *fleet.FollowKafka, addr netip.Prefix, from time.Time, back time.Duration, stdout io.Writer) error {
	if addr.IsValid() {
		acks, err := fleet.KafkaRead(ctx, k.Config, from)
		if err != nil {
			return err
		}
		about, err := fleet.KafkaAbout(ctx, k.Config, k.Topic, from, addr)
		if err != nil {
			return err
		}
		return printWhy(acks, about, addr, o.output == "json", stdout)
	}
	st, pub, err := fleet.KafkaStatus(ctx, k.Config, k.Topic, from, time.Now())
	if err != nil {
		return err
	}
	return o.printStatus(st, len(pub), back, stdout)
}
