package fleet

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stockade-ids/stockade/internal/kafkaconn"
	"github.com/stockade-ids/stockade/internal/metrics"
	"github.com/stockade-ids/stockade/internal/natsconn"
	"github.com/stockade-ids/stockade/internal/yamlnode"
	kafkasink "github.com/stockade-ids/stockade/sinks/kafka"
)

// FollowConfig is a sensor's or correlator's follow_acks: read the
// firewalls' acks every Every and export how far behind each is.
type FollowConfig struct {
	// The bus (default: the embedded nats_server, else
	// nats://127.0.0.1:4222); with roles, an administrator's credentials.
	natsconn.Config `yaml:",inline"`
	// Stream is the decisions' stream (default STOCKADE).
	Stream string `yaml:"stream"`
	// Every is how often the acks are read (default 15s).
	Every time.Duration `yaml:"every"`
	// Grace is how old a decision a firewall has not acknowledged may be
	// before it counts as behind (default 30s).
	Grace time.Duration `yaml:"grace"`
	// Window is how far back decisions and acks are read (default 1h).
	Window time.Duration `yaml:"window"`
	// Firewalls are those expected: one that was never heard from is
	// behind, and only these are labelled in the metrics. Empty: those
	// heard from, at most MaxLabelled.
	Firewalls []string `yaml:"firewalls"`
	// Kafka, when set, reads the fleet on Kafka instead of NATS: the acks
	// of the topic stockade-acks and the decisions of its topic.
	Kafka *FollowKafka `yaml:"kafka"`
}

// FollowKafka is follow_acks on Kafka: the brokers, TLS and SASL as the
// kafka sink takes them, and the decisions' topic.
type FollowKafka struct {
	kafkaconn.Config `yaml:",inline"`
	// Topic is the decisions' topic (default stockade-decisions, the
	// kafka sink's).
	Topic string `yaml:"topic"`
}

// MaxLabelled bounds the per-firewall series when no firewalls are
// listed: anyone allowed to publish on stockade.acks.> names firewalls.
const MaxLabelled = 256

// SetDefaults fills in what is unset.
func (c *FollowConfig) SetDefaults() {
	c.Config.SetDefaults()
	if c.Kafka != nil {
		c.Kafka.Config.SetDefaults()
		if c.Kafka.Topic == "" {
			c.Kafka.Topic = kafkasink.DefaultTopic
		}
	}
	if c.Stream == "" {
		c.Stream = "STOCKADE"
	}
	if c.Every <= 0 {
		c.Every = 15 * time.Second
	}
	if c.Grace <= 0 {
		c.Grace = 30 * time.Second
	}
	if c.Window <= 0 {
		c.Window = time.Hour
	}
}

// Validate reports every problem, each at its key.
func (c *FollowConfig) Validate() error {
	var ps yamlnode.Problems
	if c.Kafka != nil {
		if c.URL != "" {
			ps.Add("url", "set either url (NATS) or kafka, not both")
		}
		ps.Merge("kafka", c.Kafka.Config.Problems().Err())
	} else {
		conn := c.Config
		if conn.URL == "" { // nats_server's, or the default
			conn.URL = "nats://127.0.0.1:4222"
		}
		ps = conn.Problems()
	}
	if c.Every < 0 || c.Grace < 0 || c.Window < 0 {
		ps.Add("every", "every, grace and window are durations above zero")
	}
	if c.Window > 0 && c.Grace >= c.Window {
		ps.Add("grace", "%s: must be shorter than window (%s)", c.Grace, c.Window)
	}
	seen := map[string]bool{}
	for i, f := range c.Firewalls {
		if f == "" || seen[f] {
			ps.Add(fmt.Sprintf("firewalls[%d]", i), "%q: empty or named twice", f)
		}
		seen[f] = true
	}
	return ps.Err()
}

var (
	mBehind  = metrics.Gauge("stockade_fleet_firewalls_behind", "Firewalls with a decision older than follow_acks.grace they have not acknowledged (one listed in follow_acks.firewalls and never heard from included).")
	mHeard   = metrics.Gauge("stockade_fleet_firewalls", "Firewalls heard from within follow_acks.window.")
	mLag     = metrics.Gauge("stockade_fleet_firewall_lag_seconds", "Age of the oldest decision the firewall has not acknowledged (0: up to date).", "firewall")
	mMissing = metrics.Gauge("stockade_fleet_firewall_missing_decisions", "Decisions within follow_acks.window the firewall has not acknowledged.", "firewall")
	mReads   = metrics.Counter("stockade_fleet_reads_total", "Readings of the firewalls' acks, by result (ok, error).", "result")
)

// Follower reads the fleet's status every Every and keeps the last one
// for the metrics.
type Follower struct {
	cfg FollowConfig
	log *slog.Logger

	mu       sync.Mutex
	st       []Firewall
	read     bool // st holds a reading
	ok, errs uint64
}

// NewFollower makes a follower of cfg (defaults filled in).
func NewFollower(cfg FollowConfig, log *slog.Logger) *Follower {
	cfg.SetDefaults()
	return &Follower{cfg: cfg, log: log}
}

// reading is one reading of the fleet: each firewall's summary and the
// decisions read.
type reading func(ctx context.Context, since, now time.Time) ([]Firewall, []Published, error)

// Run reads the acks every Every until ctx ends; a reading that fails is
// counted, logged and tried again next time.
func (f *Follower) Run(ctx context.Context) error {
	read, done, err := f.reader()
	if err != nil {
		return err
	}
	defer done()
	t := time.NewTicker(f.cfg.Every)
	defer t.Stop()
	for {
		f.readOnce(ctx, read)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// reader is how the fleet is read: on Kafka, a connection a reading (each
// partition read up to its end, no group); on NATS, one connection kept.
func (f *Follower) reader() (reading, func(), error) {
	if k := f.cfg.Kafka; k != nil {
		return func(ctx context.Context, since, now time.Time) ([]Firewall, []Published, error) {
			return KafkaStatus(ctx, k.Config, k.Topic, since, now)
		}, func() {}, nil
	}
	opts, err := f.cfg.Options("stockade-fleet-follow", f.log)
	if err != nil {
		return nil, nil, err
	}
	// A bus down at start is read once it is up: the metrics wait.
	nc, err := nats.Connect(f.cfg.URL, append(opts, nats.RetryOnFailedConnect(true))...)
	if err != nil {
		return nil, nil, fmt.Errorf("follow_acks: nats %s: %w", f.cfg.URL, err)
	}
	return func(ctx context.Context, since, now time.Time) ([]Firewall, []Published, error) {
		return Status(ctx, nc, f.cfg.Stream, since, now)
	}, nc.Close, nil
}

func (f *Follower) readOnce(ctx context.Context, read reading) {
	ctx, cancel := context.WithTimeout(ctx, max(f.cfg.Every, 10*time.Second))
	defer cancel()
	now := time.Now()
	st, pub, err := read(ctx, now.Add(-f.cfg.Window), now)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil {
		f.errs++
		if ctx.Err() == nil {
			f.log.Warn("follow_acks: reading the firewalls' acks failed; tried again", "err", err, "in", f.cfg.Every)
		}
		return
	}
	f.ok++
	f.st, f.read = f.expected(st, pub, now), true
}

// expected adds the listed firewalls never heard from (missing every
// decision read) and keeps the listed ones only, or at most MaxLabelled.
func (f *Follower) expected(st []Firewall, pub []Published, now time.Time) []Firewall {
	if len(f.cfg.Firewalls) == 0 {
		return st[:min(len(st), MaxLabelled)]
	}
	out := make([]Firewall, 0, len(f.cfg.Firewalls))
	for _, name := range f.cfg.Firewalls {
		i := slices.IndexFunc(st, func(x Firewall) bool { return x.Name == name })
		if i >= 0 {
			out = append(out, st[i])
			continue
		}
		x := Firewall{Name: name, Missing: len(pub)}
		if len(pub) > 0 {
			x.Lag = now.Sub(pub[0].At)
		}
		out = append(out, x)
	}
	return out
}

// Status is the last reading and whether there was one.
func (f *Follower) Status() ([]Firewall, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.st), f.read
}

// Collect emits the fleet's metrics from the last reading (none before
// the first, so a scrape does not say "0 behind" before anything is
// known).
func (f *Follower) Collect(m *metrics.Emitter) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m.Emit(mReads, float64(f.ok), "ok")
	m.Emit(mReads, float64(f.errs), "error")
	if !f.read {
		return
	}
	heard := 0
	for _, x := range f.st {
		if !x.LastSeen.IsZero() {
			heard++
		}
		m.Emit(mLag, x.Lag.Seconds(), x.Name)
		m.Emit(mMissing, float64(x.Missing), x.Name)
	}
	m.Emit(mBehind, float64(Behind(f.st, f.cfg.Grace)))
	m.Emit(mHeard, float64(heard))
}
