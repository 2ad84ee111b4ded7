package main

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// startNATSServer runs the embedded NATS server with JetStream, so that
// one stockade can be the whole bus of a small site: its NATS sinks publish
// to it and firewalls running `stockade enforce` subscribe to it.
func startNATSServer(c *NATSServerConfig, stateDir string, log *slog.Logger) (*server.Server, error) {
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
	if c.TLS.Cert != "" {
		tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: c.TLS.Cert, KeyFile: c.TLS.Key, CaFile: c.TLS.CA, Verify: c.TLS.CA != ""})
		if err != nil {
			return nil, fmt.Errorf("nats_server: tls: %w", err)
		}
		tc.MinVersion = tls.VersionTLS12
		opts.TLSConfig, opts.TLS, opts.TLSVerify = tc, true, c.TLS.CA != ""
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("nats_server: %w", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("nats_server: not ready after 10s on %s", listen)
	}
	log.Info("embedded NATS server running", "url", s.ClientURL(), "jetstream", store)
	return s, nil
}
