// Package kafkaconn is the Kafka connection that the Kafka sink, the Kafka
// source and `stockade enforce` share: brokers, TLS and SASL, checked one
// way and turned into kafka-go's transport and dialer one way.
package kafkaconn

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
	"github.com/stockade-ids/stockade/internal/yamlnode"
)

// Config says how to reach the brokers.
type Config struct {
	// Brokers are host:port pairs to bootstrap from (at least one).
	Brokers []string   `yaml:"brokers"`
	TLS     TLSConfig  `yaml:"tls"`
	SASL    SASLConfig `yaml:"sasl"`
	// Timeout bounds dialing, and reading and writing on a connection
	// (default 10s).
	Timeout time.Duration `yaml:"timeout"`
}

// TLSConfig turns TLS on when Enable is set or any file is named. CA alone
// verifies the brokers with that CA instead of the system's; Cert and Key
// together authenticate us.
type TLSConfig struct {
	Enable bool   `yaml:"enable"`
	CA     string `yaml:"ca"`
	Cert   string `yaml:"cert"`
	Key    string `yaml:"key"`
	// ServerName overrides the name verified in the brokers' certificates
	// (default: the host of each broker address).
	ServerName string `yaml:"server_name"`
}

// SASLConfig authenticates us; an empty Mechanism means no SASL.
type SASLConfig struct {
	Mechanism string `yaml:"mechanism"` // "plain", "scram-sha-256" or "scram-sha-512"
	User      string `yaml:"user"`
	Password  string `yaml:"password"`
}

// SetDefaults fills in what is unset.
func (c *Config) SetDefaults() {
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
}

// Validate reports every problem, each naming its field under prefix.
func (c *Config) Validate(prefix string) error { return c.Problems().Under(prefix) }

// Problems is every problem of c, each with its key (yamlnode.Problems).
func (c *Config) Problems() yamlnode.Problems {
	var ps yamlnode.Problems
	bad := ps.Add
	if len(c.Brokers) == 0 {
		bad("brokers", "at least one host:port is required")
	}
	for i, b := range c.Brokers {
		if _, port, err := net.SplitHostPort(b); err != nil || port == "" {
			bad(fmt.Sprintf("brokers[%d]", i), "%q is not host:port", b)
		}
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
	return ps
}

// ValidTopic is Kafka's own rule for topic names.
func ValidTopic(t string) bool {
	return len(t) > 0 && len(t) <= 249 && t != "." && t != ".." && !strings.ContainsFunc(t, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-')
	})
}

// TLSConfig is nil when TLS is off.
func (c *TLSConfig) TLSConfig() (*tls.Config, error) {
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

// SASL is the mechanism, nil without SASL.
func (c *SASLConfig) SASL() (sasl.Mechanism, error) {
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

// Transport is a writer's transport, limited to the metadata of topics.
func (c *Config) Transport(topics ...string) (*kafka.Transport, error) {
	tc, err := c.TLS.TLSConfig()
	if err != nil {
		return nil, err
	}
	mech, err := c.SASL.SASL()
	if err != nil {
		return nil, err
	}
	dialer := &net.Dialer{Timeout: c.Timeout, KeepAlive: 30 * time.Second}
	return &kafka.Transport{
		Dial:        dialer.DialContext,
		DialTimeout: c.Timeout,
		ClientID:    "stockade",
		TLS:         tc,
		SASL:        mech,
		// Only our topics' metadata: a big cluster's full listing on every
		// refresh is wasted.
		MetadataTopics: topics,
	}, nil
}

// Dialer is a reader's dialer.
func (c *Config) Dialer() (*kafka.Dialer, error) {
	tc, err := c.TLS.TLSConfig()
	if err != nil {
		return nil, err
	}
	mech, err := c.SASL.SASL()
	if err != nil {
		return nil, err
	}
	return &kafka.Dialer{Timeout: c.Timeout, DualStack: true, KeepAlive: 30 * time.Second,
		ClientID: "stockade", TLS: tc, SASLMechanism: mech}, nil
}
