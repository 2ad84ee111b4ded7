package natsconn

import (
	"bufio"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/stockade-ids/stockade/pipeline/sign"
)

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"nats://127.0.0.1:4222":                    "nats://127.0.0.1:4222",
		"nats://alice:pa@ss@h:4222":                "nats://redacted@h:4222",
		"nats://s3cr3tTOKEN@h:4222":                "nats://redacted@h:4222",
		"tls://u:p@a:1,nats://b:2, nats://tok@c:3": "tls://redacted@a:1,nats://b:2, nats://redacted@c:3",
		"user:pass@host:4222":                      "redacted@host:4222",
		"":                                         "",
		"nats://h:4222/path@x":                     "nats://redacted@x",
		"nats://[::1]:4222":                        "nats://[::1]:4222",
		"nats://u:p@[2001:db8::1]:4222,nats://v@[::1]:1": "nats://redacted@[2001:db8::1]:4222,nats://redacted@[::1]:1",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestNKeySignsOnlyNonces: the key that answers a server's nonce may be a
// sensor's signing key. A hostile server (or whoever poses as it) that
// sends a decision as its nonce must not get it signed: the client refuses
// to answer anything that is not nonce-shaped, and never sends the
// signature.
func TestNKeySignsOnlyNonces(t *testing.T) {
	seed, _, err := sign.Generate()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "sensor.nk")
	os.WriteFile(file, seed, 0o600)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	decision := `{"id":"x","action":"ban","target":"192.0.2.1","origin":"web1"}`
	nonce, _ := json.Marshal(decision)
	got := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(c, "INFO {\"server_id\":\"evil\",\"version\":\"2.11.0\",\"proto\":1,\"headers\":true,\"max_payload\":1048576,\"auth_required\":true,\"nonce\":%s}\r\n", nonce)
		line, _ := bufio.NewReader(c).ReadString('\n')
		got <- line
	}()
	c := Config{URL: "nats://" + ln.Addr().String(), NKey: file, Timeout: 2 * time.Second}
	c.SetDefaults()
	opts, err := c.Options("test", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(c.URL, append(opts, nats.RetryOnFailedConnect(false), nats.MaxReconnects(0))...)
	if err == nil {
		nc.Close()
		t.Fatal("connected to a server whose nonce is a decision")
	}
	if !strings.Contains(err.Error(), "not a nonce") {
		t.Errorf("connect error %v, want the refusal to sign", err)
	}
	select {
	case line := <-got:
		if strings.Contains(line, `"sig"`) {
			t.Fatalf("the client sent a signature of the decision: %s", line)
		}
	case <-time.After(5 * time.Second):
	}

	// A seed file others can read is refused; a server seed (an older
	// keygen's) is taken as the same key under the user prefix.
	os.Chmod(file, 0o644)
	if _, err := c.Options("test", slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("a world-readable seed: %v, want refused", err)
	}
	old, _ := nkeys.CreateServer()
	oldSeed, _ := old.Seed()
	os.WriteFile(file, oldSeed, 0o600)
	os.Chmod(file, 0o600)
	if _, err := c.Options("test", slog.New(slog.DiscardHandler)); err != nil {
		t.Errorf("a server seed: %v", err)
	}
}
