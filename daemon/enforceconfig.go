package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/stockade-ids/stockade/enforce"
	"github.com/stockade-ids/stockade/pipeline/sign"
	"github.com/stockade-ids/stockade/protect"
	"github.com/stockade-ids/stockade/rules"
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
	// repaired when they drifted from the bans (default 10s; -1s: never).
	RepairEvery Duration `yaml:"repair_every"`

	path string // the file it was read from: SIGHUP reads it again
}

// SocketPath is the firewall's control socket, "" for none.
func (c *EnforceConfig) SocketPath() string {
	c.defaults()
	ec := enforce.Config{StateDir: c.StateDir, Socket: c.Socket}
	return ec.SocketPath()
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
	if _, err := protect.ParsePrefixes("home_net", c.HomeNet); err != nil {
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
// addresses as they are now; enforce.Run moves them into the guard, which
// follows them while it runs.
func (c *EnforceConfig) policy() (enforce.Policy, error) {
	p, err := c.Policy.policy()
	if _, ferr := protect.ParsePrefixes("fleet", c.Fleet); ferr != nil {
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

// Enforcer is what enforce.Run takes to run the firewall of c; ready,
// when set, receives the firewall once it consumes (tests). The enforcer
// runs in its own package; its configuration is read here, with the bus
// and nftables sections the daemon's configuration shares.
func (c *EnforceConfig) Enforcer(log *slog.Logger, ready chan<- *enforce.Firewall) (enforce.Config, enforce.Deps, error) {
	c.defaults()
	pol, err := c.policy()
	if err != nil {
		return enforce.Config{}, enforce.Deps{}, &enforce.BadConfig{Err: err}
	}
	ec := enforce.Config{StateDir: c.StateDir, Metrics: c.Metrics, Name: c.Name, Policy: pol,
		Protected: enforce.Protected{Allow: c.Policy.Allow, Fleet: c.Fleet, HomeNet: c.HomeNet},
		NFTables:  c.NFTables.nftConfig(time.Now), Socket: c.Socket, NoReport: c.Report != nil && !*c.Report,
		RepairEvery: time.Duration(c.RepairEvery)}
	if c.SignKey != "" {
		if ec.Signer, err = sign.LoadSigner(c.SignKey); err != nil {
			return enforce.Config{}, enforce.Deps{}, &enforce.BadConfig{Err: fmt.Errorf("sign_key: %w", err)}
		}
	}
	if c.NATS != nil {
		nc := c.NATS.consumer()
		ec.NATS = &nc
	}
	if c.Kafka != nil {
		kc := c.Kafka.consumer()
		ec.Kafka = &kc
	}
	deps := enforce.Deps{Log: log, Ready: ready}
	if c.path != "" {
		// SIGHUP reads the file again for policy.allow, fleet and home_net.
		deps.Reload = func() (enforce.Protected, error) {
			n, err := LoadEnforceConfig(c.path)
			if err != nil {
				return enforce.Protected{}, err
			}
			return enforce.Protected{Allow: n.Policy.Allow, Fleet: n.Fleet, HomeNet: n.HomeNet}, nil
		}
		deps.Check = func() error {
			_, err := LoadEnforceConfig(c.path)
			return err
		}
	}
	return ec, deps, nil
}
