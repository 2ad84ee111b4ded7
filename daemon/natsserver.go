package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/stockade-ids/stockade/enforce"
	fleetacks "github.com/stockade-ids/stockade/fleet"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/stockade-ids/stockade/config"
	"github.com/stockade-ids/stockade/internal/natsconn"
	"github.com/stockade-ids/stockade/internal/yamlnode"
	"github.com/stockade-ids/stockade/pipeline/sign"
	natssink "github.com/stockade-ids/stockade/sinks/nats"
	"github.com/stockade-ids/stockade/sources/bus"
)

// Defaults of the embedded server's stream, the same as the NATS sink's.
const (
	defaultStream      = "STOCKADE"
	decisionsRoot      = "stockade.decisions"
	defaultStreamAge   = 30 * 24 * time.Hour
	defaultStreamDupes = 10 * time.Minute
)

func streamName(c *config.NATSServer) string {
	if c.Stream == "" {
		return defaultStream
	}
	return c.Stream
}

// natsPermissions are what each role may do on the bus; admins (and the
// hosting daemon) may do everything. Publishing to a $JS.API subject is a
// JetStream request: only the requests listed here are allowed, so no
// role but an administrator creates, changes, purges or deletes a stream
// or a consumer, and a firewall reads through its own durable only. Every
// role receives replies under its own inbox (_INBOX.<its key>, as
// natsconn asks for), never under another's.
type natsPermissions struct {
	stream string
}

func (p natsPermissions) inbox(key string) *server.SubjectPermission {
	return &server.SubjectPermission{Allow: []string{nats.InboxPrefix + key + ".>"}}
}

// publish lets a sensor publish its own subject only, and read the
// stream's description (the NATS sink looks the stream up before
// publishing to it).
func (p natsPermissions) publish(name string) []string {
	return []string{decisionsRoot + "." + name + ".>", "$JS.API.STREAM.INFO." + p.stream}
}

// consume lets a firewall read through durable: look it up, pull from it,
// acknowledge what it pulled; and read the stream by sequence, read-only,
// to start over without deleting its durable (bus.NATSConfig.Reset).
func (p natsPermissions) consume(durable string) []string {
	s := p.stream
	return []string{
		"$JS.API.CONSUMER.INFO." + s + "." + durable,
		"$JS.API.CONSUMER.MSG.NEXT." + s + "." + durable,
		"$JS.ACK." + s + "." + durable + ".>",
		"$JS.API.STREAM.INFO." + s,
		"$JS.API.STREAM.MSG.GET." + s,
		"$JS.API.DIRECT.GET." + s,
	}
}

func (p natsPermissions) user(key string, publish []string) *server.NkeyUser {
	return &server.NkeyUser{Nkey: key, Permissions: &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: publish},
		Subscribe: p.inbox(key),
	}}
}

// natsServerOptions are the embedded server's options from c: the same
// function serves the daemon and the tests that prove what each role may
// not do. local is the hosting daemon's own key: with roles, it is an
// administrator (it creates the stream and the durables) and what the
// daemon's own sinks and sources use.
func natsServerOptions(c *config.NATSServer, stateDir string, local nkeys.KeyPair) (*server.Options, error) {
	var ps yamlnode.Problems
	if errors.As(c.Validate(), &ps) {
		return nil, ps.Under("nats_server")
	}
	listen := c.Listen
	if listen == "" {
		listen = "127.0.0.1:4222"
	}
	host, portStr, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("nats_server: listen: %w", err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("nats_server: listen: bad port %q", portStr)
	}
	store := c.StoreDir
	if store == "" {
		store = filepath.Join(stateDir, "nats")
	}
	maxStore := c.MaxStore
	if maxStore <= 0 {
		maxStore = 1 << 30
	}
	opts := &server.Options{
		ServerName: "stockade", Host: host, Port: port,
		JetStream: true, StoreDir: store, JetStreamMaxStore: maxStore, JetStreamMaxMemory: 64 << 20,
		Authorization: c.Token, NoSigs: true, NoLog: true,
	}
	if c.HasRoles() {
		pub, err := local.PublicKey()
		if err != nil {
			return nil, fmt.Errorf("nats_server: own key: %w", err)
		}
		perm := natsPermissions{stream: streamName(c)}
		key := func(k string) string { u, _ := sign.UserPublicKey(k); return u } // validated above
		opts.Nkeys = append(opts.Nkeys, &server.NkeyUser{Nkey: pub})
		for _, a := range c.Admins {
			opts.Nkeys = append(opts.Nkeys, &server.NkeyUser{Nkey: key(a.Key)})
		}
		for _, s := range c.Sensors {
			opts.Nkeys = append(opts.Nkeys, perm.user(key(s.Key), perm.publish(s.Name)))
		}
		for _, f := range c.Firewalls {
			// Its acks on its own subject: no firewall speaks for another.
			opts.Nkeys = append(opts.Nkeys, perm.user(key(f.Key), append(perm.consume(f.Name), enforce.AckSubjectPrefix+f.Name)))
		}
		for _, r := range c.Correlators {
			opts.Nkeys = append(opts.Nkeys, perm.user(key(r.Key), append(perm.publish(r.Name), perm.consume(r.Name)...)))
		}
	}
	if c.TLS.Cert != "" {
		tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: c.TLS.Cert, KeyFile: c.TLS.Key, CaFile: c.TLS.CA, Verify: c.TLS.CA != ""})
		if err != nil {
			return nil, fmt.Errorf("nats_server: tls: %w", err)
		}
		tc.MinVersion = tls.VersionTLS12
		opts.TLSConfig, opts.TLS, opts.TLSVerify = tc, true, c.TLS.CA != ""
	}
	return opts, nil
}

// embeddedNATS is the NATS server running inside the daemon.
type embeddedNATS struct {
	// Server is the running server (its peers, its client URL).
	Server *server.Server
	// local is the daemon's own key on it (with roles): an administrator,
	// held in memory only, made anew at each start.
	local nkeys.KeyPair
	roles bool
}

// startNATSServer runs the embedded NATS server with JetStream, so that
// one stockade can be the whole bus of a small site: its NATS sinks publish
// to it and firewalls running `stockade enforce` subscribe to it. With
// roles, it then creates, as administrator, the stream and the durable
// consumer of each firewall and correlator, so that none of them needs the
// right to.
func startNATSServer(c *config.NATSServer, stateDir string, log *slog.Logger) (*embeddedNATS, error) {
	local, err := nkeys.CreateUser()
	if err != nil {
		return nil, fmt.Errorf("nats_server: own key: %w", err)
	}
	opts, err := natsServerOptions(c, stateDir, local)
	if err != nil {
		return nil, err
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("nats_server: %w", err)
	}
	if c.Partitions > 0 {
		// Before the server listens: no decision may slip past unmapped.
		from, to := config.PartitionMapping(c.Partitions)
		if err := s.GlobalAccount().AddMapping(from, to); err != nil {
			return nil, fmt.Errorf("nats_server: partitions: %w", err)
		}
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("nats_server: not ready after 10s on %s:%d", opts.Host, opts.Port)
	}
	e := &embeddedNATS{Server: s, local: local, roles: c.HasRoles()}
	if e.roles {
		if err := e.provision(c, log); err != nil {
			s.Shutdown()
			return nil, fmt.Errorf("nats_server: %w", err)
		}
	}
	log.Info("embedded NATS server running", "url", s.ClientURL(), "jetstream", opts.StoreDir,
		"sensors", len(c.Sensors), "firewalls", len(c.Firewalls), "correlators", len(c.Correlators), "admins", len(c.Admins))
	return e, nil
}

// Shutdown stops the server and waits for it.
func (e *embeddedNATS) Shutdown() {
	e.Server.Shutdown()
	e.Server.WaitForShutdown()
}

// conn is c with the embedded server filled in for a sink or source that
// names no server: its URL, and with roles the daemon's own key over an
// in-process connection (no TLS to verify, nothing on the network to
// steal).
func (e *embeddedNATS) conn(c natsconn.Config) natsconn.Config {
	if e == nil || c.URL != "" {
		return c
	}
	c.URL = e.Server.ClientURL()
	if e.roles && c.Creds == "" && c.NKey == "" && c.Token == "" && c.User == "" && c.Password == "" {
		c.Identity, c.InProcess = e.local, e.Server
	}
	return c
}

// provision creates (or brings back to what c says) the stream, and each
// firewall's and correlator's durable consumer when missing. The stream's
// settings are re-applied at every start: a max age someone shortened is
// restored.
func (e *embeddedNATS) provision(c *config.NATSServer, log *slog.Logger) error {
	cc := natsconn.Config{URL: e.Server.ClientURL(), Identity: e.local, InProcess: e.Server}
	cc.SetDefaults()
	opts, err := cc.Options("stockade-admin", log)
	if err != nil {
		return err
	}
	nc, err := nats.Connect(cc.URL, append(opts, nats.RetryOnFailedConnect(false))...)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	maxAge, dupes := time.Duration(c.MaxAge), time.Duration(c.Duplicates)
	if maxAge == 0 {
		maxAge = defaultStreamAge
	}
	if dupes == 0 {
		dupes = defaultStreamDupes
	}
	stream := streamName(c)
	if _, err := js.CreateOrUpdateStream(ctx, natssink.StreamConfig(stream, decisionsRoot+".>", dupes, maxAge)); err != nil {
		return fmt.Errorf("stream %s: %w", stream, err)
	}
	// The firewalls' acks, for stockade fleet status.
	if _, err := js.CreateOrUpdateStream(ctx, fleetacks.StreamConfig()); err != nil {
		return fmt.Errorf("stream %s: %w", fleetacks.AckStream, err)
	}
	partition := map[string]int{}
	for _, r := range c.Correlators {
		partition[r.Name] = r.Partition
	}
	for _, peers := range [][]config.NATSPeer{c.Firewalls, config.Peers(c.Correlators)} {
		for _, p := range peers {
			filter := decisionsRoot + ".>"
			if n, ok := partition[p.Name]; ok && c.Partitions > 0 {
				filter = fmt.Sprintf("%s.*.*.*.%d", decisionsRoot, n)
			}
			if err := ensureDurable(ctx, js, stream, p.Name, filter, log); err != nil {
				return fmt.Errorf("stream %s: durable %s: %w", stream, p.Name, err)
			}
		}
	}
	return nil
}

// ensureDurable creates the durable name on filter, or sets the filter of
// the one there back to it: partitions changed, or a correlator given
// another partition, must not leave it reading what it did.
func ensureDurable(ctx context.Context, js jetstream.JetStream, stream, name, filter string, log *slog.Logger) error {
	cons, err := js.Consumer(ctx, stream, name)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		if _, err := js.CreateConsumer(ctx, stream, bus.DurableConfig(name, filter)); err != nil {
			return err
		}
		log.Info("durable consumer created", "stream", stream, "durable", name, "filter", filter)
		return nil
	}
	if err != nil {
		return err
	}
	cc := cons.CachedInfo().Config
	if cc.FilterSubject == filter {
		return nil
	}
	was := cc.FilterSubject
	cc.FilterSubject = filter
	if _, err := js.UpdateConsumer(ctx, stream, cc); err != nil {
		return err
	}
	log.Info("durable consumer now reads another subject", "stream", stream, "durable", name, "was", was, "filter", filter)
	return nil
}
