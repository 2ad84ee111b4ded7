// Package protect fills the guard's sets of what is never banned, for the
// daemon and the firewall alike: the allowlist with loopback, the fleet
// list, the bus servers and brokers this host connects to (and those NATS
// announces), the embedded NATS server's peers, and this host's addresses.
package protect

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/pipeline/guard"
	"github.com/stockade-ids/stockade/rules"
)

// The guard's sets this package fills (guard.Own and guard.Special are the
// guard's own).
const (
	setAllow = "allow"      // allow: and --allow, and loopback
	setFleet = "fleet"      // fleet: in the config
	setBus   = "bus"        // the bus servers and brokers we connect to, resolved, and those NATS told us of
	setPeers = "nats-peers" // clients, routes and leaf nodes of the embedded NATS server
	setHome  = "home_net"   // a firewall's home_net
)

// Loopback is always allowlisted. It is a function so that no caller can
// change what every other caller gets.
func Loopback() []netip.Prefix {
	return []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
}

// ParsePrefixes parses allow:/fleet: entries (comma-separated lists too).
func ParsePrefixes(field string, vals []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range vals {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s == "" {
				continue
			}
			p, err := rules.ParsePrefix(s)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", field, err)
			}
			out = append(out, p)
		}
	}
	return out, nil
}

// Set puts the allowlist (with loopback) and the fleet list into g;
// nothing changes when either is bad.
func Set(g *guard.Guard, allow, fleet []string) error {
	a, err := ParsePrefixes("allow", allow)
	if err != nil {
		return err
	}
	f, err := ParsePrefixes("fleet", fleet)
	if err != nil {
		return err
	}
	g.Set(setAllow, append(Loopback(), a...))
	g.Set(setFleet, f)
	return nil
}

// SetHomeNet protects a firewall's home_net in g: a decision from the bus
// never bans a home address, whichever sensor sent it.
func SetHomeNet(g *guard.Guard, entries []string) error {
	ps, err := ParsePrefixes("home_net", entries)
	if err != nil {
		return err
	}
	g.Set(setHome, ps)
	return nil
}

// WatchOwn follows the host's addresses in g (in netns when set). Where
// netlink cannot be followed, the addresses are read once.
func WatchOwn(ctx context.Context, g *guard.Guard, netns int, log *slog.Logger) {
	err := g.Watch(ctx, guard.WatchConfig{NetNS: netns, OnError: func(err error) {
		log.Warn("following this host's addresses: read again", "err", err)
	}})
	if err != nil {
		log.Warn("cannot follow this host's addresses; read once, an address added later is not protected until a restart", "err", err)
		if netns == 0 {
			g.Set(guard.Own, OwnAddresses())
		}
	}
}

// Fleet keeps the guard's bus and nats-peers sets: the fleet's own
// infrastructure is never banned, or a forged line naming the address a
// firewall reaches NATS from would cut that firewall off the bus.
type Fleet struct {
	g     *guard.Guard
	log   *slog.Logger
	hosts []string // NATS URLs and Kafka brokers from the config
	srv   *server.Server

	mu    sync.Mutex
	conns []*nats.Conn // NATS connections whose discovered servers count
}

// NewFleet is a Fleet filling g: hosts are the NATS URLs and Kafka brokers
// of the configuration (see BusHosts), srv the embedded NATS server or nil.
func NewFleet(g *guard.Guard, hosts []string, srv *server.Server, log *slog.Logger) *Fleet {
	return &Fleet{g: g, log: log, hosts: hosts, srv: srv}
}

// PeersEvery is how often the embedded server's peers and the addresses
// our NATS connections use are looked at; names are resolved every
// resolveEvery.
const (
	PeersEvery   = time.Second
	resolveEvery = time.Minute
)

// BusHosts lists the NATS URLs (comma-separated lists) and Kafka brokers.
func BusHosts(natsURLs []string, brokers []string) []string {
	var out []string
	for _, u := range natsURLs {
		for _, s := range strings.Split(u, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return append(out, brokers...)
}

// AddConn makes the servers c is connected to and discovers part of the
// fleet.
func (f *Fleet) AddConn(c *nats.Conn) {
	if c == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.conns = append(f.conns, c)
}

// Refresh sets both sets now; resolve also looks the configured names and
// the servers NATS announced up again (resolved is what the last look
// found, returned for the next call).
func (f *Fleet) Refresh(ctx context.Context, resolve bool, resolved []netip.Prefix) []netip.Prefix {
	f.mu.Lock()
	conns := slices.Clone(f.conns)
	f.mu.Unlock()
	if resolve {
		resolved = resolved[:0]
		for _, h := range f.hosts {
			resolved = append(resolved, resolveHost(ctx, h, f.log)...)
		}
		for _, c := range conns {
			for _, u := range c.DiscoveredServers() {
				resolved = append(resolved, resolveHost(ctx, u, f.log)...)
			}
		}
	}
	bus := slices.Clone(resolved)
	for _, c := range conns {
		if a, ok := addrOfHostPort(c.ConnectedAddr()); ok {
			bus = append(bus, a)
		}
	}
	f.g.Set(setBus, bus)
	if f.srv != nil {
		f.g.Set(setPeers, natsPeers(f.srv))
	}
	return resolved
}

// Run refreshes until ctx is done.
func (f *Fleet) Run(ctx context.Context, resolved []netip.Prefix) {
	tick := time.NewTicker(PeersEvery)
	defer tick.Stop()
	var last time.Time // the connections added since start: resolve at once

	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			resolve := time.Since(last) >= resolveEvery
			if resolve {
				last = time.Now()
			}
			resolved = f.Refresh(ctx, resolve, resolved)
		}
	}
}

// resolveHost turns a URL (nats://user@host:4222), a host:port or a host
// into its addresses, each as a single host.
func resolveHost(ctx context.Context, s string, log *slog.Logger) []netip.Prefix {
	host := s
	if u, err := url.Parse(s); err == nil && u.Host != "" {
		host = u.Host
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "" {
		return nil
	}
	if a, err := netip.ParseAddr(host); err == nil {
		a = pipeline.Canonical(a)
		return []netip.Prefix{netip.PrefixFrom(a, a.BitLen())}
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	as, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		log.Warn("a bus server's name did not resolve: its addresses are not protected until it does", "host", host, "err", err)
		return nil
	}
	out := make([]netip.Prefix, 0, len(as))
	for _, a := range as {
		a = pipeline.Canonical(a)
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out
}

func addrOfHostPort(s string) (netip.Prefix, bool) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.Prefix{}, false
	}
	a := pipeline.Canonical(ap.Addr())
	return netip.PrefixFrom(a, a.BitLen()), true
}

// natsPeers are the addresses of everything connected to the embedded
// server: clients (firewalls, sensors), routes and leaf nodes.
func natsPeers(srv *server.Server) []netip.Prefix {
	var ips []string
	for offset := 0; offset < 1<<20; {
		cz, err := srv.Connz(&server.ConnzOptions{Offset: offset, Limit: 4096})
		if err != nil || len(cz.Conns) == 0 {
			break
		}
		for _, c := range cz.Conns {
			ips = append(ips, c.IP)
		}
		offset += len(cz.Conns)
		if offset >= cz.Total {
			break
		}
	}
	if rz, err := srv.Routez(&server.RoutezOptions{}); err == nil {
		for _, r := range rz.Routes {
			ips = append(ips, r.IP)
		}
	}
	if lz, err := srv.Leafz(&server.LeafzOptions{}); err == nil {
		for _, l := range lz.Leafs {
			ips = append(ips, l.IP)
		}
	}
	out := make([]netip.Prefix, 0, len(ips))
	for _, s := range ips {
		if a, err := netip.ParseAddr(s); err == nil {
			a = pipeline.Canonical(a)
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	return out
}

// OwnAddresses are this host's interface addresses, each as a single host.
func OwnAddresses() []netip.Prefix {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []netip.Prefix
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(ipn.IP)
		if !ok {
			continue
		}
		ip = pipeline.Canonical(ip)
		out = append(out, netip.PrefixFrom(ip, ip.BitLen()))
	}
	return out
}
