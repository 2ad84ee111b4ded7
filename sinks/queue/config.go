package queue

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
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
	Max int
	// WhenFull is the policy once Max decisions wait (default DropOldest).
	WhenFull FullPolicy
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

func (c *Config) validate() error {
	var errs []error
	if c.Max < 1 {
		errs = append(errs, fmt.Errorf("queue: max: %d, want at least 1", c.Max))
	}
	switch c.WhenFull {
	case DropOldest, DropNewest, Block:
	default:
		errs = append(errs, fmt.Errorf("queue: when_full: %q, want %q, %q or %q", c.WhenFull, DropOldest, DropNewest, Block))
	}
	return errors.Join(errs...)
}

// SinkConfig tunes delivery from the queue to the remote.
type SinkConfig struct {
	// Batch is how many decisions one Publish carries at most (default 256).
	Batch int
	// MinBackoff and MaxBackoff bound the wait between failed attempts
	// (defaults 100ms and 30s); it doubles on every failure in a row.
	MinBackoff, MaxBackoff time.Duration
	// PublishTimeout bounds one Publish (default 30s).
	PublishTimeout time.Duration
	// MinInterval, when set, spaces Publishes at least that far apart: a
	// rate limit for remotes that throttle (a chat webhook), and a digest
	// (mail): what arrives meanwhile goes in the next batch.
	MinInterval time.Duration
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
