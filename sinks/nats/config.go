package nats

import (
	"strings"
	"time"

	"github.com/stockade-ids/stockade/internal/natsconn"
	"github.com/stockade-ids/stockade/internal/yamlnode"
	"github.com/stockade-ids/stockade/pipeline/sign"
	"github.com/stockade-ids/stockade/sinks/queue"
)

// Config says where decisions go. The zero value publishes to a local
// server on core NATS under stockade.decisions.<origin>.<rule>.
type Config struct {
	// Name tells this sink from other NATS sinks: its queue is
	// queue-nats.db, or queue-nats-<Name>.db, in the state directory, and
	// the server sees the connection as "stockade" or "stockade-<Name>".
	Name string `yaml:"name"`
	// Config is the server and how to authenticate.
	natsconn.Config `yaml:",inline"`

	// Subject is a template over {origin}, {rule}, {action}, {scope}
	// and {target} (default DefaultSubject). Substituted values never add
	// subject tokens: '.', whitespace, '*' and '>' in them become '_'.
	// {target} is what partitioned correlators need: the server maps it
	// to a partition (subject mapping with partition()).
	Subject string `yaml:"subject"`
	// Stream, when set, makes publishing go through JetStream: each
	// decision is stored before it counts as delivered, and a decision sent
	// twice within the stream's duplicate window is stored once. The
	// stream is created if missing, on the subjects the template can
	// produce (stockade.decisions.> for the default); an existing stream is
	// used as it is.
	Stream string `yaml:"stream"`
	// Duplicates is the duplicate window of a stream this sink creates
	// (default 10m: longer than a re-send takes after any outage the
	// backoff rides out without the window lapsing, and ids cost the
	// server a few dozen bytes each).
	Duplicates time.Duration `yaml:"duplicates"`
	// MaxAge is how long a stream this sink creates keeps decisions
	// (default 30 days): a firewall that starts, or comes back, within it
	// still receives every ban that is active; set it above the longest
	// ban you decide.
	MaxAge time.Duration `yaml:"max_age"`

	// Signer, when set, signs every decision (headers sign.HeaderKey and
	// sign.HeaderSig), so that firewalls can refuse forged ones.
	Signer *sign.Signer

	// Queue bounds the on-disk backlog, Delivery tunes retries.
	Queue    queue.Config     `yaml:"queue"`
	Delivery queue.SinkConfig `yaml:"delivery"`
}

// DefaultSubject is Config.Subject's default.
const DefaultSubject = "stockade.decisions.{origin}.{rule}"

func (c *Config) setDefaults() {
	c.Config.SetDefaults()
	if c.Subject == "" {
		c.Subject = DefaultSubject
	}
	if c.MaxAge == 0 {
		c.MaxAge = 30 * 24 * time.Hour
	}
	if c.Duplicates == 0 {
		c.Duplicates = 10 * time.Minute
	}
}

// queueName is the sink's queue: "nats" or "nats-<Name>".
func (c *Config) queueName() string {
	if c.Name == "" {
		return "nats"
	}
	return "nats-" + c.Name
}

func (c *Config) connName() string {
	if c.Name == "" {
		return "stockade"
	}
	return "stockade-" + c.Name
}

// Validate reports every problem of c once its defaults are filled in,
// each with its key (yamlnode.Problems).
func (c Config) Validate() error {
	c.setDefaults()
	_, ps := c.problems()
	return ps.Err()
}

// validate is Validate for New, in its words ("nats: subject: ...").
func (c *Config) validate() (*template, error) {
	tmpl, ps := c.problems()
	return tmpl, ps.Under("nats")
}

func (c *Config) problems() (*template, yamlnode.Problems) {
	var ps yamlnode.Problems
	bad := ps.Add
	tmpl, err := parseTemplate(c.Subject)
	if err != nil {
		bad("subject", "%v", err)
	}
	if c.Stream != "" {
		if strings.ContainsAny(c.Stream, ". *>\t\r\n/\\") {
			bad("stream", "%q: a stream name cannot hold '.', '*', '>', '/', '\\' or whitespace", c.Stream)
		}
		if tmpl != nil && tmpl.streamSubject() == ">" {
			bad("subject", "%q: with a stream, the subject must start with a fixed token (the stream would capture every subject)", c.Subject)
		}
	}
	if c.MaxAge < 0 {
		bad("max_age", "%v is negative", c.MaxAge)
	}
	if c.Duplicates < 0 {
		bad("duplicates", "%v is negative", c.Duplicates)
	}
	ps = append(ps, c.Config.Problems()...)
	ps.Merge("queue", c.Queue.Validate())
	ps.Merge("delivery", c.Delivery.Validate())
	if c.Name != "" && strings.ContainsFunc(c.Name, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-')
	}) {
		bad("name", "%q: want letters, digits, '_' or '-'", c.Name)
	}
	return tmpl, ps
}
