package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"reflect"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/stockade-ids/stockade/pipeline/guard"
	"github.com/stockade-ids/stockade/rules"
	"github.com/stockade-ids/stockade/sinks/mail"
	"github.com/stockade-ids/stockade/sinks/webhook"
	"github.com/stockade-ids/stockade/sources"
	"github.com/stockade-ids/stockade/sources/listen"
	"github.com/stockade-ids/stockade/sources/suricata"
)

// Config is `stockade run --config FILE`. Every key is documented with an
// example in deploy/stockade.yaml.
type Config struct {
	StateDir string   `yaml:"state_dir"`
	Socket   string   `yaml:"socket"`
	Metrics  string   `yaml:"metrics"`
	Origin   string   `yaml:"origin"`
	TZ       string   `yaml:"tz"`
	Rules    []string `yaml:"rules"`
	Allow    []string `yaml:"allow"`
	// Fleet lists the fleet's own hosts (firewalls, correlators, bus
	// servers not named below): never banned, like allow, so that a forged
	// line cannot cut the fleet apart. The bus servers and brokers the
	// daemon connects to, and the peers of its nats_server, are protected
	// without being listed.
	Fleet []string `yaml:"fleet"`
	// Unbans makes the engine emit an unban decision when a ban runs out
	// (for sinks that cannot expire bans by themselves, such as exec).
	Unbans  *bool          `yaml:"unbans"`
	Sources []SourceConfig `yaml:"sources"`
	Sinks   []SinkConfig   `yaml:"sinks"`
	// SignKey is this sensor's signing key (an nkey seed file, mode 0600,
	// from `stockade keygen`): every decision published to NATS or Kafka
	// is signed with it, and firewalls refuse what is not.
	SignKey string `yaml:"sign_key"`
	// NATSServer hosts a NATS server (with JetStream) inside stockade.
	NATSServer *NATSServerConfig `yaml:"nats_server"`
	// MaxWindows bounds the sliding windows (addresses or keys with recent
	// failures) held in memory, about 150 bytes each: that many distinct
	// addresses all keep theirs; past it the least recent go, counted in
	// stockade_windows_overflow_total. Bans are never dropped. Default
	// 1000000; -1: no bound.
	MaxWindows int `yaml:"max_windows"`
	// HomeNet is the network the Suricata sensor protects (CIDRs or
	// Suricata's address syntax); SuricataYAML, a suricata.yaml whose
	// HOME_NET joins it. No Suricata alert bans a home address, and of an
	// alert with one side home the other side is banned. Read at start.
	HomeNet      []string `yaml:"home_net"`
	SuricataYAML string   `yaml:"suricata_yaml"`
	// AuditPerSecond is how many audit lines (bans, unbans, refusals) a
	// second writes one by one; past it a summary line a second counts
	// the rest. Default 50; -1: no limit.
	AuditPerSecond int `yaml:"audit_per_second"`

	// AllowFlags are the --allow values given with --config: a reload,
	// which reads the allowlist from the file again, keeps them.
	AllowFlags []string `yaml:"-"`

	path  string // the file it was read from: reload reads it again
	netns int    // a network namespace whose addresses are ours (tests)
}

// SourceConfig is one input; exactly one of its kinds is set.
type SourceConfig struct {
	Files []string `yaml:"files"`
	Type  string   `yaml:"type"`  // files and stdin: force the format
	Start string   `yaml:"start"` // files: "end" (default) or "beginning" for files first seen with no checkpoint
	// Files: the access-log layout (nginx log_format or Apache LogFormat
	// syntax) and the trusted proxies whose X-Forwarded-For is believed.
	LogFormat  string             `yaml:"log_format"`
	RealIPFrom []string           `yaml:"real_ip_from"`
	Syslog     *SyslogConfig      `yaml:"syslog"`
	Stdin      bool               `yaml:"stdin"`
	Journald   *JournaldConfig    `yaml:"journald"`
	NATS       *NATSSourceConfig  `yaml:"nats"`
	Kafka      *KafkaSourceConfig `yaml:"kafka"`
	Blocklist  *BlocklistConfig   `yaml:"blocklist"`
}

// SyslogConfig is a syslog listener (deploy/stockade.yaml documents each
// key). A network listener believes its senders; a unix one judges each
// message by the process that sent it.
type SyslogConfig struct {
	UDP  string `yaml:"udp"`
	TCP  string `yaml:"tcp"`
	Unix string `yaml:"unix"`
	// Senders are the addresses or networks allowed to send over UDP and
	// TCP; empty is anyone (warned about at start).
	Senders         []string `yaml:"senders"`
	IdleTimeout     string   `yaml:"idle_timeout"` // a TCP connection without a frame this long is closed; "0": never
	MaxConnsPerPeer int      `yaml:"max_conns_per_peer"`
	IdentityConfig  `yaml:",inline"`
}

type JournaldConfig struct {
	Args           []string `yaml:"args"`
	Command        string   `yaml:"command"`
	IdentityConfig `yaml:",inline"`
}

// IdentityConfig overrides who may write as which program on a local input
// (journald, a unix socket): Identities replaces the built-in entry of each
// program it names, Unlisted (accept or refuse) is what a claim to a
// program with no entry gets.
type IdentityConfig struct {
	Identities map[string][]listen.Speaker `yaml:"identities"`
	Unlisted   string                      `yaml:"unlisted"`
}

func (c IdentityConfig) build() (*listen.Identities, error) {
	return listen.NewIdentities(c.Identities, c.Unlisted, nil)
}

// listenConfig is the listener c describes.
func (c *SyslogConfig) listenConfig() (listen.Config, error) {
	lc := listen.Config{UDP: c.UDP, TCP: c.TCP, Unix: c.Unix, MaxConnsPerPeer: c.MaxConnsPerPeer}
	var errs []string
	for i, s := range c.Senders {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				errs = append(errs, fmt.Sprintf("senders[%d]: %q is not an address or a network", i, s))
				continue
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		lc.Senders = append(lc.Senders, p)
	}
	if c.IdleTimeout != "" {
		d, err := rules.ParseDuration(c.IdleTimeout)
		switch {
		case err != nil:
			errs = append(errs, "idle_timeout: "+err.Error())
		case d == 0:
			lc.IdleTimeout = -1
		default:
			lc.IdleTimeout = d
		}
	}
	if c.MaxConnsPerPeer < 0 {
		errs = append(errs, "max_conns_per_peer: negative")
	}
	if c.Unix == "" && (c.Identities != nil || c.Unlisted != "") {
		errs = append(errs, "identities and unlisted judge local senders: they need unix:")
	}
	ids, err := c.build()
	if err != nil {
		errs = append(errs, err.Error())
	}
	lc.Identities = ids
	if len(errs) > 0 {
		return lc, errors.New(strings.Join(errs, "; "))
	}
	return lc, nil
}

// SinkConfig is one output; exactly one of its kinds is set.
type SinkConfig struct {
	JSONL    string           `yaml:"jsonl"`
	Exec     *ExecConfig      `yaml:"exec"`
	NFTables *NFTablesConfig  `yaml:"nftables"`
	NATS     *NATSSinkConfig  `yaml:"nats"`
	Kafka    *KafkaSinkConfig `yaml:"kafka"`
	// Notifications: each owns its configuration (sinks/webhook,
	// sinks/mail; their sample configurations show every key).
	Webhook *webhook.Config `yaml:"webhook"`
	Mail    *mail.Config    `yaml:"mail"`
}

type ExecConfig struct {
	Ban     []string `yaml:"ban"`
	Unban   []string `yaml:"unban"`
	Timeout string   `yaml:"timeout"`
	// Restore re-runs the ban command for every active ban at start (the
	// firewall behind the command may have lost it in a reboot). Default true.
	Restore *bool `yaml:"restore"`
}

type NFTablesConfig struct {
	Table      string   `yaml:"table"`
	Family     string   `yaml:"family"`
	Chains     []string `yaml:"chains"`
	Priority   *int     `yaml:"priority"`
	SetOnly    bool     `yaml:"set_only"`
	SetV4      string   `yaml:"set_v4"`
	SetV6      string   `yaml:"set_v6"`
	IPv6Prefix int      `yaml:"ipv6_prefix"`

	netns int          // a network namespace to work in (tests)
	guard *guard.Guard // what widening must not cover (set by the daemon, the enforcer)
}

// LoadConfig reads path strictly: an unknown key is an error with its line.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseConfig(path, data)
}

// parseConfig is LoadConfig on bytes already read; path names them in
// errors.
func parseConfig(path string, data []byte) (*Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%s: %s", path, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	c.path = path
	return &c, nil
}

func (c *Config) validate() error {
	var errs []string
	for i, s := range c.Sources {
		errs = append(errs, s.problems(i)...)
	}
	for i, s := range c.Sinks {
		errs = append(errs, s.problems(i)...)
	}
	if c.NATSServer != nil {
		if err := c.NATSServer.validate(); err != nil {
			errs = append(errs, strings.ReplaceAll(err.Error(), "\n", "; "))
		}
	}
	if c.TZ != "" {
		if _, err := time.LoadLocation(c.TZ); err != nil {
			errs = append(errs, "tz: "+err.Error())
		}
	}
	if len(c.Sources) == 0 {
		errs = append(errs, "no sources")
	}
	if err := setProtected(guard.New(), c.Allow, c.Fleet); err != nil {
		errs = append(errs, err.Error())
	}
	if _, err := suricata.HomeNetOf("home_net", c.HomeNet, c.SuricataYAML); err != nil {
		errs = append(errs, err.Error())
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// problems are what is wrong with sources[i].
func (s SourceConfig) problems(i int) []string {
	var errs []string
	n := 0
	if len(s.Files) > 0 {
		n++
	}
	if s.Syslog != nil {
		n++
		if _, err := s.Syslog.listenConfig(); err != nil {
			errs = append(errs, fmt.Sprintf("sources[%d].syslog: %v", i, err))
		}
	}
	if s.Stdin {
		n++
	}
	if s.Journald != nil {
		n++
		if _, err := s.Journald.build(); err != nil {
			errs = append(errs, fmt.Sprintf("sources[%d].journald: %v", i, err))
		}
	}
	if s.NATS != nil {
		n++
	}
	if s.Kafka != nil {
		n++
	}
	if s.Blocklist != nil {
		n++
		if _, _, _, err := s.Blocklist.settings(); err != nil {
			errs = append(errs, fmt.Sprintf("sources[%d].blocklist.%v", i, err))
		}
	}
	if n != 1 {
		errs = append(errs, fmt.Sprintf("sources[%d]: set exactly one of files, syslog, stdin, journald, nats, kafka, blocklist", i))
	}
	if s.NATS != nil {
		if _, err := busTrust(s.NATS.Payload, s.NATS.Policy, nil); err != nil {
			errs = append(errs, fmt.Sprintf("sources[%d].nats: %v", i, err))
		}
	}
	if s.Kafka != nil {
		if _, err := busTrust(s.Kafka.Payload, s.Kafka.Policy, nil); err != nil {
			errs = append(errs, fmt.Sprintf("sources[%d].kafka: %v", i, err))
		}
	}
	if _, err := sources.WebOptions(fmt.Sprintf("sources[%d].", i), s.LogFormat, s.RealIPFrom); err != nil {
		errs = append(errs, err.Error())
	}
	if (s.LogFormat != "" || len(s.RealIPFrom) > 0) && len(s.Files) == 0 {
		errs = append(errs, fmt.Sprintf("sources[%d]: log_format and real_ip_from apply to files", i))
	}
	if s.Start != "" && s.Start != "end" && s.Start != "beginning" {
		errs = append(errs, fmt.Sprintf("sources[%d].start: want end or beginning", i))
	}
	return errs
}

// problems are what is wrong with sinks[i].
func (s SinkConfig) problems(i int) []string {
	var errs []string
	n := 0
	if s.JSONL != "" {
		n++
	}
	if s.Exec != nil {
		n++
		if s.Exec.Timeout != "" {
			if _, err := rules.ParseDuration(s.Exec.Timeout); err != nil {
				errs = append(errs, fmt.Sprintf("sinks[%d].exec.timeout: %v", i, err))
			}
		}
	}
	if s.NFTables != nil {
		n++
	}
	if s.NATS != nil {
		n++
	}
	if s.Kafka != nil {
		n++
	}
	for _, v := range []interface{ Validate() error }{s.Webhook, s.Mail} {
		if v == nil || reflect.ValueOf(v).IsNil() {
			continue
		}
		n++
		if err := v.Validate(); err != nil {
			// "webhook: body: ..." becomes "sinks[2].webhook.body: ...".
			for _, line := range strings.Split(err.Error(), "\n") {
				kind, rest, _ := strings.Cut(line, ": ")
				key, msg, ok := strings.Cut(rest, ": ")
				if !ok {
					key, msg = "", rest
				} else {
					key = "." + key
				}
				errs = append(errs, fmt.Sprintf("sinks[%d].%s%s: %s", i, kind, key, msg))
			}
		}
	}
	if n != 1 {
		errs = append(errs, fmt.Sprintf("sinks[%d]: set exactly one of jsonl, exec, nftables, nats, kafka, webhook, mail", i))
	}
	return errs
}

func (c *Config) defaults() {
	if c.StateDir == "" {
		c.StateDir = "/var/lib/stockade"
	}
	if c.Socket == "" {
		c.Socket = c.StateDir + "/stockade.sock"
	}
	if c.Origin == "" {
		c.Origin, _ = os.Hostname()
	}
	switch {
	case c.MaxWindows == 0:
		c.MaxWindows = DefaultMaxWindows
	case c.MaxWindows < 0:
		c.MaxWindows = 0
	}
}

// DefaultMaxWindows is max_windows's default. Full, that is about 150 MB
// of live heap and a state of 40-60 MB (the bench's state row).
const DefaultMaxWindows = 1_000_000
