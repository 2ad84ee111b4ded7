// Package natsconn is the NATS connection that the NATS sink, the NATS
// source and `stockade enforce` share: one set of settings (servers,
// credentials, TLS), checked one way, turned into nats.go options one way.
package natsconn

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/stockade-ids/stockade/internal/yamlnode"
	"github.com/stockade-ids/stockade/pipeline/sign"
)

// Config says how to reach NATS.
type Config struct {
	// URL is the server, or a comma-separated list of a cluster's servers
	// (default nats://127.0.0.1:4222).
	URL string `yaml:"url"`

	// Credentials: at most one of Creds (a .creds file), NKey (a seed
	// file), Identity, Token, or User and Password.
	Creds string `yaml:"creds"`
	// NKey is a seed file (mode 0600): the key made by `stockade keygen`,
	// so that a sensor's signing key is also its NATS user. A server seed
	// ("SN…", what keygen made before) is used as the same key pair under
	// the user prefix (sign.UserSeed).
	NKey string `yaml:"nkey"`
	// Identity is an nkey held in memory: the hosting daemon's own key on
	// its embedded server, made at start, never written anywhere.
	Identity nkeys.KeyPair
	// InProcess, when set, connects to that server inside this process
	// instead of over the network (the daemon to its embedded server).
	InProcess nats.InProcessConnProvider
	Token     string    `yaml:"token"`
	User      string    `yaml:"user"`
	Password  string    `yaml:"password"`
	TLS       TLSConfig `yaml:"tls"`

	// Timeout bounds connecting and each flush or acknowledgement wait
	// (default 5s).
	Timeout time.Duration `yaml:"timeout"`
	// ReconnectWait is the pause between reconnect attempts (default 1s).
	ReconnectWait time.Duration `yaml:"reconnect_wait"`
}

// TLSConfig names PEM files. CA alone verifies the server with that CA
// instead of the system's; Cert and Key together authenticate us.
type TLSConfig struct {
	CA   string `yaml:"ca"`
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// SetDefaults fills in what is unset.
func (c *Config) SetDefaults() {
	if c.URL == "" {
		c.URL = "nats://127.0.0.1:4222"
	}
	if c.Timeout <= 0 {
		c.Timeout = 5 * time.Second
	}
	if c.ReconnectWait <= 0 {
		c.ReconnectWait = time.Second
	}
}

// Validate reports every problem, each naming its field under prefix
// ("nats").
func (c *Config) Validate(prefix string) error { return c.Problems().Under(prefix) }

// Problems is every problem of c, each with its key (yamlnode.Problems).
func (c *Config) Problems() yamlnode.Problems {
	var ps yamlnode.Problems
	bad := ps.Add
	creds := 0
	for _, set := range []bool{c.Creds != "", c.NKey != "", c.Identity != nil, c.Token != "", c.User != "" || c.Password != ""} {
		if set {
			creds++
		}
	}
	if creds > 1 {
		bad("credentials", "set at most one of creds, nkey, token, user/password")
	}
	if c.Password != "" && c.User == "" {
		bad("password", "set without user")
	}
	if (c.TLS.Cert == "") != (c.TLS.Key == "") {
		bad("tls", "cert and key go together")
	}
	for _, u := range strings.Split(c.URL, ",") {
		if strings.TrimSpace(u) == "" {
			bad("url", "%q has an empty server", c.URL)
		}
	}
	return ps
}

// RedactURL is URL fit for a log: user names, passwords and tokens
// written into the servers' URLs (nats://user:pass@host, nats://token@host)
// are replaced.
func RedactURL(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		at := strings.LastIndexByte(p, '@')
		if at < 0 {
			continue
		}
		start := 0
		if j := strings.Index(p, "://"); j >= 0 && j < at {
			start = j + 3
		}
		parts[i] = p[:start] + "redacted" + p[at:]
	}
	return strings.Join(parts, ",")
}

// Options are the nats.go options for a long-lived connection named name:
// it retries the first connect and reconnects forever, and buffers nothing
// while disconnected (what was not sent stays with the caller, in order).
func (c *Config) Options(name string, log *slog.Logger) ([]nats.Option, error) {
	opts := []nats.Option{
		nats.Name(name),
		nats.Timeout(c.Timeout),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(c.ReconnectWait),
		// No buffering while disconnected: a publish then fails at once and
		// its decisions stay in our queue, in order, rather than in a
		// buffer that a crash or a second outage would lose.
		nats.ReconnectBufSize(-1),
		// nats.go's ConnectedUrlRedacted keeps a bare token (nats://TOKEN@host).
		nats.ConnectHandler(func(nc *nats.Conn) { log.Info("connected to NATS", "server", RedactURL(nc.ConnectedUrl())) }),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("reconnected to NATS", "server", RedactURL(nc.ConnectedUrl())) }),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("disconnected from NATS", "err", err)
			}
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { log.Warn("NATS error", "err", err) }),
		// Why the connection cannot be (re)established (refused, bad
		// credentials, TLS), once per change of reason: the attempts repeat
		// every ReconnectWait.
		nats.ReconnectErrHandler(reconnectErrLogger(log)),
	}
	for _, f := range []struct{ field, path string }{
		{"creds", c.Creds}, {"nkey", c.NKey}, {"tls.ca", c.TLS.CA}, {"tls.cert", c.TLS.Cert}, {"tls.key", c.TLS.Key},
	} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			return nil, fmt.Errorf("nats: %s: %w", f.field, err)
		}
	}
	switch {
	case c.Creds != "":
		opts = append(opts, nats.UserCredentials(c.Creds))
	case c.NKey != "":
		kp, err := loadSeed(c.NKey)
		if err != nil {
			return nil, fmt.Errorf("nats: nkey: %w", err)
		}
		opts = append(opts, nkeyOptions(kp)...)
	case c.Identity != nil:
		opts = append(opts, nkeyOptions(c.Identity)...)
	case c.Token != "":
		opts = append(opts, nats.Token(c.Token))
	case c.User != "":
		opts = append(opts, nats.UserInfo(c.User, c.Password))
	}
	if c.InProcess != nil {
		opts = append(opts, nats.InProcessServer(c.InProcess))
	}
	if c.TLS.CA != "" {
		opts = append(opts, nats.RootCAs(c.TLS.CA))
	}
	if c.TLS.Cert != "" {
		opts = append(opts, nats.ClientCert(c.TLS.Cert, c.TLS.Key))
	}
	return opts, nil
}

// loadSeed reads an nkey seed file, refusing one that others than its
// owner can read or write: whoever reads it is this sensor on the bus, and
// (with the same key as sign_key) signs its bans.
func loadSeed(path string) (nkeys.KeyPair, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s: mode %#o lets others read or write it; chmod 600 it", path, fi.Mode().Perm())
	}
	seed, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	kp, err := sign.UserSeed(seed)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return kp, nil
}

// nkeyOptions authenticate as kp's user, with replies under an inbox
// prefix of our own (_INBOX.<public key>): a server that lists the user can
// then let it subscribe to its own replies only, not everyone's.
func nkeyOptions(kp nkeys.KeyPair) []nats.Option {
	pub, err := kp.PublicKey()
	if err != nil {
		// A key pair made from a seed always has a public key.
		return []nats.Option{func(*nats.Options) error { return fmt.Errorf("nats: nkey: %w", err) }}
	}
	return []nats.Option{
		nats.Nkey(pub, func(nonce []byte) ([]byte, error) {
			if !isNonce(nonce) {
				return nil, fmt.Errorf("nats: refusing to sign %d bytes the server sent as its nonce: not a nonce", len(nonce))
			}
			return kp.Sign(nonce)
		}),
		nats.CustomInboxPrefix(nats.InboxPrefix + pub),
	}
}

// isNonce reports whether b looks like a server's nonce (nats-server sends
// 15 base64url characters). The key that answers it may also sign
// decisions, which are JSON objects: without this check, a server we
// connect to (or whoever poses as it, without TLS) could send a decision
// as its "nonce" and get it signed by this sensor.
func isNonce(b []byte) bool {
	if len(b) < 8 || len(b) > 64 {
		return false
	}
	for _, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func reconnectErrLogger(log *slog.Logger) func(*nats.Conn, error) {
	var mu sync.Mutex
	last := ""
	return func(_ *nats.Conn, err error) {
		if err == nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if msg := err.Error(); msg != last {
			last = msg
			log.Warn("cannot connect to NATS; retrying", "err", err)
		}
	}
}

// Connect starts connecting without waiting for the server: a daemon must
// start while NATS is down.
func (c *Config) Connect(name string, log *slog.Logger) (*nats.Conn, error) {
	opts, err := c.Options(name, log)
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(c.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("nats: %w", err)
	}
	return nc, nil
}
