package kafka

import (
	"strings"

	"github.com/segmentio/kafka-go"

	"github.com/stockade-ids/stockade/internal/kafkaconn"
	"github.com/stockade-ids/stockade/internal/yamlnode"
	"github.com/stockade-ids/stockade/pipeline/sign"
	"github.com/stockade-ids/stockade/sinks/queue"
)

// Config says where decisions go.
type Config struct {
	// Name tells this sink from other Kafka sinks: its queue is
	// queue-kafka.db, or queue-kafka-<Name>.db, in the state directory.
	Name string `yaml:"name"`
	// Config is the brokers and how to reach them.
	kafkaconn.Config `yaml:",inline"`
	// Topic receives the decisions (default DefaultTopic). It must exist:
	// its partition count is the admin's choice, and a topic created on
	// the fly by a typo would swallow the decisions.
	Topic string `yaml:"topic"`
	// Compression is "none" (default), "gzip", "snappy", "lz4" or "zstd".
	Compression string `yaml:"compression"`

	// Signer, when set, signs every decision (record headers
	// sign.HeaderKey and sign.HeaderSig), so that firewalls can refuse
	// forged ones.
	Signer *sign.Signer

	// Queue bounds the on-disk backlog, Delivery tunes retries.
	Queue    queue.Config     `yaml:"queue"`
	Delivery queue.SinkConfig `yaml:"delivery"`
}

// DefaultTopic is Config.Topic's default.
const DefaultTopic = "stockade-decisions"

func (c *Config) setDefaults() {
	if c.Topic == "" {
		c.Topic = DefaultTopic
	}
	if c.Compression == "" {
		c.Compression = "none"
	}
	c.Config.SetDefaults()
}

func (c *Config) queueName() string {
	if c.Name == "" {
		return "kafka"
	}
	return "kafka-" + c.Name
}

var compressions = map[string]kafka.Compression{
	"none": 0, "gzip": kafka.Gzip, "snappy": kafka.Snappy, "lz4": kafka.Lz4, "zstd": kafka.Zstd,
}

// Validate reports every problem of c once its defaults are filled in,
// each with its key (yamlnode.Problems).
func (c Config) Validate() error {
	c.setDefaults()
	return c.problems().Err()
}

// validate is Validate for New, in its words ("kafka: topic: ...").
func (c *Config) validate() error { return c.problems().Under("kafka") }

func (c *Config) problems() yamlnode.Problems {
	var ps yamlnode.Problems
	bad := ps.Add
	ps = append(ps, c.Config.Problems()...)
	ps.Merge("queue", c.Queue.Validate())
	ps.Merge("delivery", c.Delivery.Validate())
	if !kafkaconn.ValidTopic(c.Topic) {
		bad("topic", "%q: want up to 249 of letters, digits, '.', '_' and '-'", c.Topic)
	}
	if _, ok := compressions[c.Compression]; !ok {
		bad("compression", "%q: want none, gzip, snappy, lz4 or zstd", c.Compression)
	}
	if c.Name != "" && strings.ContainsFunc(c.Name, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-')
	}) {
		bad("name", "%q: want letters, digits, '_' or '-'", c.Name)
	}
	return ps
}
