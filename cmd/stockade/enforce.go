package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/stockade-ids/stockade/enforce"
	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/pipeline/guard"
	"github.com/stockade-ids/stockade/pipeline/store"
	"github.com/stockade-ids/stockade/protect"
	"github.com/stockade-ids/stockade/rules"
	"github.com/stockade-ids/stockade/sinks/nftables"
	"github.com/stockade-ids/stockade/sources/bus"
)

// EnforceConfig is `stockade enforce --config FILE`: a firewall that takes
// signed decisions from the bus and enforces them in its own nftables
// under its own policy. deploy/enforce.yaml documents every key.
type EnforceConfig struct {
	StateDir string `yaml:"state_dir"`
	Metrics  string `yaml:"metrics"`
	// Name is this firewall's consumer on the bus (its JetStream durable,
	// its Kafka group): unique per firewall (default stockade-enforce-<host>).
	Name     string             `yaml:"name"`
	NATS     *NATSSourceConfig  `yaml:"nats"`
	Kafka    *KafkaSourceConfig `yaml:"kafka"`
	NFTables NFTablesConfig     `yaml:"nftables"`
	Policy   PolicyConfig       `yaml:"policy"`
	// Fleet lists the fleet's own hosts (sensors, other firewalls, bus
	// servers): never banned, like policy.allow. The bus servers this
	// firewall connects to are protected without being listed.
	Fleet []string `yaml:"fleet"`
	// HomeNet is the network behind this firewall (CIDRs): never banned,
	// whatever a sensor decides (a sensor's own home_net keeps its
	// Suricata alerts off it; this holds against every sensor).
	HomeNet []string `yaml:"home_net"`

	path string // the file it was read from: SIGHUP reads it again
}

// PolicyConfig is enforce.Policy in YAML.
type PolicyConfig struct {
	Allow        []string       `yaml:"allow"`
	MaxDuration  Duration       `yaml:"max_duration"`
	AllowPrivate bool           `yaml:"allow_private"`
	Permit       []string       `yaml:"permit"`
	MinBits4     int            `yaml:"min_bits4"`
	MinBits6     int            `yaml:"min_bits6"`
	Remember     Duration       `yaml:"remember"`
	RememberMax  int            `yaml:"remember_max"`
	Origins      []OriginConfig `yaml:"origins"`
}

type OriginConfig struct {
	Name         string   `yaml:"name"`
	Key          string   `yaml:"key"`
	MaxPerMinute int      `yaml:"max_per_minute"`
	MaxActive    int      `yaml:"max_active"`
	MayUnban     bool     `yaml:"may_unban"`
	MaxDuration  Duration `yaml:"max_duration"`
	MaxDeferred  int      `yaml:"max_deferred"`
}

// LoadEnforceConfig reads path strictly, reporting every problem.
func LoadEnforceConfig(path string) (*EnforceConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseEnforceConfig(path, data)
}

// parseEnforceConfig is LoadEnforceConfig on bytes already read.
func parseEnforceConfig(path string, data []byte) (*EnforceConfig, error) {
	var c EnforceConfig
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%s: %s", path, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if (c.NATS == nil) == (c.Kafka == nil) {
		return nil, fmt.Errorf("%s: set exactly one of nats, kafka", path)
	}
	if c.NATS != nil && c.NATS.Policy != nil || c.Kafka != nil && c.Kafka.Policy != nil {
		return nil, fmt.Errorf("%s: policy: set it at the top level, not in the bus section", path)
	}
	if _, err := parsePrefixes("home_net", c.HomeNet); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if _, err := c.policy(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	c.path = path
	return &c, nil
}

func (c *EnforceConfig) defaults() {
	if c.StateDir == "" {
		c.StateDir = "/var/lib/stockade-enforce"
	}
	if c.Name == "" {
		host, _ := os.Hostname()
		c.Name = "stockade-enforce-" + strings.NewReplacer(".", "-", " ", "-").Replace(host)
	}
}

// policy is the enforce.Policy. Its Allow is policy.allow and the host's
// addresses as they are now; runEnforcer moves them into the guard, which
// follows them while it runs.
func (c *EnforceConfig) policy() (enforce.Policy, error) {
	p, err := c.Policy.policy()
	if _, ferr := parsePrefixes("fleet", c.Fleet); ferr != nil {
		err = errors.Join(err, ferr)
	}
	return p, err
}

// policy is the enforce.Policy of pc (a firewall's, or a correlator's bus
// source's); the host's own addresses join the allowlist.
func (pc *PolicyConfig) policy() (enforce.Policy, error) {
	var errs []error
	prefixes := func(field string, vals []string) []netip.Prefix {
		var out []netip.Prefix
		for _, v := range vals {
			p, err := rules.ParsePrefix(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("policy: %s: %w", field, err))
				continue
			}
			out = append(out, p)
		}
		return out
	}
	p := enforce.Policy{
		Allow:        append(prefixes("allow", pc.Allow), protect.OwnAddresses()...),
		MaxDuration:  time.Duration(pc.MaxDuration),
		AllowPrivate: pc.AllowPrivate,
		Permit:       prefixes("permit", pc.Permit),
		MinBits4:     pc.MinBits4, MinBits6: pc.MinBits6,
		Remember: time.Duration(pc.Remember), MaxRemembered: pc.RememberMax,
	}
	for _, o := range pc.Origins {
		p.Origins = append(p.Origins, enforce.Origin{Name: o.Name, Key: o.Key, MaxPerMinute: o.MaxPerMinute,
			MaxActive: o.MaxActive, MayUnban: o.MayUnban, MaxDuration: time.Duration(o.MaxDuration), MaxDeferred: o.MaxDeferred})
	}
	errs = append(errs, p.Validate())
	return p, errors.Join(errs...)
}

func enforceCmd(ctx context.Context, args []string, stderr io.Writer) error {
	fl := newFlagSet("enforce", stderr)
	config := fl.String("config", "", "configuration file (YAML; see deploy/enforce.yaml)")
	verbose := fl.Bool("v", false, "debug logging")
	fl.Usage = func() {
		fmt.Fprintln(stderr, "Usage: stockade enforce --config FILE")
		fl.PrintDefaults()
	}
	if _, err := parseArgs(fl, args); err != nil {
		return errHelp
	}
	if *config == "" {
		fl.Usage()
		return &exitError{code: 2, err: errors.New("enforce: --config is required")}
	}
	cfg, err := LoadEnforceConfig(*config)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	return runEnforcer(ctx, cfg, slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})), nil)
}

// enforcer is a running `stockade enforce`.
type enforcer struct {
	cfg      *EnforceConfig
	log      *slog.Logger
	store    *store.Store
	eng      *pipeline.Engine
	nft      *nftables.Sink
	enf      *enforce.Enforcer
	consumer interface{ Stats() bus.Stats }

	guard   *guard.Guard
	reloads chan chan error // SIGHUP, and tests

	saveMu sync.Mutex
	// Refusals are logged once per reason every refusalLogEvery, with how
	// many were not: a flood of forgeries must not flood the journal.
	refusalLog map[enforce.Reason]*refusalLog
}

type refusalLog struct {
	last       time.Time
	suppressed int
}

const refusalLogEvery = 10 * time.Second

// runEnforcer serves until ctx is done; ready, when set, receives the
// enforcer once it consumes (tests).
func runEnforcer(ctx context.Context, cfg *EnforceConfig, log *slog.Logger, ready chan<- *enforcer) error {
	cfg.defaults()
	pol, err := cfg.policy()
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	_, statErr := os.Stat(filepath.Join(cfg.StateDir, "state.db"))
	fresh := errors.Is(statErr, os.ErrNotExist)
	st, err := store.Open(cfg.StateDir)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	defer st.Close()
	saved, _, err := st.Load()
	if err != nil {
		return fmt.Errorf("load state: %w", err)
	}
	e := &enforcer{cfg: cfg, log: log, store: st, refusalLog: map[enforce.Reason]*refusalLog{}, reloads: make(chan chan error)}
	// policy.allow lives in the guard with the firewall's own addresses
	// (followed live) and the fleet's, so that a reload can change it.
	e.guard = guard.New()
	if err := setProtected(e.guard, cfg.Policy.Allow, cfg.Fleet); err != nil {
		return err
	}
	if err := setHomeNet(e.guard, cfg.HomeNet); err != nil {
		return err
	}
	pol.Allow, pol.Guard = nil, e.guard
	if cfg.NFTables.netns == 0 {
		e.guard.Set(guard.Own, protect.OwnAddresses())
	}
	guardCtx, stopGuard := context.WithCancel(ctx)
	defer stopGuard()
	protect.WatchOwn(guardCtx, e.guard, cfg.NFTables.netns, log)
	var busURLs, brokers []string
	if cfg.NATS != nil {
		busURLs = append(busURLs, cfg.NATS.URL)
	}
	if cfg.Kafka != nil {
		brokers = cfg.Kafka.Brokers
	}
	fleet := protect.NewFleet(e.guard, protect.BusHosts(busURLs, brokers), nil, log)
	resolved := fleet.Refresh(guardCtx, true, nil)

	e.eng = pipeline.NewEngine(enforce.NoRules{}, pipeline.Config{Origin: cfg.Name, Guard: e.guard})
	e.eng.TrackChanges()
	now := time.Now()
	e.eng.Restore(nil, saved.Targets, saved.Clock, now)
	// The allowlist wins over bans restored from the state; what changes
	// from here on is handled in the loop.
	guardChanged := e.guard.Changed()
	for _, x := range e.eng.LiftProtected(now) {
		log.Warn("ban lifted: the target is protected now", "target", x.Target, "why", x.Reason)
	}
	active := e.eng.Ledger().ActiveBans(now)
	var adopted []pipeline.ActiveBan
	keep := func(p netip.Prefix) bool { return pol.Refusal(p) == "" }
	cfg.NFTables.guard = e.guard
	e.nft, adopted, err = nftables.Open(ctx, cfg.NFTables.nftConfig(time.Now), active, now, keep, log)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	active = append(active, nftables.Adopt(e.eng.Ledger(), adopted, now, log)...)
	defer e.nft.Close(context.Background())
	e.enf, err = enforce.New(pol, e.eng, e.nft, log)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	// What was applied and deferred before the restart: without it a
	// replay of a captured decision would be enforced again.
	kept, err := st.Kept()
	if err != nil {
		return fmt.Errorf("load state: %w", err)
	}
	if bad := e.enf.RestoreMemory(kept); bad > 0 {
		log.Warn("state: records of decisions applied or deferred did not decode; skipped", "count", bad)
	}
	waiting, _ := e.enf.Deferred()
	log.Info("bans restored from state", "active", len(active), "deferred", waitingTotal(waiting))

	var consumer bus.Consumer
	switch {
	case cfg.NATS != nil:
		cc := cfg.NATS.consumer()
		if cc.Durable == "" {
			cc.Durable = cfg.Name
		}
		if cc.Stream == "" {
			log.Warn("nats: no stream: a core NATS subscription misses every decision published while this firewall is away; set stream")
		}
		// A new state knows no ban: the durable consumer starts over so
		// that every ban still active reaches this firewall again.
		cc.Reset = fresh
		cc.Name = cfg.Name
		c, err := bus.NewNATS(cc, log)
		if err != nil {
			return &exitError{code: 2, err: err}
		}
		defer c.Close()
		consumer, e.consumer = c, c
		fleet.AddConn(c.Conn())
	default:
		kc := cfg.Kafka.consumer()
		if kc.Group == "" {
			kc.Group = cfg.Name
		}
		kc.Reset = fresh
		c, err := bus.NewKafka(kc, log)
		if err != nil {
			return &exitError{code: 2, err: err}
		}
		defer c.Close()
		consumer, e.consumer = c, c
	}
	if cfg.Metrics != "" {
		srv, err := e.serveMetrics(cfg.Metrics)
		if err != nil {
			return &exitError{code: 1, err: err}
		}
		defer srv.Close()
	}

	go fleet.Run(guardCtx, resolved)
	e.save() // the bans lifted at start
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- consumer.RunBatch(runCtx, e.handle, 512) }()
	if ready != nil {
		ready <- e
	}
	log.Info("stockade enforcing", "name", cfg.Name, "origins", len(pol.Origins))
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			stop()
			err := <-done
			e.save()
			log.Info("stockade enforce stopped")
			return err
		case err := <-done:
			e.save()
			return err
		case <-tick.C:
			e.enf.Tick()
			e.save()
		case <-hup:
			if err := e.reload(ctx); err != nil {
				log.Error("reload refused: the previous allowlist and fleet stay in force", "err", err)
			}
		case reply := <-e.reloads:
			reply <- e.reload(ctx)
		case <-guardChanged:
			guardChanged = e.guard.Changed()
			e.protect(ctx)
		}
	}
}

// reload reads the configuration file again for policy.allow and fleet
// (the rest of the policy takes a restart) and lifts the bans they now
// protect; a bad file changes nothing.
func (e *enforcer) reload(ctx context.Context) error {
	if e.cfg.path == "" {
		return errors.New("no configuration file to read again")
	}
	c, err := LoadEnforceConfig(e.cfg.path)
	if err != nil {
		return err
	}
	if err := setProtected(e.guard, c.Policy.Allow, c.Fleet); err != nil {
		return err
	}
	if err := setHomeNet(e.guard, c.HomeNet); err != nil {
		return err // checked when the file was read: not reached
	}
	e.cfg.Policy.Allow, e.cfg.Fleet, e.cfg.HomeNet = c.Policy.Allow, c.Fleet, c.HomeNet
	e.log.Info("allowlist and fleet reloaded", "allow", len(c.Policy.Allow), "fleet", len(c.Fleet))
	e.protect(ctx)
	return nil
}

// protect lifts the bans of addresses the guard protects now, in the
// ledger and the kernel, ranges widened over one included.
func (e *enforcer) protect(ctx context.Context) {
	lifted, active, now, err := e.enf.LiftProtected(ctx)
	for _, x := range lifted {
		e.log.Warn("ban lifted: the target is protected now", "target", x.Target, "why", x.Reason)
	}
	if err != nil {
		e.log.Error("nftables: lifting protected bans failed; the kernel is reconciled with the ledger", "err", err)
		if err := e.nft.Reconcile(ctx, active, now); err != nil {
			e.log.Error("nftables reconcile failed", "err", err)
		}
	}
	if n, err := e.nft.Protect(ctx, active, now); err != nil {
		e.log.Error("nftables: narrowing ranges that hold a protected address failed", "err", err)
	} else if n > 0 {
		e.log.Warn("nftables: widened bans that held a protected address lifted", "count", n)
	}
	e.save()
}

// handle judges what arrived together; only a firewall that could not be
// updated asks for it again.
func (e *enforcer) handle(ctx context.Context, ds []*bus.Delivery) error {
	msgs := make([]enforce.Message, len(ds))
	for i, d := range ds {
		msgs[i] = enforce.Message{Data: d.Data, Signer: d.Signer, Sig: d.Sig}
	}
	rs, err := e.enf.JudgeBatch(ctx, msgs)
	if err != nil {
		e.log.Error("decisions not enforced; they will come again", "count", len(ds), "err", err)
		return err
	}
	now := time.Now()
	for i, r := range rs {
		if !r.Refused() {
			continue
		}
		rl := e.refusalLog[r]
		if rl == nil {
			rl = &refusalLog{}
			e.refusalLog[r] = rl
		}
		if now.Sub(rl.last) < refusalLogEvery {
			rl.suppressed++
			continue
		}
		e.log.Warn("decision refused", "reason", string(r), "subject", ds[i].Subject, "signer", ds[i].Signer,
			"similar_not_logged", rl.suppressed)
		rl.last, rl.suppressed = now, 0
	}
	return nil
}

// save commits the ledger's changes with the enforcer's memory of what it
// applied and deferred, in one transaction; a failed save keeps enforcing
// and is retried with the next changes.
func (e *enforcer) save() {
	e.saveMu.Lock()
	defer e.saveMu.Unlock()
	ch := e.enf.TakeChanges()
	mem := e.enf.TakeMemory()
	if ch.Empty() && len(mem) == 0 {
		return
	}
	if err := e.store.SaveWith(ch, nil, time.Now(), mem); err != nil {
		e.log.Error("saving state failed; enforcement goes on", "err", err)
		e.enf.KeepChanges(ch)
		e.enf.KeepMemory(mem)
	}
}

func waitingTotal(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func (e *enforcer) serveMetrics(addr string) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprint(w, e.metricsText())
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	return srv, nil
}

func (e *enforcer) metricsText() string {
	var b strings.Builder
	counts := e.enf.Counts()
	fmt.Fprintf(&b, "# HELP stockade_enforce_decisions_total Decisions received, by outcome (accepted, or why refused).\n# TYPE stockade_enforce_decisions_total counter\n")
	for _, r := range enforce.Reasons {
		fmt.Fprintf(&b, "stockade_enforce_decisions_total{outcome=%q} %d\n", string(r), counts[r])
	}
	total, per := e.enf.Active()
	fmt.Fprintf(&b, "# HELP stockade_active_bans Targets with a ban in force.\n# TYPE stockade_active_bans gauge\nstockade_active_bans %d\n", total)
	fmt.Fprintf(&b, "# HELP stockade_enforce_origin_active_bans Bans in force per trusted origin.\n# TYPE stockade_enforce_origin_active_bans gauge\n")
	for _, o := range e.cfg.Policy.Origins {
		fmt.Fprintf(&b, "stockade_enforce_origin_active_bans{origin=%q} %d\n", o.Name, per[o.Name])
	}
	waiting, fates := e.enf.Deferred()
	fmt.Fprintf(&b, "# HELP stockade_enforce_deferred_bans Bans over their origin's rate, waiting for its tokens.\n# TYPE stockade_enforce_deferred_bans gauge\n")
	for _, o := range e.cfg.Policy.Origins {
		fmt.Fprintf(&b, "stockade_enforce_deferred_bans{origin=%q} %d\n", o.Name, waiting[o.Name])
	}
	fmt.Fprintf(&b, "# HELP stockade_enforce_deferred_total What became of deferred bans.\n# TYPE stockade_enforce_deferred_total counter\n")
	for _, f := range enforce.Fates {
		fmt.Fprintf(&b, "stockade_enforce_deferred_total{fate=%q} %d\n", string(f), fates[f])
	}
	remembered, forgotten := e.enf.Remembered()
	fmt.Fprintf(&b, "# HELP stockade_enforce_remembered Origin and target pairs whose newest decision is remembered (replays of it refused).\n# TYPE stockade_enforce_remembered gauge\nstockade_enforce_remembered %d\n", remembered)
	fmt.Fprintf(&b, "# HELP stockade_enforce_forgotten_early_total Pairs forgotten before their time for policy.remember_max.\n# TYPE stockade_enforce_forgotten_early_total counter\nstockade_enforce_forgotten_early_total %d\n", forgotten)
	st := e.consumer.Stats()
	fmt.Fprintf(&b, "# HELP stockade_bus_messages_total Messages received from the bus.\n# TYPE stockade_bus_messages_total counter\nstockade_bus_messages_total %d\n", st.Delivered)
	fmt.Fprintf(&b, "# HELP stockade_bus_retries_total Messages to be delivered again (the firewall could not be updated).\n# TYPE stockade_bus_retries_total counter\nstockade_bus_retries_total %d\n", st.Retried)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if c, err := e.nft.Counters(ctx); err == nil {
		fmt.Fprintf(&b, "# HELP stockade_nftables_dropped_packets_total Packets dropped by the ban sets.\n# TYPE stockade_nftables_dropped_packets_total counter\n")
		fmt.Fprintf(&b, "stockade_nftables_dropped_packets_total{family=\"ipv4\"} %d\n", c.IPv4.Packets)
		fmt.Fprintf(&b, "stockade_nftables_dropped_packets_total{family=\"ipv6\"} %d\n", c.IPv6.Packets)
	}
	return b.String()
}
