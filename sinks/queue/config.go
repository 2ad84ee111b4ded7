package queue

import (
	"log/slog"
	"time"

	"github.com/stockade-ids/stockade/internal/yamlnode"
)

// FullPolicy says what Push does when the queue holds Max decisions.
type FullPolicy string

const (
	// DropOldest evicts the oldest waiting decisions to make room. It is the
	// default: a remote firewall that comes back after a long outage gains
	// most from the newest bans (the oldest may have expired already), and
	// a remote outage must never stall the engine and with it the local
	// firewall.
	DropOldest FullPolicy = "drop_oldest"
	// DropNewest refuses the incoming decisions: what waits is delivered
	// in full, what came after the queue filled is lost.
	DropNewest FullPolicy = "drop_newest"
	// Block makes Push wait for room. Nothing is lost, but a long outage of
	// the remote stalls the engine and every other sink with it.
	Block FullPolicy = "block"
)

// Config bounds a queue.
type Config struct {
	// Max is how many decisions may wait (default 100000: at about 600
	// bytes each, some 60 MB of disk).
	Max int `yaml:"max"`
	// WhenFull is the policy once Max decisions wait (default DropOldest).
	WhenFull FullPolicy `yaml:"when_full"`
	// Log receives drop warnings (rate-limited); nil is slog.Default().
	Log *slog.Logger
	// Upgrade makes the messages of the decisions an older stockade queued
	// (format 1 held each decision's JSON), converted when the queue opens.
	// Nil refuses such a queue. OpenSink sets it to the publisher.
	Upgrade Encoder
}

// DefaultMax is Config.Max's default.
const DefaultMax = 100000

func (c *Config) setDefaults() {
	if c.Max == 0 {
		c.Max = DefaultMax
	}
	if c.WhenFull == "" {
		c.WhenFull = DropOldest
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
}

// Validate reports every problem of c once its defaults are filled in,
// each with its key (yamlnode.Problems).
func (c Config) Validate() error {
	c.setDefaults()
	return c.problems().Err()
}

func (c *Config) validate() error { return c.problems().Under("queue") }

func (c *Config) problems() yamlnode.Problems {
	var ps yamlnode.Problems
	if c.Max < 1 {
		ps.Add("max", "%d, want at least 1", c.Max)
	}
	switch c.WhenFull {
	case DropOldest, DropNewest, Block:
	default:
		ps.Add("when_full", "%q, want %q, %q or %q", c.WhenFull, DropOldest, DropNewest, Block)
	}
	return ps
}

// Validate reports every problem of c, each with its key: a zero or
// negative setting is the default, but a maximum backoff below the
// minimum is a mistake worth saying.
func (c SinkConfig) Validate() error {
	var ps yamlnode.Problems
	if c.MinBackoff > 0 && c.MaxBackoff > 0 && c.MaxBackoff < c.MinBackoff {
		ps.Add("max_backoff", "%v is below min_backoff (%v)", c.MaxBackoff, c.MinBackoff)
	}
	for _, f := range []struct {
		key string
		v   int64
	}{{"batch", int64(c.Batch)}, {"min_backoff", int64(c.MinBackoff)}, {"max_backoff", int64(c.MaxBackoff)}, {"publish_timeout", int64(c.PublishTimeout)}} {
		if f.v < 0 {
			ps.Add(f.key, "negative")
		}
	}
	return ps.Err()
}

// SinkConfig tunes delivery from the queue to the remote.
type SinkConfig struct {
	// Batch is how many decisions one Publish carries at most (default 256).
	Batch int `yaml:"batch"`
	// MinBackoff and MaxBackoff bound the wait between failed attempts
	// (defaults 100ms and 30s); it doubles on every failure in a row.
	MinBackoff time.Duration `yaml:"min_backoff"`
	MaxBackoff time.Duration `yaml:"max_backoff"`
	// PublishTimeout bounds one Publish (default 30s).
	PublishTimeout time.Duration `yaml:"publish_timeout"`
	// MinInterval, when set, spaces Publishes at least that far apart: a
	// rate limit for remotes that throttle (a chat webhook), and a digest
	// (mail): what arrives meanwhile goes in the next batch.
	MinInterval time.Duration `yaml:"min_interval"`
	// Log receives outage and recovery messages; nil is slog.Default().
	Log *slog.Logger
}

func (c *SinkConfig) setDefaults() {
	if c.Batch <= 0 {
		c.Batch = 256
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = 100 * time.Millisecond
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 30 * time.Second
	}
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = c.MinBackoff
	}
	if c.PublishTimeout <= 0 {
		c.PublishTimeout = 30 * time.Second
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
}
