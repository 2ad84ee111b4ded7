package listen

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/stockade-ids/stockade/internal/yamlnode"
	"github.com/stockade-ids/stockade/sources"
	"github.com/stockade-ids/stockade/sources/nginx"
)

// SyslogConfig is a syslog listener as a configuration file writes it
// (`sources: - syslog: {...}`; sample.yaml documents each key). A network
// listener believes its senders; a unix one judges each message by the
// process that sent it.
type SyslogConfig struct {
	UDP  string `yaml:"udp"`
	TCP  string `yaml:"tcp"`
	Unix string `yaml:"unix"`
	// Senders are the addresses or networks allowed to send over UDP and
	// TCP; empty is anyone (warned about at start).
	Senders []string `yaml:"senders"`
	// IdleTimeout closes a TCP connection without a frame this long; 0:
	// never; unset: DefaultIdleTimeout.
	IdleTimeout *time.Duration `yaml:"idle_timeout"`
	// MaxConns caps the TCP connections open at once (default
	// DefaultMaxConns), MaxConnsPerPeer those of one address (default
	// DefaultMaxConnsPerPeer); MaxMessage is the longest message in bytes
	// (default DefaultMaxMessage).
	MaxConns        int `yaml:"max_conns"`
	MaxConnsPerPeer int `yaml:"max_conns_per_peer"`
	MaxMessage      int `yaml:"max_message"`
	// ReceiveBuffer is the UDP and unix sockets' receive buffer in bytes
	// (default DefaultReceiveBuffer).
	ReceiveBuffer  int `yaml:"receive_buffer"`
	IdentityConfig `yaml:",inline"`
	WebConfig      `yaml:",inline"`
}

// JournaldConfig is the journald source as a configuration file writes it.
type JournaldConfig struct {
	Args           []string `yaml:"args"`
	Command        string   `yaml:"command"`
	IdentityConfig `yaml:",inline"`
	WebConfig      `yaml:",inline"`
}

// WebConfig are the layout (nginx log_format or Apache LogFormat syntax)
// and the trusted proxies (nginx's set_real_ip_from) of the access lines
// web servers send through this source (programs nginx, apache2, httpd,
// openresty, caddy, traefik): the keys a files source has. Without them an
// access line is read in the combined layout and X-Forwarded-For is never
// believed.
type WebConfig struct {
	LogFormat  string   `yaml:"log_format"`
	RealIPFrom []string `yaml:"real_ip_from"`
}

// Web is what c describes, every problem added to ps under its key.
func (c WebConfig) web(ps *yamlnode.Problems) sources.Web {
	var w sources.Web
	var err error
	if c.LogFormat != "" {
		if w.Layout, err = nginx.Compile(c.LogFormat); err != nil {
			ps.Add("log_format", "%s", err)
		}
	}
	if w.RealIP, err = nginx.ParseRealIP(c.RealIPFrom); err != nil {
		ps.Add("real_ip_from", "%s", err)
	}
	return w
}

// Web is the web options c describes (checked by Validate).
func (c WebConfig) Web() (sources.Web, error) {
	var ps yamlnode.Problems
	w := c.web(&ps)
	return w, ps.Err()
}

// IdentityConfig overrides who may write as which program on a local
// input (journald, a unix socket): Identities replaces the built-in entry
// of each program it names, Unlisted (accept or refuse) is what a claim to
// a program with no entry gets.
type IdentityConfig struct {
	Identities map[string][]Speaker `yaml:"identities"`
	Unlisted   string               `yaml:"unlisted"`
}

// Build is the identity table c describes.
func (c IdentityConfig) Build() (*Identities, error) {
	return NewIdentities(c.Identities, c.Unlisted, nil)
}

func (c IdentityConfig) problems(ps *yamlnode.Problems) {
	switch c.Unlisted {
	case "", UnlistedAccept, UnlistedRefuse:
	default:
		ps.Add("unlisted", "%q: want %s or %s", c.Unlisted, UnlistedAccept, UnlistedRefuse)
		return
	}
	if _, err := c.Build(); err != nil {
		ps.Add("identities", "%s", err)
	}
}

// Validate reports every problem of c, each with its key.
func (c JournaldConfig) Validate() error {
	var ps yamlnode.Problems
	c.IdentityConfig.problems(&ps)
	c.WebConfig.web(&ps)
	return ps.Err()
}

// Validate reports every problem of c, each with its key.
func (c SyslogConfig) Validate() error {
	_, ps := c.build()
	return ps.Err()
}

// Listen is the listener c describes; the caller adds the clock, the zone
// and the logger.
func (c SyslogConfig) Listen() (Config, error) {
	lc, ps := c.build()
	return lc, ps.Err()
}

func (c SyslogConfig) build() (Config, yamlnode.Problems) {
	var ps yamlnode.Problems
	lc := Config{UDP: c.UDP, TCP: c.TCP, Unix: c.Unix, MaxConns: c.MaxConns, MaxConnsPerPeer: c.MaxConnsPerPeer, MaxMessage: c.MaxMessage,
		ReceiveBuffer: c.ReceiveBuffer}
	if c.UDP == "" && c.TCP == "" && c.Unix == "" {
		ps.Add("", "set at least one of udp, tcp, unix")
	}
	for i, s := range c.Senders {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				ps.Add(fmt.Sprintf("senders[%d]", i), "%q is not an address or a network", s)
				continue
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		lc.Senders = append(lc.Senders, p)
	}
	if c.IdleTimeout != nil {
		lc.IdleTimeout = *c.IdleTimeout
		if lc.IdleTimeout == 0 {
			lc.IdleTimeout = -1
		}
	}
	for _, f := range []struct {
		key string
		n   int
	}{{"max_conns", c.MaxConns}, {"max_conns_per_peer", c.MaxConnsPerPeer}, {"max_message", c.MaxMessage}} {
		if f.n < 0 {
			ps.Add(f.key, "negative")
		}
	}
	switch {
	case c.ReceiveBuffer < 0:
		ps.Add("receive_buffer", "negative")
	case c.ReceiveBuffer > MaxReceiveBuffer:
		ps.Add("receive_buffer", "%d: want at most %d (1 GiB)", c.ReceiveBuffer, MaxReceiveBuffer)
	case c.ReceiveBuffer > 0 && c.UDP == "" && c.Unix == "":
		ps.Add("receive_buffer", "sizes the udp and unix sockets: it needs udp: or unix:")
	}
	// The defaults written out (identities: {}, unlisted: accept) are no
	// mistake; a table or a refusal on a network listener is.
	if c.Unix == "" && (len(c.Identities) > 0 || c.Unlisted == UnlistedRefuse) {
		ps.Add("", "identities and unlisted judge local senders: they need unix:")
	}
	c.IdentityConfig.problems(&ps)
	lc.Web = c.WebConfig.web(&ps)
	if len(ps) == 0 {
		lc.Identities, _ = c.Build()
	}
	return lc, ps
}
