package daemon

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	kafkasink "github.com/stockade-ids/stockade/sinks/kafka"
	natssink "github.com/stockade-ids/stockade/sinks/nats"

	"github.com/nats-io/nkeys"
	"github.com/stockade-ids/stockade/control"
	"github.com/stockade-ids/stockade/internal/testservers"
	"github.com/stockade-ids/stockade/pipeline/sign"
	"github.com/twmb/franz-go/pkg/kfake"
)

// TestControlClientChild is the client TestControlSocketPeerCredentials
// runs as another user; it runs only as that child.
func TestControlClientChild(t *testing.T) {
	sock := os.Getenv("STOCKADE_CTL_CHILD")
	if sock == "" {
		t.Skip("runs only as TestControlSocketPeerCredentials's child")
	}
	for _, req := range []control.Request{{Op: "ping"}, {Op: "ban", Target: "192.0.2.99"}, {Op: "status"}} {
		rep, err := control.NewClient(sock).Do(req)
		fmt.Printf("%s uid=%d: ok=%v err=%v status=%v\n", req.Op, os.Getuid(), rep.OK, err, rep.Status != nil)
	}
}

// TestControlSocketPeerCredentials: the control socket is a 0600 socket
// owned by the daemon's user, and a process of another uid can neither
// connect to it nor, when someone has loosened the socket's mode by hand,
// get any request through: the daemon reads the peer's uid (SO_PEERCRED)
// and refuses everyone but root and its own user. The refusal is logged.
func TestControlSocketPeerCredentials(t *testing.T) {
	if os.Getenv("STOCKADE_CTL_CHILD") != "" {
		t.Skip("child")
	}
	if os.Getuid() != 0 {
		t.Skip("skipping: running a client as another uid needs root (CI runs as root)")
	}
	const nobody = 65534
	// A directory every user may traverse, holding the socket and a copy
	// of this test binary that the other user may run.
	dir := filepath.Join(t.TempDir(), "open")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for p := filepath.Dir(dir); p != os.TempDir() && p != "/"; p = filepath.Dir(p) {
		os.Chmod(p, 0o711) // t.TempDir's own directories are 0700
	}
	bin := filepath.Join(dir, "stockade.test")
	copyFile(t, os.Args[0], bin, 0o755)

	h := newHarness(t)
	cfg := fileConfig(h)
	cfg.Socket = filepath.Join(dir, "ctl.sock")
	l := startLive(t, cfg, nil)
	fi, err := os.Stat(cfg.Socket)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || fi.Mode()&os.ModeSocket == 0 || fi.Sys().(*syscall.Stat_t).Uid != uint32(os.Getuid()) {
		t.Fatalf("control socket %v owned by %d, want a 0600 socket of uid %d", fi.Mode(), fi.Sys().(*syscall.Stat_t).Uid, os.Getuid())
	}
	asNobody := func() string {
		t.Helper()
		cmd := exec.Command(bin, "-test.run=^TestControlClientChild$", "-test.v")
		cmd.Env = []string{"STOCKADE_CTL_CHILD=" + cfg.Socket, "PATH=/usr/bin:/bin"}
		cmd.Dir = dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("client as uid %d: %v\n%s", nobody, err, out)
		}
		return string(out)
	}

	// The mode alone keeps the other user out.
	out := asNobody()
	for _, op := range []string{"ping", "ban", "status"} {
		if !strings.Contains(out, op+" uid=65534: ok=false err=cannot reach stockade") || !strings.Contains(out, "permission denied") {
			t.Errorf("uid %d through a 0600 socket, %s:\n%s", nobody, op, out)
		}
	}
	// Loosened by hand: the peer check still refuses every request.
	if err := os.Chmod(cfg.Socket, 0o666); err != nil {
		t.Fatal(err)
	}
	out = asNobody()
	for _, op := range []string{"ping", "ban", "status"} {
		if !strings.Contains(out, fmt.Sprintf("%s uid=65534: ok=false err=uid %d may not control stockade", op, nobody)) {
			t.Errorf("uid %d through a 0666 socket, %s:\n%s", nobody, op, out)
		}
	}
	if strings.Contains(out, "status=true") {
		t.Error("the other user read the status")
	}
	if got := l.banned("sshd"); len(got) != 0 {
		t.Errorf("banned after the other user's attempts: %v", got)
	}
	if rep, err := control.NewClient(cfg.Socket).Do(control.Request{Op: "status"}); err != nil || rep.Status.ActiveBans != 0 {
		t.Errorf("root's status: %v, active bans %v", err, rep.Status)
	}
	if !strings.Contains(l.logs.String(), "control connection refused") {
		t.Error("the refused connections were not logged")
	}
}

func copyFile(t testing.TB, from, to string, mode os.FileMode) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestSecretsNeverLogged runs a daemon, with debug logging, whose
// configuration carries every kind of secret: NATS credentials in a URL
// (user:password and a bare token), a user and password, a token, an nkey
// seed file, Kafka SASL with a wrong password, the embedded server's token
// and the signing key's seed. The sinks connect, fail to authenticate and
// publish a ban, which logs plenty; none of the secrets may appear in the
// log, the status or the metrics.
func TestSecretsNeverLogged(t *testing.T) {
	const (
		natsUser, natsPass = "alice", "s3cr3t-nats-PASSWORD"
		wrongPass          = "b0b-wrong-PASSWORD"
		token              = "tok-SECRET-4d1f"
		urlToken           = "urltok-SECRET-9a2e"
		saslPass           = "k-SASL-SECRET-77"
		srvToken           = "srv-token-SECRET-31"
	)
	opts := testservers.NATSOptions(t)
	opts.Username, opts.Password = natsUser, natsPass
	srv := testservers.RunNATS(t, opts)
	host := strings.TrimPrefix(srv.ClientURL(), "nats://")
	opts2 := testservers.NATSOptions(t)
	opts2.Authorization = urlToken
	host2 := strings.TrimPrefix(testservers.RunNATS(t, opts2).ClientURL(), "nats://")
	kc := testservers.RunKafka(t, "stockade-decisions", 1, kfake.EnableSASL(), kfake.Superuser("PLAIN", "stockade", "right"))

	h := newHarness(t)
	user, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	nkeySeed, err := user.Seed()
	if err != nil {
		t.Fatal(err)
	}
	nkeyFile := filepath.Join(h.dir, "user.nk")
	os.WriteFile(nkeyFile, nkeySeed, 0o600)
	signSeed, _, err := sign.Generate()
	if err != nil {
		t.Fatal(err)
	}
	signFile := filepath.Join(h.dir, "sensor.nk")
	os.WriteFile(signFile, signSeed, 0o600)

	natsSink := func(c NATSConn, queue string) SinkConfig {
		c.Timeout = Duration(time.Second)
		return SinkConfig{NATS: &natssink.Config{Config: c, Name: queue}}
	}
	cfg := fileConfig(h)
	cfg.SignKey = signFile
	cfg.NATSServer = &NATSServerConfig{Listen: "127.0.0.1:-1", Token: srvToken}
	cfg.Sinks = append(cfg.Sinks,
		natsSink(NATSConn{URL: "nats://" + natsUser + ":" + natsPass + "@" + host}, "a"),
		natsSink(NATSConn{URL: "nats://" + urlToken + "@" + host2}, "b"),
		natsSink(NATSConn{URL: srv.ClientURL(), User: natsUser, Password: wrongPass}, "c"),
		natsSink(NATSConn{URL: srv.ClientURL(), Token: token}, "d"),
		natsSink(NATSConn{URL: srv.ClientURL(), NKey: nkeyFile}, "e"),
		SinkConfig{Kafka: &kafkasink.Config{Config: KafkaConn{Brokers: kc.ListenAddrs(), Timeout: Duration(time.Second),
			SASL: struct {
				Mechanism string `yaml:"mechanism"`
				User      string `yaml:"user"`
				Password  string `yaml:"password"`
			}{Mechanism: "plain", User: "stockade", Password: saslPass}}}},
	)
	l := startLive(t, cfg, nil)
	for i := range 5 {
		appendFile(t, h.log, sshdLine(time.Now(), "203.0.113.70", i))
	}
	waitFor(t, 15*time.Second, "the ban", func() bool { return h.bans("203.0.113.70") == 1 })
	waitFor(t, 15*time.Second, "the deliveries through credentials in URLs", func() bool {
		m := l.metrics()
		return metricValue(m, `stockade_sink_delivered_total{sink="nats"}`) == 1 && metricValue(m, `stockade_sink_delivered_total{sink="nats-2"}`) == 1
	})
	waitFor(t, 15*time.Second, "the refused sinks retrying", func() bool {
		return strings.Count(l.logs.String(), "remote unavailable") >= 4 && strings.Count(l.logs.String(), "cannot connect to NATS") >= 3
	})
	seen := l.logs.String()
	rep, err := control.NewClient(h.socket).Do(control.Request{Op: "status"})
	if err != nil {
		t.Fatal(err)
	}
	status, _ := json.Marshal(rep)
	metrics := l.metrics()
	l.stop()
	seen += l.logs.String() // shutdown logs too

	for name, secret := range map[string]string{
		"NATS password in a URL": natsPass, "NATS token in a URL": urlToken, "wrong NATS password": wrongPass,
		"NATS token": token, "nkey seed": string(bytes.TrimSpace(nkeySeed)), "SASL password": saslPass,
		"embedded server token": srvToken, "signing seed": string(bytes.TrimSpace(signSeed)),
	} {
		for where, text := range map[string]string{"log": seen, "status": string(status), "metrics": metrics} {
			if strings.Contains(text, secret) {
				i := strings.Index(text, secret)
				t.Errorf("the %s is in the %s: …%s…", name, where, text[max(0, i-120):min(len(text), i+len(secret)+40)])
			}
		}
	}
	if !strings.Contains(seen, "authorization") && !strings.Contains(seen, "Authorization") {
		t.Errorf("no authentication failure was logged: the test did not exercise the error paths:\n%s", seen)
	}
}

// TestDaemonRefusesWorldWritablePacks: a daemon does not start on a pack
// every user can write, saying why; a running daemon refuses to reload
// once a pack became writable by everyone, and the packs in force stay.
func TestDaemonRefusesWorldWritablePacks(t *testing.T) {
	h := newHarness(t)
	pack := filepath.Join(h.rules, "sshd.yaml")
	os.Chmod(pack, 0o666)
	cfg := fileConfig(h)
	if _, err := New(*cfg, Deps{Log: quiet()}); err == nil || !strings.Contains(err.Error(), "sshd.yaml is writable by every user") {
		t.Fatalf("start on a world-writable pack: %v", err)
	}
	// A bad configuration: `stockade run` exits 2 for it (TestRunRefusesWorldWritablePacks).
	var bad *BadConfig
	if err := runConfigFile(t.Context(), writeConfig(t, h)); !errors.As(err, &bad) {
		t.Fatalf("stockade run on a world-writable pack: %v, want a BadConfig (exit code 2)", err)
	}

	os.Chmod(pack, 0o644)
	l := startLive(t, cfg, nil)
	os.Chmod(h.rules, 0o777)
	_, err := control.NewClient(h.socket).Do(control.Request{Op: "reload"})
	if err == nil || !strings.Contains(err.Error(), "writable by every user") || !strings.Contains(err.Error(), "previous rule packs stay") {
		t.Fatalf("reload of a world-writable pack directory: %v", err)
	}
	for i := range 5 {
		appendFile(t, h.log, sshdLine(time.Now(), "203.0.113.80", i))
	}
	waitFor(t, 15*time.Second, "a ban under the packs in force", func() bool { return h.bans("203.0.113.80") == 1 })
	if n := l.metric("stockade_reload_errors_total"); n != 1 {
		t.Errorf("reload errors %v, want 1", n)
	}
}

// writeConfig writes fileConfig(h) as YAML for `stockade run --config`.
func writeConfig(t testing.TB, h *daemonHarness) string {
	p := filepath.Join(h.dir, "stockade.yaml")
	os.WriteFile(p, []byte(fmt.Sprintf("state_dir: %s\nsocket: %s\norigin: test\nrules: [%s]\nsources:\n  - files: [%s]\n    start: beginning\nsinks:\n  - jsonl: %s\n",
		filepath.Join(h.dir, "state"), h.socket, h.rules, h.log, h.out)), 0o644)
	return p
}
