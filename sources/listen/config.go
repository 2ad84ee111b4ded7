package listen

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stockade-ids/stockade/sources"
)

// Defaults for the zero values of Config.
const (
	DefaultMaxMessage      = 64 << 10
	DefaultMaxConns        = 256
	DefaultMaxConnsPerPeer = 64
	// DefaultIdleTimeout is long enough for a relay that forwards a busy
	// host's logs; a quieter relay is closed and reconnects with its next
	// message (rsyslog and syslog-ng do).
	DefaultIdleTimeout = 10 * time.Minute
)

// evictIdle is how long a TCP connection must have been idle before it
// can be closed to let another in.
const evictIdle = 5 * time.Second

// DefaultReceiveBuffer is the socket receive buffer asked for (UDP and the
// unix socket). Bursts of small datagrams fill a buffer fast (the kernel
// charges each one its packet buffer: 832 bytes for 120 bytes of syslog on
// loopback), and anything beyond it is dropped before we can count it.
// 32 MiB holds about 200 ms of 200,000 messages a second: on a loaded
// 2-core machine 8 MiB (50 ms) lost messages at that rate in every run,
// 32 MiB none.
const DefaultReceiveBuffer = 32 << 20

// MaxReceiveBuffer bounds ReceiveBuffer: a larger one is a typo.
const MaxReceiveBuffer = 1 << 30

// Config configures a syslog listener.
type Config struct {
	// UDP and TCP are the addresses to listen on ("127.0.0.1:5514",
	// ":514", "[::1]:0"); empty turns the transport off.
	UDP string
	TCP string
	// Unix is the path of a local datagram socket to listen on, like
	// /dev/log: writable by every local user, because the kernel tells who
	// sent each datagram and Identities judges the program it claims.
	Unix string
	// Senders are the networks allowed to send over UDP and TCP; datagrams
	// and connections from others are dropped and counted. Empty allows
	// everyone: a network listener believes whatever its senders write, so
	// anyone who can reach it chooses whom stockade bans.
	Senders []netip.Prefix
	// Identities judges who may write as which program on the Unix socket;
	// nil means NewIdentities(nil, "", nil), the defaults.
	Identities *Identities
	// MaxMessage is the longest message in bytes (default 64 KiB). Longer
	// ones are counted as bad ("message too long") and dropped; on TCP the
	// rest of the frame is skipped and the connection carries on.
	MaxMessage int
	// ReceiveBuffer is the receive buffer in bytes asked of the kernel for
	// the UDP and unix sockets (default DefaultReceiveBuffer). A daemon
	// with CAP_NET_ADMIN gets it whatever net.core.rmem_max says; without,
	// the kernel caps it at rmem_max, which is warned about.
	ReceiveBuffer int
	// MaxConns caps the TCP connections open at once (default 256); see
	// MaxConnsPerPeer for what a new connection beyond it gets.
	MaxConns int
	// MaxConnsPerPeer caps the TCP connections of one peer address (one
	// /64 for IPv6), default 64. A peer at its cap, or any peer when
	// MaxConns are open, gets in by closing a connection of the peer that
	// holds the most, the one idle longest if idle for 5 s or more (else
	// the new one is refused): one sender cannot keep others out by
	// holding connections open.
	MaxConnsPerPeer int
	// IdleTimeout closes a TCP connection on which no whole frame came for
	// this long (default DefaultIdleTimeout; negative: never).
	IdleTimeout time.Duration
	// Loc is the zone of timestamps written without one (RFC 3164); nil
	// means time.Local.
	Loc *time.Location
	// Web are the layout and trusted proxies of the access lines web
	// servers send (log_format, real_ip_from); zero: the combined layout,
	// no proxy trusted.
	Web sources.Web
	// Log receives connection errors and warnings; nil discards them.
	Log *slog.Logger
	// evictAfter is how long a connection must have been idle to be
	// closed for another (default evictIdle); tests shorten it.
	evictAfter time.Duration
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
	unixAddr net.Addr

	// The sockets Bind opened, once, and its error.
	bindOnce sync.Once
	bound    sockets
	bindErr  error

	udp, tcp, unix counters
}

type sockets struct {
	udp  *net.UDPConn
	tcp  net.Listener
	unix *net.UnixConn
}

// NewSyslog checks cfg and fills in its defaults. It binds nothing: Bind
// or Run does.
func NewSyslog(cfg Config) (*Syslog, error) {
	if cfg.UDP == "" && cfg.TCP == "" && cfg.Unix == "" {
		return nil, errors.New("listen: syslog: neither a UDP, a TCP nor a unix address to listen on")
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
	case cfg.ReceiveBuffer < 0 || cfg.ReceiveBuffer > MaxReceiveBuffer:
		return nil, fmt.Errorf("listen: syslog: ReceiveBuffer %d is out of 0..%d", cfg.ReceiveBuffer, MaxReceiveBuffer)
	case cfg.ReceiveBuffer == 0:
		cfg.ReceiveBuffer = DefaultReceiveBuffer
	}
	switch {
	case cfg.MaxConns < 0:
		return nil, fmt.Errorf("listen: syslog: MaxConns %d is negative", cfg.MaxConns)
	case cfg.MaxConns == 0:
		cfg.MaxConns = DefaultMaxConns
	}
	switch {
	case cfg.MaxConnsPerPeer < 0:
		return nil, fmt.Errorf("listen: syslog: MaxConnsPerPeer %d is negative", cfg.MaxConnsPerPeer)
	case cfg.MaxConnsPerPeer == 0:
		cfg.MaxConnsPerPeer = DefaultMaxConnsPerPeer
	}
	if cfg.evictAfter == 0 {
		cfg.evictAfter = evictIdle
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	for i, p := range cfg.Senders {
		if !p.IsValid() {
			return nil, fmt.Errorf("listen: syslog: senders[%d] is not a network", i)
		}
		cfg.Senders[i] = p.Masked()
	}
	if cfg.Identities == nil {
		ids, err := NewIdentities(nil, "", nil)
		if err != nil {
			return nil, fmt.Errorf("listen: syslog: %w", err)
		}
		cfg.Identities = ids
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

// allowed reports whether a peer may send over the network.
func (s *Syslog) allowed(addr netip.Addr) bool {
	if len(s.cfg.Senders) == 0 {
		return true
	}
	addr = addr.Unmap()
	for _, p := range s.cfg.Senders {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}
