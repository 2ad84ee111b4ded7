package kafka

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/stockade-ids/stockade/sinks/queue"
)

// Config says where decisions go.
type Config struct {
	// Name tells this sink from other Kafka sinks: its queue is
	// queue-kafka.db, or queue-kafka-<Name>.db, in the state directory.
	Name string
	// Brokers are host:port pairs to bootstrap from (at least one).
	Brokers []string
	// Topic receives the decisions (default DefaultTopic). It must exist:
	// its partition count is the admin's choice, and a topic created on
	// the fly by a typo would swallow the decisions.
	Topic string
	TLS   TLSConfig
	SASL  SASLConfig
	// Compression is "none" (default), "gzip", "snappy", "lz4" or "zstd".
	Compression string
	// Timeout bounds dialing, and reading and writing on a connection
	// (default 10s).
	Timeout time.Duration

	// Queue bounds the on-disk backlog, Delivery tunes retries.
	Queue    queue.Config
	Delivery queue.SinkConfig
}

// TLSConfig turns TLS on when Enable is set or any file is named. CA alone
// verifies the brokers with that CA instead of the system's; Cert and Key
// together authenticate us.
type TLSConfig struct {
	Enable bool
	CA     string
	Cert   string
	Key    string
	// ServerName overrides the name verified in the brokers' certificates
	// (default: the host of each broker address).
	ServerName string
}

// SASLConfig authenticates us; an empty Mechanism means no SASL.
type SASLConfig struct {
	Mechanism string // "plain", "scram-sha-256" or "scram-sha-512"
	User      string
	Password  string
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
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
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

// validate reports every problem at once, each naming its field.
func (c *Config) validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("kafka: %s: %s", field, fmt.Sprintf(format, args...)))
	}
	if len(c.Brokers) == 0 {
		bad("brokers", "at least one host:port is required")
	}
	for i, b := range c.Brokers {
		if _, port, err := net.SplitHostPort(b); err != nil || port == "" {
			bad(fmt.Sprintf("brokers[%d]", i), "%q is not host:port", b)
		}
	}
	// Kafka's own rule for topic names.
	if len(c.Topic) > 249 || c.Topic == "." || c.Topic == ".." || strings.ContainsFunc(c.Topic, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-')
	}) {
		bad("topic", "%q: want up to 249 of letters, digits, '.', '_' and '-'", c.Topic)
	}
	if _, ok := compressions[c.Compression]; !ok {
		bad("compression", "%q: want none, gzip, snappy, lz4 or zstd", c.Compression)
	}
	switch c.SASL.Mechanism {
	case "":
		if c.SASL.User != "" || c.SASL.Password != "" {
			bad("sasl.mechanism", "user or password set without a mechanism (plain, scram-sha-256, scram-sha-512)")
		}
	case "plain", "scram-sha-256", "scram-sha-512":
		if c.SASL.User == "" {
			bad("sasl.user", "required with mechanism %s", c.SASL.Mechanism)
		}
	default:
		bad("sasl.mechanism", "%q: want plain, scram-sha-256 or scram-sha-512", c.SASL.Mechanism)
	}
	if (c.TLS.Cert == "") != (c.TLS.Key == "") {
		bad("tls", "cert and key go together")
	}
	if c.Name != "" && strings.ContainsFunc(c.Name, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-')
	}) {
		bad("name", "%q: want letters, digits, '_' or '-'", c.Name)
	}
	return errors.Join(errs...)
}

// tlsConfig is nil when TLS is off.
func (c *TLSConfig) tlsConfig() (*tls.Config, error) {
	if !c.Enable && c.CA == "" && c.Cert == "" {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.ServerName}
	if c.CA != "" {
		b, err := os.ReadFile(c.CA)
		if err != nil {
			return nil, fmt.Errorf("kafka: tls.ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("kafka: tls.ca: %s holds no PEM certificate", c.CA)
		}
		tc.RootCAs = pool
	}
	if c.Cert != "" {
		pair, err := tls.LoadX509KeyPair(c.Cert, c.Key)
		if err != nil {
			return nil, fmt.Errorf("kafka: tls.cert: %w", err)
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	return tc, nil
}

// mechanism is nil without SASL.
func (c *SASLConfig) mechanism() (sasl.Mechanism, error) {
	switch c.Mechanism {
	case "plain":
		return plain.Mechanism{Username: c.User, Password: c.Password}, nil
	case "scram-sha-256", "scram-sha-512":
		algo := scram.SHA256
		if c.Mechanism == "scram-sha-512" {
			algo = scram.SHA512
		}
		m, err := scram.Mechanism(algo, c.User, c.Password)
		if err != nil {
			return nil, fmt.Errorf("kafka: sasl: %w", err)
		}
		return m, nil
	}
	return nil, nil
}
