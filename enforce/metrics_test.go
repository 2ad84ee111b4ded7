package enforce

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/stockade-ids/stockade/internal/natsconn"
	"github.com/stockade-ids/stockade/internal/netlab"
	"github.com/stockade-ids/stockade/internal/sdnotify"
	"github.com/stockade-ids/stockade/internal/testkit"
	"github.com/stockade-ids/stockade/internal/testservers"
	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/pipeline/sign"
	natssink "github.com/stockade-ids/stockade/sinks/nats"
	"github.com/stockade-ids/stockade/sinks/queue"
	"github.com/stockade-ids/stockade/sources/bus"
)

// TestFirewallMetrics runs a firewall on a real NATS server and real
// nftables in a namespace, sends it signed bans, and scrapes it: the
// decision-to-kernel histogram counts them under the firewall's name, the
// counts read at scrape time say what happened, and Prometheus's own
// linter accepts the scrape.
func TestFirewallMetrics(t *testing.T) {
	fw, pubr := startFirewall(t, Deps{Version: "9.9.9"})
	web := httptest.NewServer(promhttp.HandlerFor(fw.registry(), promhttp.HandlerOpts{}))
	defer web.Close()
	publish(t, pubr, "198.51.100.2", "198.51.100.3")
	// Waits for the three bans to be judged and written.
	deadline := time.Now().Add(10 * time.Second)
	for fw.Enforcer().Counts()[Accepted] < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("accepted %d of 3 bans within 10 s", fw.Enforcer().Counts()[Accepted])
		}
		time.Sleep(20 * time.Millisecond)
	}

	body := get(t, web.URL)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("the scrape does not parse: %v\n%s", err, body)
	}
	h := fams["stockade_enforce_decision_to_kernel_seconds"]
	if h == nil {
		t.Fatalf("no decision-to-kernel histogram in\n%s", body)
	}
	var n uint64
	for _, m := range h.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["firewall"] != "fw-edge1" || labels["origin"] != "web1" {
			t.Errorf("histogram labels %v", labels)
		}
		n += m.GetHistogram().GetSampleCount()
	}
	// The first ban may be applied before the histogram was registered.
	if n < 2 || n > 3 {
		t.Errorf("the histogram counted %d bans, want the 2 or 3 applied since it was registered", n)
	}
	for name, want := range map[string]float64{
		`stockade_enforce_decisions_total{outcome="accepted"}`: 3,
		`stockade_active_bans`:                                 3,
		`stockade_enforce_origin_active_bans{origin="web1"}`:   3,
		`stockade_build_info`:                                  1,
	} {
		if got := sample(fams, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	for _, name := range []string{"go_goroutines", "process_open_fds", "stockade_nftables_dropped_packets_total", "stockade_bus_messages_total"} {
		if fams[name] == nil {
			t.Errorf("no %s in the scrape", name)
		}
	}
	if promtool, err := exec.LookPath("promtool"); err == nil {
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = bytes.NewReader(body)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics: %v\n%s", err, out)
		}
	} else {
		t.Log("promtool (Debian package prometheus) not installed: not linting the scrape")
	}
}

// startFirewall runs a firewall named fw-edge1 on a real NATS server
// (JetStream) and real nftables in a namespace of its own, trusting origin
// web1, whose publisher it returns with a ban of 198.51.100.1 already
// sent. It stops when the test ends.
func startFirewall(t *testing.T, deps Deps) (*Firewall, *natssink.Publisher) {
	t.Helper()
	ns := netlab.New(t, "fwmetrics")
	srv := testservers.RunNATS(t, testservers.NATSOptions(t))
	seed, pub, err := sign.Generate()
	if err != nil {
		t.Fatal(err)
	}
	signer, err := sign.NewSigner(seed)
	if err != nil {
		t.Fatal(err)
	}
	conn := natsconn.Config{URL: srv.ClientURL(), Timeout: 2 * time.Second}
	pubr, err := natssink.NewPublisher(natssink.Config{Config: conn, Stream: "STOCKADE", Signer: signer}, testkit.Log(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pubr.Close() })
	cfg := Config{StateDir: t.TempDir(), Name: "fw-edge1",
		Policy: Policy{Origins: []Origin{{Name: "web1", Key: pub}}, Permit: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}},
		NATS:   &bus.NATSConfig{Config: conn, Stream: "STOCKADE", Durable: "fw-edge1"},
	}
	cfg.NFTables.NetNS = int(ns.Fd)
	ready := make(chan *Firewall, 1)
	done := make(chan error, 1)
	// The stream exists before the firewall's durable is made on it.
	publish(t, pubr, "198.51.100.1")
	ctx, cancel := context.WithCancel(context.Background())
	deps.Log, deps.Ready = testkit.Log(t), ready
	go func() { done <- Run(ctx, cfg, deps) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("firewall: %v", err)
		}
	})
	select {
	case fw := <-ready:
		return fw, pubr
	case err := <-done:
		t.Fatalf("firewall: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("the firewall did not start within 15 s")
	}
	return nil, nil
}

// TestFirewallNotify: the firewall tells systemd when it consumes
// (READY=1), that its loop runs (WATCHDOG=1 every second while
// $WATCHDOG_USEC is set) and when it stops (STOPPING=1), over a real
// notification socket.
func TestFirewallNotify(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify")
	sock, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	t.Setenv("WATCHDOG_USEC", "2000000")
	t.Setenv("WATCHDOG_PID", "")
	// The subtest's cleanup stops the firewall: STOPPING=1 is read after.
	ran := t.Run("running", func(t *testing.T) {
		startFirewall(t, Deps{Notify: sdnotify.New(path)})
		for _, want := range []string{"READY=1", "WATCHDOG=1", "WATCHDOG=1"} {
			if got := readNotify(t, sock); !strings.HasPrefix(got, want) {
				t.Fatalf("notification %q, want %s", got, want)
			}
		}
	})
	if !ran {
		return
	}
	for range 3 { // a last watchdog ping may come first
		if readNotify(t, sock) == "STOPPING=1" {
			return
		}
	}
	t.Error("no STOPPING=1 when the firewall stopped")
}

func readNotify(t *testing.T, sock *net.UnixConn) string {
	t.Helper()
	buf := make([]byte, 4096)
	// Waits for the firewall's next notification, at most 5 s.
	sock.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := sock.Read(buf)
	if err != nil {
		t.Fatalf("waiting for a notification: %v", err)
	}
	return string(buf[:n])
}

func publish(t *testing.T, p *natssink.Publisher, targets ...string) {
	t.Helper()
	now := time.Now()
	var ds []pipeline.Decision
	for _, tg := range targets {
		ds = append(ds, pipeline.Decision{ID: "m-" + tg, Action: pipeline.ActionBan, Target: pipeline.MustTarget(tg), Rule: "sshd",
			At: now, Duration: 3600, Expires: now.Add(time.Hour), Origin: "web1"})
	}
	if err := queue.PublishNow(t.Context(), p, ds); err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sample finds `name{label="value"}` (one label at most) in a scrape.
func sample(fams map[string]*dto.MetricFamily, want string) float64 {
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			key := name
			if ls := m.GetLabel(); len(ls) == 1 && name != "stockade_build_info" {
				key = fmt.Sprintf("%s{%s=%q}", name, ls[0].GetName(), ls[0].GetValue())
			}
			if key != want {
				continue
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			}
		}
	}
	return -1
}
