package config

import (
	"strings"
	"time"

	"github.com/stockade-ids/stockade/enforce"
	"github.com/stockade-ids/stockade/internal/yamlnode"
	"github.com/stockade-ids/stockade/rules"
	"github.com/stockade-ids/stockade/sources/bus"
	"github.com/stockade-ids/stockade/sources/tail"
)

// StdinConfig reads standard input, one line per event
// (`- stdin: true`, with `type:` beside it).
type StdinConfig struct {
	Stdin bool   `yaml:"stdin"`
	Type  string `yaml:"type"`
}

// Validate reports every problem of c, each with its key.
func (c StdinConfig) Validate() error {
	var ps yamlnode.Problems
	if !c.Stdin {
		ps.Add("stdin", "false: remove the entry, or set true to read standard input")
	}
	if _, err := tail.ParseType(c.Type); err != nil {
		ps.Add("type", "%s", err)
	}
	return ps.Err()
}

// BusPayload is what a bus source carries: other sensors' decisions (the
// default, each verified under Policy) or raw log lines.
type BusPayload struct {
	// Payload is "decisions" (default) or "lines" (raw log lines, their
	// format in the Stockade-Format header or Format).
	Payload string `yaml:"payload"`
	Format  string `yaml:"format"`
	// Policy is whom a source of decisions believes, in the words of
	// `stockade enforce`'s policy: only decisions signed by the key of an
	// origin it lists count (required for decisions).
	Policy *enforce.PolicyConfig `yaml:"policy"`
}

// NATSSource consumes from NATS.
type NATSSource struct {
	bus.NATSConfig   `yaml:",inline"`
	bus.Partitioning `yaml:",inline"`
	BusPayload       `yaml:",inline"`
}

// Bus is the bus source's configuration, partitions included.
func (c NATSSource) Bus() bus.NATSConfig {
	nc := c.NATSConfig
	nc.Partitioning = c.Partitioning
	return nc
}

// KafkaSource consumes from a Kafka topic in a consumer group.
type KafkaSource struct {
	bus.KafkaConfig `yaml:",inline"`
	BusPayload      `yaml:",inline"`
	// Rewind is how far back a partition the group newly hands this
	// correlator is read again, before its last commit, to rebuild what
	// the partition's previous holder counted (which sensors banned each
	// address): judged, not decided again. Default: the longest window of
	// the rules that judge the payload (24h with the fleet pack); 0: none.
	Rewind *time.Duration `yaml:"rewind"`
}

// Validate reports every problem of c, each with its key.
func (c NATSSource) Validate() error {
	var ps yamlnode.Problems
	ps.Merge("", c.Bus().Validate())
	c.problems(&ps)
	return ps.Err()
}

// Validate reports every problem of c, each with its key.
func (c KafkaSource) Validate() error {
	var ps yamlnode.Problems
	ps.Merge("", c.KafkaConfig.Validate())
	if c.Rewind != nil && *c.Rewind < 0 {
		ps.Add("rewind", "%s: want a duration of 0 or more", *c.Rewind)
	}
	c.problems(&ps)
	return ps.Err()
}

// problems are the payload's. A source of decisions trusts no one unless
// told: without origins it would believe any message and sign fleet bans
// on it.
func (c BusPayload) problems(ps *yamlnode.Problems) {
	if _, _, err := bus.ParsePayload(c.Payload, c.Format); err != nil {
		key, msg, _ := strings.Cut(err.Error(), ": ")
		ps.Add(key, "%s", msg)
		return
	}
	if c.Payload == "lines" {
		if c.Policy != nil {
			ps.Add("policy", "a source of lines carries no signed decisions; remove it or set payload: decisions")
		}
		return
	}
	if c.Format != "" {
		ps.Add("format", "applies to payload: lines (decisions are JSON)")
	}
	if c.Policy == nil || len(c.Policy.Origins) == 0 {
		ps.Add("", "policy: origins: none trusted: a source of decisions believes only the origins its policy lists, "+
			"with the public key of each (stockade keygen), as stockade enforce does")
		return
	}
	ps.Merge("policy", c.Policy.Validate())
}

// ranges adds a problem for each entry of key that is not an address or
// a CIDR (an entry may hold several, comma-separated).
func ranges(ps *yamlnode.Problems, key string, vals []string) {
	for i, v := range vals {
		for s := range strings.SplitSeq(v, ",") {
			if s = strings.TrimSpace(s); s == "" {
				continue
			}
			if _, err := rules.ParsePrefix(s); err != nil {
				ps.Add(yamlnode.Index(key, i), "%s", err)
			}
		}
	}
}
