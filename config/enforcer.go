package config

import (
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/stockade-ids/stockade/enforce"
	"github.com/stockade-ids/stockade/internal/memlimit"
	"github.com/stockade-ids/stockade/internal/yamlnode"
	"github.com/stockade-ids/stockade/sinks/nftables"
	"github.com/stockade-ids/stockade/sources/bus"
)

// Enforcer is `stockade enforce --config FILE`: a firewall that takes
// signed decisions from the bus and enforces them in its own nftables
// under its own policy. deploy/enforce.yaml documents every key.
type Enforcer struct {
	StateDir string `yaml:"state_dir"`
	Metrics  string `yaml:"metrics"`
	// Name is this firewall's consumer on the bus (its JetStream durable,
	// its Kafka group): unique per firewall (default stockade-enforce-<host>).
	Name     string               `yaml:"name"`
	NATS     *bus.NATSConfig      `yaml:"nats"`
	Kafka    *bus.KafkaConfig     `yaml:"kafka"`
	NFTables nftables.Config      `yaml:"nftables"`
	Policy   enforce.PolicyConfig `yaml:"policy"`
	// Fleet lists the fleet's own hosts (sensors, other firewalls, bus
	// servers): never banned, like policy.allow.
	Fleet []string `yaml:"fleet"`
	// HomeNet is the network behind this firewall (CIDRs): never banned,
	// whatever a sensor decides.
	HomeNet []string `yaml:"home_net"`
	// Socket is the control socket (default stockade-enforce.sock in
	// state_dir; "-": none): stockade enforce status, bans, unban, allow,
	// reload, check.
	Socket string `yaml:"socket"`
	// SignKey is this firewall's key (stockade keygen): its acks and its
	// administrator's overrides, published on stockade.acks.<name>, are
	// signed with it. Without it they go unsigned.
	SignKey string `yaml:"sign_key"`
	// Report: false keeps the firewall from publishing acks (a bus where
	// it may only read). Default true.
	Report *bool `yaml:"report"`
	// RepairEvery is how often the kernel's sets are read back and
	// repaired when they drifted from the bans (default 10s; -1s: never);
	// a check that took long puts the next one ten times its length away.
	RepairEvery time.Duration `yaml:"repair_every"`
	// MemoryLimit is the Go runtime's soft memory limit, as the daemon's
	// memory_limit: (default EnforcerMemoryLimit, under 90 % of the
	// cgroup's limit; GOMEMLIMIT wins).
	MemoryLimit string `yaml:"memory_limit"`

	// Path is the file it was read from: SIGHUP reads it again.
	Path string
}

// SocketPath is the firewall's control socket, "" for none.
func (c *Enforcer) SocketPath() string {
	c.Defaults()
	ec := enforce.Config{StateDir: c.StateDir, Socket: c.Socket}
	return ec.SocketPath()
}

// LoadEnforcer reads the enforcer's configuration at path; its error is
// a srcpos.Errors or the read's.
func LoadEnforcer(path string) (*Enforcer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseEnforcer(path, data)
}

// ParseEnforcer is LoadEnforcer on bytes already read.
func ParseEnforcer(path string, data []byte) (*Enforcer, error) {
	var c Enforcer
	const top = "unknown key: policy: is set at the top level, not in the bus section"
	root, d := decodeFile(path, data, &c, map[string]string{"nats.policy": top, "kafka.policy": top})
	if root != nil && !d.Exhausted() {
		c.validate(d, root)
	}
	d.Sort()
	if err := d.Errs.Err(); err != nil {
		return nil, err
	}
	c.Path = path
	return &c, nil
}

func (c *Enforcer) validate(d *yamlnode.Decoder, root *yaml.Node) {
	var ps yamlnode.Problems
	switch {
	case c.NATS == nil && c.Kafka == nil:
		ps.Add("", "set exactly one of nats, kafka: the bus the decisions come from")
	case c.NATS != nil && c.Kafka != nil:
		ps.Add("kafka", "set exactly one of nats, kafka (both are set)")
	case c.NATS != nil:
		ps.Merge("nats", c.NATS.Validate())
	default:
		ps.Merge("kafka", c.Kafka.Validate())
	}
	ps.Merge("nftables", c.NFTables.Validate())
	ps.Merge("policy", c.Policy.Validate())
	ranges(&ps, "fleet", c.Fleet)
	ranges(&ps, "home_net", c.HomeNet)
	if _, err := memlimit.Parse(c.MemoryLimit); err != nil {
		ps.Add("memory_limit", "%s", err)
	}
	d.Report(root, "", ps.Err())
}

// EnforcerMemoryLimit is the enforcer's memory_limit: default: what it
// holds (bans, the memory of decisions applied, nftables' batches) is
// bounded like the daemon's windows, and the same limit keeps a burst of
// decisions' garbage from doubling its heap.
const EnforcerMemoryLimit = 256 << 20

// Memory is memory_limit: parsed (validated at load).
func (c *Enforcer) Memory() memlimit.Setting {
	s, _ := memlimit.Parse(c.MemoryLimit)
	return s
}

// Defaults fills in what the file left unset.
func (c *Enforcer) Defaults() {
	if c.StateDir == "" {
		c.StateDir = "/var/lib/stockade-enforce"
	}
	if c.Name == "" {
		host, _ := os.Hostname()
		c.Name = "stockade-enforce-" + strings.NewReplacer(".", "-", " ", "-").Replace(host)
	}
}

// IsEnforcer reports whether data looks like an enforcer's configuration
// rather than a daemon's: a policy:, a bus or an nftables section at its
// top, and no sources: or sinks:.
func IsEnforcer(data []byte) bool {
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil {
		return false
	}
	root := yamlnode.Resolve(&doc)
	if root == nil || root.Kind != yaml.MappingNode {
		return false
	}
	enforcer, daemon := false, false
	for i := 0; i+1 < len(root.Content); i += 2 {
		switch root.Content[i].Value {
		case "policy", "nats", "kafka", "nftables", "name":
			enforcer = true
		case "sources", "sinks", "rules", "socket", "origin":
			daemon = true
		}
	}
	return enforcer && !daemon
}
