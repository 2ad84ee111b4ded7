package nats

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/sinks/queue"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// dec is the i-th test decision; its id carries i so order is checkable.
func dec(i int) pipeline.Decision {
	return pipeline.Decision{
		ID: fmt.Sprintf("%032x", i), Action: pipeline.ActionBan,
		Target: fmt.Sprintf("203.0.%d.%d", i/250%250, i%250), Scope: pipeline.ScopeIP,
		Rule: "sshd-bruteforce", Pack: "core", Reason: "5 failures in 10m",
		At: t0.Add(time.Duration(i) * time.Second), Duration: 3600,
		Expires: t0.Add(time.Duration(i)*time.Second + time.Hour), Offense: 1,
		Origin: "fw1", Source: "/var/log/auth.log", Evidence: []string{"Failed password for root"},
	}
}

func decs(from, to int) []pipeline.Decision {
	ds := make([]pipeline.Decision, 0, to-from)
	for i := from; i < to; i++ {
		ds = append(ds, dec(i))
	}
	return ds
}

func idNum(t testing.TB, id string) int {
	t.Helper()
	n, err := strconv.ParseInt(id, 16, 64)
	if err != nil {
		t.Fatalf("decision id %q: %v", id, err)
	}
	return int(n)
}

func seq(from, to int) []int {
	var out []int
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

func testLog(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// serverOpts are an embedded server's options: a random loopback port,
// JetStream on in a directory of the test's own.
func serverOpts(t testing.TB) *server.Options {
	return &server.Options{
		Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true,
		JetStream: true, StoreDir: t.TempDir(),
	}
}

// runServer starts a server and waits until it takes connections.
func runServer(t testing.TB, opts *server.Options) *server.Server {
	t.Helper()
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		t.Fatal("nats-server not ready in 10s")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s
}

func port(s *server.Server) int { return s.Addr().(*net.TCPAddr).Port }

// testConfig points at s with quick retries.
func testConfig(t testing.TB, url string) Config {
	return Config{
		URL: url, Timeout: 2 * time.Second, ReconnectWait: 20 * time.Millisecond,
		Delivery: queue.SinkConfig{MinBackoff: 10 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Log: testLog(t)},
	}
}

func openSink(t testing.TB, cfg Config, dir string) *queue.Sink {
	t.Helper()
	s, err := Open(cfg, dir, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

func closeSink(t testing.TB, s *queue.Sink) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond for up to 15s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// streamIDs connects to url and returns the decision ids stored in the
// stream, in stream order, as numbers.
func streamIDs(t testing.TB, url, stream string) []int {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int
	for s := info.State.FirstSeq; s <= info.State.LastSeq && info.State.Msgs > 0; s++ {
		m, err := st.GetMsg(ctx, s)
		if err != nil {
			t.Fatalf("seq %d: %v", s, err)
		}
		id := m.Header.Get(nats.MsgIdHdr)
		var d pipeline.Decision
		if err := json.Unmarshal(m.Data, &d); err != nil || d.ID != id {
			t.Fatalf("seq %d: header id %q, body %q (%v)", s, id, m.Data, err)
		}
		ids = append(ids, idNum(t, id))
	}
	return ids
}

// writeCerts makes a CA and a certificate it signed for 127.0.0.1, and
// returns the paths of the CA, the certificate and its key.
func writeCerts(t testing.TB) (ca, cert, key string) {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "stockade test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		KeyUsage:    x509.KeyUsageDigitalSignature,
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, caCert, &leafKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(leafKey)
	ca, cert, key = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	for path, block := range map[string]*pem.Block{
		ca: {Type: "CERTIFICATE", Bytes: caDER}, cert: {Type: "CERTIFICATE", Bytes: leafDER}, key: {Type: "EC PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return ca, cert, key
}

// serverTLS is the server side of writeCerts, requiring client certs when
// verify is set.
func serverTLS(t testing.TB, ca, cert, key string, verify bool) *tls.Config {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	b, _ := os.ReadFile(ca)
	pool.AppendCertsFromPEM(b)
	c := &tls.Config{Certificates: []tls.Certificate{pair}, ClientCAs: pool, MinVersion: tls.VersionTLS12}
	if verify {
		c.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return c
}
