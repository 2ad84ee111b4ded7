package daemon

import (
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/stockade-ids/stockade/pipeline/guard"
	"go.yaml.in/yaml/v3"

	"github.com/stockade-ids/stockade/enforce"
	"github.com/stockade-ids/stockade/internal/kafkaconn"
	"github.com/stockade-ids/stockade/internal/natsconn"
	"github.com/stockade-ids/stockade/rules"
	"github.com/stockade-ids/stockade/sinks/queue"
	"github.com/stockade-ids/stockade/sources/bus"
)

// Duration is a YAML duration: "90s", "10m", "2h", "7d", "1w".
type Duration time.Duration

func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := rules.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %v", n.Line, err)
	}
	*d = Duration(v)
	return nil
}

// NATSConn is how to reach NATS, in every section that does.
type NATSConn struct {
	URL      string   `yaml:"url"`
	Creds    string   `yaml:"creds"`
	NKey     string   `yaml:"nkey"`
	Token    string   `yaml:"token"`
	User     string   `yaml:"user"`
	Password string   `yaml:"password"`
	TLS      PEMFiles `yaml:"tls"`
	Timeout  Duration `yaml:"timeout"`

	// The daemon's own key and connection on its embedded server, for a
	// sink or source that names no server (embeddedNATS.conn).
	identity  nkeys.KeyPair
	inProcess nats.InProcessConnProvider
}

type PEMFiles struct {
	CA   string `yaml:"ca"`
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

func (c NATSConn) conn() natsconn.Config {
	return natsconn.Config{URL: c.URL, Creds: c.Creds, NKey: c.NKey, Identity: c.identity, InProcess: c.inProcess, Token: c.Token, User: c.User, Password: c.Password,
		TLS: natsconn.TLSConfig{CA: c.TLS.CA, Cert: c.TLS.Cert, Key: c.TLS.Key}, Timeout: time.Duration(c.Timeout)}
}

// KafkaConn is how to reach Kafka.
type KafkaConn struct {
	Brokers []string `yaml:"brokers"`
	TLS     struct {
		Enable     bool   `yaml:"enable"`
		CA         string `yaml:"ca"`
		Cert       string `yaml:"cert"`
		Key        string `yaml:"key"`
		ServerName string `yaml:"server_name"`
	} `yaml:"tls"`
	SASL struct {
		Mechanism string `yaml:"mechanism"`
		User      string `yaml:"user"`
		Password  string `yaml:"password"`
	} `yaml:"sasl"`
	Timeout Duration `yaml:"timeout"`
}

func (c KafkaConn) conn() kafkaconn.Config {
	return kafkaconn.Config{Brokers: c.Brokers,
		TLS:     kafkaconn.TLSConfig{Enable: c.TLS.Enable, CA: c.TLS.CA, Cert: c.TLS.Cert, Key: c.TLS.Key, ServerName: c.TLS.ServerName},
		SASL:    kafkaconn.SASLConfig{Mechanism: c.SASL.Mechanism, User: c.SASL.User, Password: c.SASL.Password},
		Timeout: time.Duration(c.Timeout)}
}

// QueueConfig bounds a remote sink's backlog on disk.
type QueueConfig struct {
	Max      int    `yaml:"max"`
	WhenFull string `yaml:"when_full"` // drop_oldest (default), drop_newest, block
}

func (q QueueConfig) queue() queue.Config {
	return queue.Config{Max: q.Max, WhenFull: queue.FullPolicy(q.WhenFull)}
}

// NATSSinkConfig publishes decisions to NATS.
type NATSSinkConfig struct {
	NATSConn   `yaml:",inline"`
	Name       string      `yaml:"name"`
	Subject    string      `yaml:"subject"`
	Stream     string      `yaml:"stream"`
	Duplicates Duration    `yaml:"duplicates"`
	MaxAge     Duration    `yaml:"max_age"`
	Queue      QueueConfig `yaml:"queue"`
}

// KafkaSinkConfig publishes decisions to a Kafka topic.
type KafkaSinkConfig struct {
	KafkaConn   `yaml:",inline"`
	Name        string      `yaml:"name"`
	Topic       string      `yaml:"topic"`
	Compression string      `yaml:"compression"`
	Queue       QueueConfig `yaml:"queue"`
}

// NATSSourceConfig consumes from NATS.
type NATSSourceConfig struct {
	NATSConn `yaml:",inline"`
	Subject  string   `yaml:"subject"`
	Stream   string   `yaml:"stream"`
	Durable  string   `yaml:"durable"`
	Since    Duration `yaml:"since"`
	// Payload is "decisions" (default) or "lines" (raw log lines, their
	// format in the Stockade-Format header or Format).
	Payload string `yaml:"payload"`
	Format  string `yaml:"format"`
	// Policy is whom a source of decisions believes, in the words of
	// `stockade enforce`'s policy: only decisions signed by the key of an
	// origin it lists count (required for decisions).
	Policy *PolicyConfig `yaml:"policy"`
}

func (c *NATSSourceConfig) consumer() bus.NATSConfig {
	return bus.NATSConfig{Config: c.conn(), Subject: c.Subject, Stream: c.Stream, Durable: c.Durable, Since: time.Duration(c.Since)}
}

// KafkaSourceConfig consumes from a Kafka topic in a consumer group.
type KafkaSourceConfig struct {
	KafkaConn `yaml:",inline"`
	Topic     string        `yaml:"topic"`
	Group     string        `yaml:"group"`
	Payload   string        `yaml:"payload"`
	Format    string        `yaml:"format"`
	Policy    *PolicyConfig `yaml:"policy"`
}

func (c *KafkaSourceConfig) consumer() bus.KafkaConfig {
	return bus.KafkaConfig{Config: c.conn(), Topic: c.Topic, Group: c.Group}
}

// busTrust is the verifier of a bus source's decisions; nil for a source
// of lines, which carry no signature. A source of decisions trusts no one
// unless told: it is refused without origins, since it would believe any
// message and sign fleet bans on it.
//
// g, when set, is the daemon's guard: what the daemon never bans (own
// addresses as they change, fleet, allowlist) a decision from the bus
// never makes it ban either.
func busTrust(payload string, pc *PolicyConfig, g *guard.Guard) (*enforce.Verifier, error) {
	if payload == "lines" {
		if pc != nil {
			return nil, errors.New("policy: a source of lines carries no signed decisions; remove it or set payload: decisions")
		}
		return nil, nil
	}
	if pc == nil || len(pc.Origins) == 0 {
		return nil, errors.New("policy: origins: none trusted: a source of decisions believes only the origins its policy lists, " +
			"with the public key of each (stockade keygen), as stockade enforce does")
	}
	pol, err := pc.policy()
	if err != nil {
		return nil, err
	}
	pol.Guard = g
	return enforce.NewVerifier(pol)
}

// NATSServerConfig hosts a NATS server inside stockade: a small site needs
// no other server; enforcers elsewhere connect to it.
//
// Who may do what on it is either one token, which lets its holder do
// everything (consume any firewall's durable, delete the stream), or
// roles: each sensor, firewall, correlator and administrator listed with
// its nkey (`stockade keygen`; a sensor's signing key is its NATS key
// too), allowed only what its role needs. deploy/stockade.yaml documents
// every key.
type NATSServerConfig struct {
	// Listen is host:port (default 127.0.0.1:4222; 0.0.0.0:4222 to serve
	// firewalls on other hosts, with roles and TLS).
	Listen string `yaml:"listen"`
	// StoreDir holds JetStream's data (default STATE/nats).
	StoreDir string `yaml:"store_dir"`
	// Token is a single secret for every client, with every right.
	Token string   `yaml:"token"`
	TLS   PEMFiles `yaml:"tls"`
	// MaxStore caps JetStream's disk use (default 1 GiB).
	MaxStore int64 `yaml:"max_store"`

	// With roles, the daemon creates the stream (subjects
	// stockade.decisions.>) at start, and sets it back to these settings
	// if someone changed them: Stream names it (default STOCKADE), MaxAge
	// keeps decisions (default 30d), Duplicates is its duplicate window
	// (default 10m).
	Stream     string   `yaml:"stream"`
	MaxAge     Duration `yaml:"max_age"`
	Duplicates Duration `yaml:"duplicates"`
	// Sensors publish on stockade.decisions.<name>.> only (name = their
	// origin).
	Sensors []NATSPeer `yaml:"sensors"`
	// Firewalls read through their own durable consumer only (name = the
	// durable, `stockade enforce`'s name:), which the daemon creates.
	Firewalls []NATSPeer `yaml:"firewalls"`
	// Correlators do both: publish as origin name, read through durable
	// name.
	Correlators []NATSPeer `yaml:"correlators"`
	// Admins may do everything (nats stream edit, consumer rm, …).
	Admins []NATSPeer `yaml:"admins"`
}

// NATSPeer is one client of the embedded server: its name in its role
// and its public nkey (U…, or N… as an older `stockade keygen` made).
type NATSPeer struct {
	Name string `yaml:"name"`
	Key  string `yaml:"key"`
}
