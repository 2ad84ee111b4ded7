package listen

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"
)

// Defaults for the zero values of Config.
const (
	DefaultMaxMessage = 64 << 10
	DefaultMaxConns   = 256
)

// udpReadBuffer is the socket receive buffer asked for. Bursts of small
// datagrams fill a buffer fast (the kernel charges each one its whole
// packet buffer, about 1 KiB on loopback), and anything beyond it is
// dropped before we can count it.
const udpReadBuffer = 8 << 20

// Config configures a syslog listener.
type Config struct {
	// UDP and TCP are the addresses to listen on ("127.0.0.1:5514",
	// ":514", "[::1]:0"); empty turns the transport off.
	UDP string
	TCP string
	// MaxMessage is the longest message in bytes (default 64 KiB). Longer
	// ones are counted as bad ("message too long") and dropped; on TCP the
	// rest of the frame is skipped and the connection carries on.
	MaxMessage int
	// MaxConns caps the TCP connections open at once (default 256); beyond
	// it new connections are closed at once and counted as refused.
	MaxConns int
	// Loc is the zone of timestamps written without one (RFC 3164); nil
	// means time.Local.
	Loc *time.Location
	// Log receives connection errors and warnings; nil discards them.
	Log *slog.Logger
	// Now is the wall clock that moves RFC 3164 year inference forward;
	// nil means time.Now.
	Now func() time.Time
}

// Syslog receives syslog messages over UDP and TCP.
type Syslog struct {
	cfg      Config
	ready    chan struct{}
	started  atomic.Bool
	udpAddr  net.Addr
	tcpAddr  net.Addr
	udp, tcp counters
}

// NewSyslog checks cfg and fills in its defaults. It binds nothing: Run does.
func NewSyslog(cfg Config) (*Syslog, error) {
	if cfg.UDP == "" && cfg.TCP == "" {
		return nil, errors.New("listen: syslog: neither a UDP nor a TCP address to listen on")
	}
	for _, a := range []struct{ name, addr string }{{"udp", cfg.UDP}, {"tcp", cfg.TCP}} {
		if a.addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			return nil, fmt.Errorf("listen: syslog %s address %q: %w", a.name, a.addr, err)
		}
	}
	switch {
	case cfg.MaxMessage < 0:
		return nil, fmt.Errorf("listen: syslog: MaxMessage %d is negative", cfg.MaxMessage)
	case cfg.MaxMessage == 0:
		cfg.MaxMessage = DefaultMaxMessage
	}
	switch {
	case cfg.MaxConns < 0:
		return nil, fmt.Errorf("listen: syslog: MaxConns %d is negative", cfg.MaxConns)
	case cfg.MaxConns == 0:
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.Loc == nil {
		cfg.Loc = time.Local
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Syslog{
		cfg:   cfg,
		ready: make(chan struct{}),
	}, nil
}
