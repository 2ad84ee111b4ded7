package daemon

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/config"
	"github.com/stockade-ids/stockade/sinks/jsonl"
	natssink "github.com/stockade-ids/stockade/sinks/nats"
	"github.com/stockade-ids/stockade/sources/bus"

	"github.com/stockade-ids/stockade/control"
	"github.com/stockade-ids/stockade/internal/testservers"
)

// TestDaemonStartCleansUp: a start that fails half way (the metrics
// address is taken, the last thing it opens) leaves nothing behind: no bus
// consumer nor sink connected to NATS, no embedded NATS server listening,
// no control socket.
func TestDaemonStartCleansUp(t *testing.T) {
	srv := testservers.RunNATS(t, testservers.NATSOptions(t))
	url := srv.ClientURL()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	embedded := free.Addr().String()
	free.Close()
	dir := t.TempDir()
	socket := filepath.Join(dir, "stockade.sock")
	cfg := &Config{StateDir: filepath.Join(dir, "state"), Socket: socket, Metrics: taken.Addr().String(), Rules: []string{"default"},
		NATSServer: &NATSServerConfig{Listen: embedded},
		Sources:    []SourceConfig{{NATS: &config.NATSSource{NATSConfig: bus.NATSConfig{Config: NATSConn{URL: url}, Subject: "logs.>"}, BusPayload: config.BusPayload{Payload: "lines"}}}},
		Sinks:      []SinkConfig{{JSONL: &jsonl.Config{Path: filepath.Join(dir, "out.jsonl")}}, {NATS: &natssink.Config{Config: NATSConn{URL: url}}}}}
	d, err := New(*cfg, Deps{Log: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := runDaemon(ctx, d); err == nil || !strings.Contains(err.Error(), "metrics") {
		t.Fatalf("start with the metrics address taken: %v, want a metrics error", err)
	}
	waitFor(t, 5*time.Second, "the NATS clients to be gone", func() bool { return srv.NumClients() == 0 })
	if c, err := net.DialTimeout("tcp", embedded, time.Second); err == nil {
		c.Close()
		t.Errorf("the embedded NATS server still listens on %s", embedded)
	}
	if _, err := os.Stat(socket); !os.IsNotExist(err) {
		t.Errorf("the control socket is left behind: %v", err)
	}
	if _, err := control.NewClient(socket).Do(control.Request{Op: "ping"}); err == nil {
		t.Error("the control socket still answers")
	}
}
