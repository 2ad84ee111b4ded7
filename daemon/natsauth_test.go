package daemon

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/stockade-ids/stockade/config"
	"github.com/stockade-ids/stockade/enforce"
	"github.com/stockade-ids/stockade/internal/natsconn"
	"github.com/stockade-ids/stockade/internal/netlab"
	"github.com/stockade-ids/stockade/internal/testkit"
	"github.com/stockade-ids/stockade/internal/testservers"
	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/pipeline/sign"
	natssink "github.com/stockade-ids/stockade/sinks/nats"
	"github.com/stockade-ids/stockade/sinks/queue"
	"github.com/stockade-ids/stockade/sources/bus"
)

// natsKey is one role's key: its seed in a file, as `stockade keygen`
// writes it, and its public half.
type natsKey struct{ file, pub string }

func newNATSKey(t testing.TB, dir, name string, kp nkeys.KeyPair) natsKey {
	t.Helper()
	if kp == nil {
		seed, _, err := sign.Generate()
		if err != nil {
			t.Fatal(err)
		}
		if kp, err = nkeys.FromSeed(seed); err != nil {
			t.Fatal(err)
		}
	}
	seed, _ := kp.Seed()
	pub, _ := kp.PublicKey()
	k := natsKey{file: filepath.Join(dir, name+".nk"), pub: pub}
	if err := os.WriteFile(k.file, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	return k
}

// roleConn is a client of the bus under one role's key, recording what the
// server says it refused.
type roleConn struct {
	nc *nats.Conn
	js jetstream.JetStream

	mu      sync.Mutex
	refused []string
}

func connectAs(t testing.TB, url string, k natsKey) *roleConn {
	t.Helper()
	c := natsconn.Config{URL: url, NKey: k.file, Timeout: 2 * time.Second}
	c.SetDefaults()
	opts, err := c.Options("test", quiet())
	if err != nil {
		t.Fatal(err)
	}
	rc := &roleConn{}
	opts = append(opts, nats.RetryOnFailedConnect(false), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		if errors.Is(err, nats.ErrPermissionViolation) {
			rc.mu.Lock()
			rc.refused = append(rc.refused, err.Error())
			rc.mu.Unlock()
		}
	}))
	if rc.nc, err = nats.Connect(url, opts...); err != nil {
		t.Fatalf("connect as %s: %v", k.pub, err)
	}
	t.Cleanup(rc.nc.Close)
	if rc.js, err = jetstream.New(rc.nc); err != nil {
		t.Fatal(err)
	}
	return rc
}

// refusedBy asserts that act fails and that the server reported a
// permissions violation on subject for it: refused by the server, not lost
// on the way.
func (rc *roleConn) mustBeRefused(t testing.TB, what, subject string, act func(ctx context.Context) error) {
	t.Helper()
	rc.mu.Lock()
	rc.refused = nil
	rc.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	err := act(ctx)
	if err == nil {
		t.Errorf("%s: allowed", what)
		return
	}
	rc.nc.Flush()
	deadline := time.Now().Add(2 * time.Second)
	for {
		rc.mu.Lock()
		seen := strings.Join(rc.refused, "\n")
		rc.mu.Unlock()
		if strings.Contains(seen, `"`+subject+`"`) {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s: failed (%v) but the server reported no permissions violation on %s (saw %q)", what, err, subject, seen)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestNATSRoles is issue 14's finding 2: on the embedded server configured
// with roles (exactly as the daemon configures it: the daemon runs it),
// every act that let a token holder take over the bus is refused by the
// server, and the fleet still works: a sensor's signed bans, published
// under its own key, reach a firewall's kernel through its durable, also
// after the firewall lost its state and has no right to reset its durable.
func TestNATSRoles(t *testing.T) {
	h := newHarness(t)
	lab := netlab.NewLab(t, 1)
	keys := t.TempDir()
	oldKey, _ := nkeys.CreateServer() // what `stockade keygen` made before: signs, and is web2's NATS key
	web1, web2 := newNATSKey(t, keys, "web1", nil), newNATSKey(t, keys, "web2", oldKey)
	fw1, fw2 := newNATSKey(t, keys, "fw1", nil), newNATSKey(t, keys, "fw2", nil)
	corr, ops := newNATSKey(t, keys, "corr", nil), newNATSKey(t, keys, "ops", nil)

	// The hosting daemon is sensor web1: its signing key is its NATS key.
	cfg := fileConfig(h)
	cfg.Origin, cfg.SignKey = "web1", web1.file
	cfg.NATSServer = &NATSServerConfig{Listen: "127.0.0.1:-1",
		Sensors:     []NATSPeer{{Name: "web1", Key: web1.pub}, {Name: "web2", Key: web2.pub}},
		Firewalls:   []NATSPeer{{Name: "fw1", Key: fw1.pub}, {Name: "fw2", Key: fw2.pub}},
		Correlators: []config.NATSCorrelator{{NATSPeer: NATSPeer{Name: "corr", Key: corr.pub}}},
		Admins:      []NATSPeer{{Name: "ops", Key: ops.pub}}}
	cfg.Sinks = append(cfg.Sinks, SinkConfig{NATS: &natssink.Config{Config: NATSConn{NKey: web1.file, Timeout: Duration(2 * time.Second)}, Stream: "STOCKADE"}})
	sensor := startLive(t, cfg, nil)
	url := sensor.d.natsSrv.ClientURL()

	const stream = "STOCKADE"
	conns := map[string]*roleConn{}
	for name, k := range map[string]natsKey{"sensor": web1, "firewall": fw1, "other firewall": fw2, "correlator": corr, "admin": ops} {
		conns[name] = connectAs(t, url, k)
	}

	// Nobody but the admin changes, purges or deletes the stream or its
	// consumers, or makes a consumer.
	for _, role := range []string{"sensor", "firewall", "correlator"} {
		rc := conns[role]
		rc.mustBeRefused(t, role+" setting the stream's max age to 1s", "$JS.API.STREAM.UPDATE."+stream, func(ctx context.Context) error {
			_, err := rc.js.UpdateStream(ctx, natssink.StreamConfig(stream, "stockade.decisions.>", time.Minute, time.Second))
			return err
		})
		rc.mustBeRefused(t, role+" deleting the stream", "$JS.API.STREAM.DELETE."+stream, func(ctx context.Context) error {
			return rc.js.DeleteStream(ctx, stream)
		})
		rc.mustBeRefused(t, role+" purging the stream", "$JS.API.STREAM.PURGE."+stream, func(ctx context.Context) error {
			s, err := rc.js.Stream(ctx, stream)
			if err != nil {
				return err
			}
			return s.Purge(ctx)
		})
		rc.mustBeRefused(t, role+" deleting firewall fw1's durable", "$JS.API.CONSUMER.DELETE."+stream+".fw1", func(ctx context.Context) error {
			return rc.js.DeleteConsumer(ctx, stream, "fw1")
		})
		rc.mustBeRefused(t, role+" creating a consumer", "$JS.API.CONSUMER.CREATE."+stream+".evil.stockade.decisions.>", func(ctx context.Context) error {
			_, err := rc.js.CreateConsumer(ctx, stream, jetstream.ConsumerConfig{Durable: "evil", FilterSubject: "stockade.decisions.>", AckPolicy: jetstream.AckExplicitPolicy})
			return err
		})
	}
	// A firewall reads through its own durable only.
	other := conns["other firewall"]
	other.mustBeRefused(t, "firewall fw2 looking up fw1's durable", "$JS.API.CONSUMER.INFO."+stream+".fw1", func(ctx context.Context) error {
		_, err := other.js.Consumer(ctx, stream, "fw1")
		return err
	})
	other.mustBeRefused(t, "firewall fw2 pulling from fw1's durable", "$JS.API.CONSUMER.MSG.NEXT."+stream+".fw1", func(ctx context.Context) error {
		_, err := other.nc.RequestWithContext(ctx, "$JS.API.CONSUMER.MSG.NEXT."+stream+".fw1", []byte(`{"batch":10}`))
		return err
	})
	other.mustBeRefused(t, "firewall fw2 reading everyone's replies", "_INBOX.>", func(context.Context) error {
		_, err := other.nc.SubscribeSync("_INBOX.>")
		if err == nil {
			err = other.nc.Flush()
		}
		if err == nil {
			time.Sleep(200 * time.Millisecond) // the refusal is asynchronous
			err = errors.New("subscribed; refusal reported asynchronously")
		}
		return err
	})
	// A sensor publishes under its own origin only.
	web := conns["sensor"]
	web.mustBeRefused(t, "sensor web1 publishing as web2", "stockade.decisions.web2.sshd", func(context.Context) error {
		if err := web.nc.Publish("stockade.decisions.web2.sshd", []byte(`{}`)); err != nil {
			return err
		}
		web.nc.Flush()
		time.Sleep(200 * time.Millisecond)
		return errors.New("published; refusal reported asynchronously")
	})
	web.mustBeRefused(t, "sensor web1 reading the decisions", "stockade.decisions.>", func(context.Context) error {
		web.nc.SubscribeSync("stockade.decisions.>")
		web.nc.Flush()
		time.Sleep(200 * time.Millisecond)
		return errors.New("subscribed; refusal reported asynchronously")
	})

	// The admin may do what the others may not: the refusals above were
	// refusals, not malformed requests.
	admin := conns["admin"]
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := admin.js.CreateConsumer(ctx, stream, jetstream.ConsumerConfig{Durable: "evil", FilterSubject: "stockade.decisions.>", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatalf("the admin cannot create a consumer: %v", err)
	}
	if err := admin.js.DeleteConsumer(ctx, stream, "evil"); err != nil {
		t.Fatalf("the admin cannot delete a consumer: %v", err)
	}
	s, err := admin.js.Stream(ctx, stream)
	if err != nil {
		t.Fatalf("the daemon did not create the stream: %v", err)
	}
	if got := s.CachedInfo().Config.MaxAge; got != defaultStreamAge {
		t.Fatalf("stream max age %v after the refused updates, want %v", got, defaultStreamAge)
	}
	if _, err := s.GetLastMsgForSubject(ctx, "stockade.decisions.web2.sshd"); !errors.Is(err, jetstream.ErrMsgNotFound) {
		t.Fatalf("web1's message on web2's subject: %v, want none stored", err)
	}

	// The allowed acts. Firewall fw1, with its own key and no right but its
	// durable, enforces web1's ban and web2's (an old server key, still
	// signing and identifying web2).
	fwCfg := &EnforceConfig{StateDir: filepath.Join(h.dir, "fw1"), Name: "fw1",
		NATS: &bus.NATSConfig{Config: NATSConn{URL: url, NKey: fw1.file, Timeout: Duration(2 * time.Second)}, Stream: stream},
		Policy: PolicyConfig{Permit: []string{"10.200.0.0/16"}, Origins: []OriginConfig{
			{Name: "web1", Key: web1.pub}, {Name: "web2", Key: web2.pub}}}}
	fwCfg.NFTables.NetNS = int(lab.Hosts[0].Fd)
	fw := startRoleFirewall(t, fwCfg)
	lab.Expect(t, netlab.HostV4(0), true, 3*time.Second, "host 0 before any ban")
	h.fail(netlab.AttackerV4.String(), 5)
	lab.Expect(t, netlab.HostV4(0), false, 15*time.Second, "host 0 after web1's ban, published under web1's key, read through fw1's durable")

	oldSigner, err := sign.LoadSigner(web2.file)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := natssink.NewPublisher(natssink.Config{Config: natsconn.Config{URL: url, NKey: web2.file, Timeout: 2 * time.Second},
		Stream: stream, Signer: oldSigner}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	now := time.Now()
	web2Ban := pipeline.Decision{ID: "web2-ban-1", Action: pipeline.ActionBan, Target: pipeline.MustTarget("10.200.0.77"), Rule: "sshd",
		At: now, Duration: 3600, Expires: now.Add(time.Hour), Origin: "web2"}
	testkit.WaitFor(t, "web2 publishing under its old server key", func() bool { return queue.PublishNow(ctx, pub, []pipeline.Decision{web2Ban}) == nil })
	testkit.WaitFor(t, "fw1 enforcing web2's ban", func() bool { return fw.enforced("10.200.0.77") })

	// The correlator reads through its own durable and publishes its own.
	co := conns["correlator"]
	if _, err := co.js.Consumer(ctx, stream, "corr"); err != nil {
		t.Fatalf("the correlator cannot read through its durable: %v", err)
	}
	if _, err := co.js.Publish(ctx, "stockade.decisions.corr.fleet", []byte(`{}`)); err != nil {
		t.Fatalf("the correlator cannot publish its own decisions: %v", err)
	}

	// fw1 reinstalled (state and kernel table gone): it reads the stream
	// again without deleting its durable, which it may not.
	fw.stop()
	os.RemoveAll(fwCfg.StateDir)
	nsConnDelete(t, lab.Hosts[0])
	lab.Expect(t, netlab.HostV4(0), true, 3*time.Second, "host 0 with its table gone")
	fw = startRoleFirewall(t, fwCfg)
	lab.Expect(t, netlab.HostV4(0), false, 15*time.Second, "host 0 after fw1's reinstall")
	testkit.WaitFor(t, "fw1 enforcing web2's ban again after its reinstall", func() bool { return fw.enforced("10.200.0.77") })

	// The stream's settings are the configuration's: one changed on the
	// server (by an admin, or by anyone before roles) is set back at the
	// daemon's next start.
	if _, err := admin.js.UpdateStream(ctx, natssink.StreamConfig(stream, "stockade.decisions.>", time.Minute, time.Hour)); err != nil {
		t.Fatalf("the admin cannot update the stream: %v", err)
	}
	fw.stop()
	sensor.stop()
	sensor = startLive(t, cfg, nil)
	admin = connectAs(t, sensor.d.natsSrv.ClientURL(), ops)
	s, err = admin.js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	if c := s.CachedInfo().Config; c.MaxAge != defaultStreamAge || c.Duplicates != defaultStreamDupes {
		t.Fatalf("after a restart the stream keeps max age %v, duplicates %v; want the configuration's %v, %v", c.MaxAge, c.Duplicates, defaultStreamAge, defaultStreamDupes)
	}
	if _, err := admin.js.Consumer(ctx, stream, "fw2"); err != nil {
		t.Fatalf("fw2's durable after a restart: %v", err)
	}
}

// startRoleFirewall runs `stockade enforce` on cfg until the test ends.
func startRoleFirewall(t *testing.T, cfg *EnforceConfig) *firewall {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *enforce.Firewall, 1)
	done := make(chan error, 1)
	go func() { done <- runEnforcer(ctx, cfg, testkit.Log(t).With("fw", cfg.Name), ready) }()
	fw := &firewall{cfg: cfg}
	select {
	case fw.e = <-ready:
	case err := <-done:
		t.Fatalf("firewall %s: %v", cfg.Name, err)
	case <-time.After(15 * time.Second):
		t.Fatalf("firewall %s did not start", cfg.Name)
	}
	var once sync.Once
	fw.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("firewall %s: %v", cfg.Name, err)
			}
		})
	}
	t.Cleanup(fw.stop)
	return fw
}

// TestNATSServerRolesConfig: what the roles may not be.
func TestNATSServerRolesConfig(t *testing.T) {
	k := func() string { _, pub, _ := sign.Generate(); return pub }
	shared := k()
	acct, _ := nkeys.CreateAccount()
	apub, _ := acct.PublicKey()
	for name, c := range map[string]NATSServerConfig{
		"token with roles": {Token: "s3cret", Sensors: []NATSPeer{{Name: "web1", Key: k()}}},
		"name with a dot":  {Sensors: []NATSPeer{{Name: "web1.>", Key: k()}}},
		"name twice":       {Firewalls: []NATSPeer{{Name: "fw", Key: k()}, {Name: "fw", Key: k()}}},
		"firewall and correlator sharing a durable": {Firewalls: []NATSPeer{{Name: "x", Key: k()}}, Correlators: []config.NATSCorrelator{{NATSPeer: NATSPeer{Name: "x", Key: k()}}}},
		"sensor and correlator sharing an origin":   {Sensors: []NATSPeer{{Name: "x", Key: k()}}, Correlators: []config.NATSCorrelator{{NATSPeer: NATSPeer{Name: "x", Key: k()}}}},
		"one key two roles":                         {Sensors: []NATSPeer{{Name: "web1", Key: shared}}, Admins: []NATSPeer{{Name: "ops", Key: shared}}},
		"an account key":                            {Sensors: []NATSPeer{{Name: "web1", Key: apub}}},
		"not a key":                                 {Admins: []NATSPeer{{Name: "ops", Key: "hunter2"}}},
		"stream with a dot":                         {Stream: "A.B", Admins: []NATSPeer{{Name: "ops", Key: k()}}},
		"negative max age":                          {MaxAge: Duration(-time.Hour), Admins: []NATSPeer{{Name: "ops", Key: k()}}},
		"empty firewall name":                       {Firewalls: []NATSPeer{{Key: k()}}},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	ok := NATSServerConfig{Token: "s3cret"}
	if err := ok.Validate(); err != nil {
		t.Errorf("a token alone: %v", err)
	}
}

// TestFleetNATSConf: deploy/fleet/nats-server.conf, the roles for an
// external NATS cluster, gives each role what the embedded server gives
// it: loaded into a real nats-server with fresh keys (as keys.sh writes
// them in), the acts refused on the embedded server are refused here, and
// the fleet's own acts work.
func TestFleetNATSConf(t *testing.T) {
	dir := t.TempDir()
	sensor, correlator := newNATSKey(t, dir, "sensor", nil), newNATSKey(t, dir, "correlator", nil)
	fwKey, admin := newNATSKey(t, dir, "fw-nats", nil), newNATSKey(t, dir, "admin", nil)
	conf, err := os.ReadFile(filepath.Join("..", "deploy", "fleet", "nats-server.conf"))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.NewReplacer("SENSOR_PUBLIC_KEY", sensor.pub, "CORRELATOR_PUBLIC_KEY", correlator.pub,
		"FIREWALL_PUBLIC_KEY", fwKey.pub, "ADMIN_PUBLIC_KEY", admin.pub, "store_dir: /data", "store_dir: "+strconv.Quote(filepath.Join(dir, "js"))).Replace(string(conf))
	confFile := filepath.Join(dir, "nats-server.conf")
	os.WriteFile(confFile, []byte(text), 0o600)
	opts, err := server.ProcessConfigFile(confFile)
	if err != nil {
		t.Fatal(err)
	}
	opts.Host, opts.Port, opts.NoLog, opts.NoSigs = "127.0.0.1", -1, true, true
	srv := testservers.RunNATS(t, opts)

	// The administrator's setup, as compose.yaml's nats-setup does it.
	adminSeed, err := os.ReadFile(admin.file)
	if err != nil {
		t.Fatal(err)
	}
	adminKP, err := nkeys.FromSeed(adminSeed)
	if err != nil {
		t.Fatal(err)
	}
	e := &embeddedNATS{Server: srv, local: adminKP, roles: true}
	if err := e.provision(&NATSServerConfig{Firewalls: []NATSPeer{{Name: "fw-nats"}}, Correlators: []config.NATSCorrelator{{NATSPeer: NATSPeer{Name: "correlator"}}}}, quiet()); err != nil {
		t.Fatalf("the administrator's setup: %v", err)
	}
	url := srv.ClientURL()
	const stream = "STOCKADE"
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	sc, fc, cc := connectAs(t, url, sensor), connectAs(t, url, fwKey), connectAs(t, url, correlator)
	if _, err := sc.js.Publish(ctx, "stockade.decisions.ids1.sshd", []byte(`{"n":1}`)); err != nil {
		t.Fatalf("the sensor cannot publish its own subject: %v", err)
	}
	if _, err := cc.js.Publish(ctx, "stockade.decisions.correlator.fleet", []byte(`{"n":2}`)); err != nil {
		t.Fatalf("the correlator cannot publish its own subject: %v", err)
	}
	for name, rc := range map[string]*roleConn{"firewall": fc, "correlator": cc} {
		durable := map[string]string{"firewall": "fw-nats", "correlator": "correlator"}[name]
		cons, err := rc.js.Consumer(ctx, stream, durable)
		if err != nil {
			t.Fatalf("the %s cannot look up its durable: %v", name, err)
		}
		batch, err := cons.Fetch(2, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for m := range batch.Messages() {
			if err := m.DoubleAck(ctx); err != nil {
				t.Fatalf("the %s cannot acknowledge: %v", name, err)
			}
			got++
		}
		if got != 2 {
			t.Fatalf("the %s read %d messages through its durable, want 2 (%v)", name, got, batch.Error())
		}
		s, err := rc.js.Stream(ctx, stream)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetMsg(ctx, 1, jetstream.WithGetMsgSubject("stockade.decisions.>")); err != nil {
			t.Fatalf("the %s cannot read the stream by sequence (its reset): %v", name, err)
		}
	}

	sc.mustBeRefused(t, "sensor publishing as another origin", "stockade.decisions.web9.sshd", func(context.Context) error {
		sc.nc.Publish("stockade.decisions.web9.sshd", []byte(`{}`))
		sc.nc.Flush()
		time.Sleep(200 * time.Millisecond)
		return errors.New("published; refusal reported asynchronously")
	})
	fc.mustBeRefused(t, "firewall reading the correlator's durable", "$JS.API.CONSUMER.INFO."+stream+".correlator", func(ctx context.Context) error {
		_, err := fc.js.Consumer(ctx, stream, "correlator")
		return err
	})
	for name, rc := range map[string]*roleConn{"sensor": sc, "firewall": fc, "correlator": cc} {
		rc.mustBeRefused(t, name+" setting the stream's max age", "$JS.API.STREAM.UPDATE."+stream, func(ctx context.Context) error {
			_, err := rc.js.UpdateStream(ctx, natssink.StreamConfig(stream, "stockade.decisions.>", time.Minute, time.Second))
			return err
		})
		rc.mustBeRefused(t, name+" deleting the stream", "$JS.API.STREAM.DELETE."+stream, func(ctx context.Context) error {
			return rc.js.DeleteStream(ctx, stream)
		})
		rc.mustBeRefused(t, name+" deleting the firewall's durable", "$JS.API.CONSUMER.DELETE."+stream+".fw-nats", func(ctx context.Context) error {
			return rc.js.DeleteConsumer(ctx, stream, "fw-nats")
		})
	}
}
