package nats

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/stockade-ids/stockade/internal/natsconn"
	"github.com/stockade-ids/stockade/internal/testkit"
	"github.com/stockade-ids/stockade/internal/testservers"
	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/pipeline/sign"
	"github.com/stockade-ids/stockade/sinks/queue"
)

func TestSubject(t *testing.T) {
	d := testkit.Decision(0)
	for _, tc := range []struct {
		name, tmpl string
		edit       func(*pipeline.Decision)
		want       string
	}{
		{"default", "", nil, "stockade.decisions.fw1.sshd-bruteforce"},
		{"dots and spaces in a rule", "", func(d *pipeline.Decision) { d.Rule = "ssh.brute force" }, "stockade.decisions.fw1.ssh_brute_force"},
		{"wildcards in an origin", "", func(d *pipeline.Decision) { d.Origin = "fw*.>" }, "stockade.decisions.fw___.sshd-bruteforce"},
		{"empty rule (an unban)", "", func(d *pipeline.Decision) { d.Rule = "" }, "stockade.decisions.fw1._"},
		{"reserved prefix", "{origin}.bans", func(d *pipeline.Decision) { d.Origin = "$JS" }, "_JS.bans"},
		{"tab and newline", "", func(d *pipeline.Decision) { d.Origin = "a\tb\nc" }, "stockade.decisions.a_b_c.sshd-bruteforce"},
		{"utf-8 kept", "", func(d *pipeline.Decision) { d.Origin = "pare-feu-é" }, "stockade.decisions.pare-feu-é.sshd-bruteforce"},
		{"all fields", "bans.{action}.{scope}.{origin}-{rule}", nil, "bans.ban.ip.fw1-sshd-bruteforce"},
		{"no fields", "bans", nil, "bans"},
		{"ipv4 target one token", "stockade.decisions.{origin}.{rule}.{target}", nil, "stockade.decisions.fw1.sshd-bruteforce." + strings.ReplaceAll(d.Target.String(), ".", "_")},
		{"ipv6 range target", "d.{target}", func(d *pipeline.Decision) { d.Target = pipeline.MustTarget("2001:db8::/64") }, "d.2001:db8::/64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Subject: tc.tmpl}
			cfg.setDefaults()
			tmpl, err := cfg.validate()
			if err != nil {
				t.Fatal(err)
			}
			d := d
			if tc.edit != nil {
				tc.edit(&d)
			}
			got := tmpl.Subject(&d)
			if got != tc.want {
				t.Fatalf("subject %q, want %q", got, tc.want)
			}
			if err := checkSubject(got); err != nil {
				t.Fatalf("%q is not publishable: %v", got, err)
			}
			if n := strings.Count(got, "."); n != strings.Count(tmpl.src, ".") {
				t.Fatalf("%q has %d dots, its template %d", got, n, strings.Count(tmpl.src, "."))
			}
		})
	}
}

func TestStreamSubject(t *testing.T) {
	for tmpl, want := range map[string]string{
		DefaultSubject:                "stockade.decisions.>",
		"bans.{action}":               "bans.>",
		"bans.v1.ip-{rule}.x":         "bans.v1.>",
		"bans":                        "bans",
		"{origin}.bans":               ">",
		"sensors.{origin}.{rule}.ban": "sensors.>",
	} {
		tp, err := parseTemplate(tmpl)
		if err != nil {
			t.Fatal(err)
		}
		if got := tp.streamSubject(); got != want {
			t.Errorf("%q: stream subject %q, want %q", tmpl, got, want)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want []string
	}{
		{"unknown field", Config{Subject: "bans.{host}"}, []string{"subject", "{host}"}},
		{"unclosed", Config{Subject: "bans.{rule"}, []string{"subject", "unclosed"}},
		{"wildcard", Config{Subject: "bans.>"}, []string{"subject", "wildcard"}},
		{"empty token", Config{Subject: "bans..{rule}"}, []string{"subject", "empty token"}},
		{"stream over everything", Config{Subject: "{origin}.bans", Stream: "BANS"}, []string{"fixed token"}},
		{"bad stream name", Config{Stream: "bans.v1"}, []string{"stream"}},
		{"two credentials", Config{Config: natsconn.Config{Token: "x", User: "u"}}, []string{"credentials"}},
		{"cert without key", Config{Config: natsconn.Config{TLS: natsconn.TLSConfig{Cert: "c.pem"}}}, []string{"tls"}},
		{"every error at once", Config{Subject: "a..b", Config: natsconn.Config{Token: "x", NKey: "y"}}, []string{"subject", "credentials"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewPublisher(tc.cfg, testkit.Log(t))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	t.Run("missing creds file", func(t *testing.T) {
		_, err := NewPublisher(Config{Config: natsconn.Config{Creds: filepath.Join(t.TempDir(), "none.creds")}}, testkit.Log(t))
		if err == nil || !strings.Contains(err.Error(), "creds") {
			t.Fatalf("err %v", err)
		}
	})
}

// TestCorePublish: each decision arrives as its JSON on its templated
// subject, with its id as Nats-Msg-Id.
func TestCorePublish(t *testing.T) {
	url, _, msgs := coreServer(t)
	s := openSink(t, testConfig(t, url), t.TempDir())
	ds := testkit.Decisions(0, 3)
	ds[1].Rule = "nginx.scan probe"
	ds[2].Origin = "fw2"
	if err := s.Write(t.Context(), ds); err != nil {
		t.Fatal(err)
	}
	want := []string{"stockade.decisions.fw1.sshd-bruteforce", "stockade.decisions.fw1.nginx_scan_probe", "stockade.decisions.fw2.sshd-bruteforce"}
	for i := range ds {
		select {
		case m := <-msgs:
			var got pipeline.Decision
			if err := json.Unmarshal(m.Data, &got); err != nil {
				t.Fatal(err)
			}
			if m.Subject != want[i] || m.Header.Get(nats.MsgIdHdr) != ds[i].ID || got.ID != ds[i].ID || got.Rule != ds[i].Rule || !got.Expires.Equal(ds[i].Expires) {
				t.Fatalf("message %d: subject %q id %q body %s", i, m.Subject, m.Header.Get(nats.MsgIdHdr), m.Data)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("message %d did not arrive", i)
		}
	}
	testkit.WaitFor(t, "the acks", func() bool { return s.Depth() == 0 && s.Delivered() == 3 })
}

// TestJetStreamDedup: a decision sent again is stored once.
func TestJetStreamDedup(t *testing.T) {
	srv := testservers.RunNATS(t, testservers.NATSOptions(t))
	cfg := testConfig(t, srv.ClientURL())
	cfg.Stream = "STOCKADE"
	p, err := NewPublisher(cfg, testkit.Log(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	testkit.WaitFor(t, "the connection", p.Conn().IsConnected)
	ctx := t.Context()
	if err := queue.PublishNow(ctx, p, testkit.Decisions(0, 2)); err != nil {
		t.Fatal(err)
	}
	// A re-send after a lost ack (or a replay): 0 and 1 again, then 2.
	if err := queue.PublishNow(ctx, p, testkit.Decisions(0, 3)); err != nil {
		t.Fatal(err)
	}
	if got := streamIDs(t, srv.ClientURL(), "STOCKADE"); fmt.Sprint(got) != fmt.Sprint(testkit.Seq(0, 3)) {
		t.Fatalf("stream holds %v, want [0 1 2]", got)
	}
	if p.Duplicates() != 2 {
		t.Fatalf("duplicates %d, want 2", p.Duplicates())
	}
	st, err := p.js.Stream(ctx, "STOCKADE")
	if err != nil {
		t.Fatal(err)
	}
	sc := st.CachedInfo().Config
	if fmt.Sprint(sc.Subjects) != "[stockade.decisions.>]" || sc.Duplicates != 10*time.Minute || sc.Storage != jetstream.FileStorage {
		t.Fatalf("stream made with %v, duplicates %v, storage %v", sc.Subjects, sc.Duplicates, sc.Storage)
	}
}

// TestServerDownThenBack: decisions written while the server is down are
// delivered once the server is back on the same port and store, each once,
// in order.
func TestServerDownThenBack(t *testing.T) {
	opts := testservers.NATSOptions(t)
	srv := testservers.RunNATS(t, opts)
	url := srv.ClientURL()
	cfg := testConfig(t, url)
	cfg.Stream = "STOCKADE"
	s := openSink(t, cfg, t.TempDir())

	if err := s.Write(t.Context(), testkit.Decisions(0, 5)); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "the first decisions", func() bool { return s.Delivered() == 5 })

	opts.Port = testservers.NATSPort(srv)
	srv.Shutdown()
	srv.WaitForShutdown()
	for i := 5; i < 20; i += 5 {
		if err := s.Write(t.Context(), testkit.Decisions(i, i+5)); err != nil {
			t.Fatal(err)
		}
	}
	testkit.WaitFor(t, "failed attempts", func() bool { return s.Failures() >= 2 })
	if s.Depth() != 15 || s.Up() {
		t.Fatalf("while down: depth %d up %v", s.Depth(), s.Up())
	}
	time.Sleep(100 * time.Millisecond)

	testservers.RunNATS(t, opts)
	testkit.WaitFor(t, "the backlog", func() bool { return s.Depth() == 0 })
	if got := streamIDs(t, url, "STOCKADE"); fmt.Sprint(got) != fmt.Sprint(testkit.Seq(0, 20)) {
		t.Fatalf("stream holds %v, want 0..19 once each, in order", got)
	}
	if s.Delivered() != 20 || !s.Up() {
		t.Fatalf("delivered %d up %v", s.Delivered(), s.Up())
	}
}

// TestBacklogSurvivesSinkRestart: stockade stops while the server is down;
// the next stockade delivers what the first queued.
func TestBacklogSurvivesSinkRestart(t *testing.T) {
	url, opts := stoppedServer(t)
	dir := t.TempDir()
	cfg := testConfig(t, url)
	cfg.Stream = "STOCKADE"
	s := openSink(t, cfg, dir)
	if err := s.Write(t.Context(), testkit.Decisions(0, 10)); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "a failed attempt", func() bool { return s.Failures() > 0 })
	closeSink(t, s)
	if _, err := os.Stat(filepath.Join(dir, "queue-nats.db")); err != nil {
		t.Fatal(err)
	}

	testservers.RunNATS(t, opts)
	s = openSink(t, cfg, dir)
	testkit.WaitFor(t, "the backlog", func() bool { return s.Depth() == 0 })
	if got := streamIDs(t, url, "STOCKADE"); fmt.Sprint(got) != fmt.Sprint(testkit.Seq(0, 10)) {
		t.Fatalf("stream holds %v, want 0..9", got)
	}
}

func TestAuth(t *testing.T) {
	seed, pub := nkeyPair(t)
	ca, cert, key := testkit.WriteCerts(t)
	tlsServer := func(o *server.Options) { o.TLS, o.TLSConfig = true, testkit.ServerTLS(t, ca, cert, key, false) }
	mtlsServer := func(o *server.Options) {
		o.TLS, o.TLSVerify, o.TLSConfig = true, true, testkit.ServerTLS(t, ca, cert, key, true)
	}
	for _, tc := range []struct {
		name   string
		server func(*server.Options)
		client func(*Config)
		works  bool
		errHas string // what a failure must say
	}{
		{"token", func(o *server.Options) { o.Authorization = "s3cret" }, func(c *Config) { c.Token = "s3cret" }, true, ""},
		{"wrong token", func(o *server.Options) { o.Authorization = "s3cret" }, func(c *Config) { c.Token = "guess" }, false, "uthorization"},
		{"user and password", func(o *server.Options) { o.Username, o.Password = "stockade", "pw" }, func(c *Config) { c.User, c.Password = "stockade", "pw" }, true, ""},
		{"nkey", func(o *server.Options) { o.Nkeys = []*server.NkeyUser{{Nkey: pub}} }, func(c *Config) { c.NKey = seed }, true, ""},
		{"tls with our CA", tlsServer, func(c *Config) { c.TLS.CA = ca }, true, ""},
		{"mutual tls", mtlsServer, func(c *Config) { c.TLS = natsconn.TLSConfig{CA: ca, Cert: cert, Key: key} }, true, ""},
		{"mutual tls without a client cert", mtlsServer, func(c *Config) { c.TLS.CA = ca }, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := testservers.NATSOptions(t)
			opts.JetStream = false
			tc.server(opts)
			srv := testservers.RunNATS(t, opts)
			cfg := testConfig(t, fmt.Sprintf("nats://127.0.0.1:%d", testservers.NATSPort(srv)))
			tc.client(&cfg)
			p, err := NewPublisher(cfg, testkit.Log(t))
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			var perr error
			deadline := time.Now().Add(3 * time.Second)
			for {
				ctx, cancel := context.WithTimeout(t.Context(), time.Second)
				perr = queue.PublishNow(ctx, p, testkit.Decisions(0, 1))
				cancel()
				// A failure must say why once the first connection attempt
				// has failed; before that the reason is not known yet.
				if perr == nil || !tc.works && strings.Contains(perr.Error(), tc.errHas) || time.Now().After(deadline) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if tc.works && perr != nil {
				t.Fatalf("publish: %v", perr)
			}
			if !tc.works && perr == nil {
				t.Fatal("publish succeeded with bad credentials")
			}
			if !tc.works && !strings.Contains(perr.Error(), tc.errHas) {
				t.Fatalf("publish error %q does not say %q", perr, tc.errHas)
			}
		})
	}
}

func nkeyPair(t testing.TB) (seedFile, pub string) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := kp.Seed()
	pub, _ = kp.PublicKey()
	seedFile = filepath.Join(t.TempDir(), "user.nk")
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	return seedFile, pub
}

// TestSigned: with a signer, every message carries the signer's public key
// and a signature that verifies over the exact body.
func TestSigned(t *testing.T) {
	url, _, msgs := coreServer(t)
	seed, pub, _ := sign.Generate()
	signer, _ := sign.NewSigner(seed)
	cfg := testConfig(t, url)
	cfg.Signer = signer
	s := openSink(t, cfg, t.TempDir())
	if err := s.Write(t.Context(), testkit.Decisions(0, 2)); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		select {
		case m := <-msgs:
			if m.Header.Get(sign.HeaderKey) != pub {
				t.Fatalf("message %d: signer %q, want %q", i, m.Header.Get(sign.HeaderKey), pub)
			}
			if err := sign.Verify(pub, m.Data, m.Header.Get(sign.HeaderSig)); err != nil {
				t.Fatalf("message %d: %v", i, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("message %d did not arrive", i)
		}
	}
}

// TestStreamWithoutRights: on a bus with roles a sensor may publish its
// subject and nothing else: not create the stream, not even look it up.
// While the stream is missing the sink says so (the administrator must
// make it) and keeps the decisions; once the administrator made it, they
// go out, each message expecting the stream.
func TestStreamWithoutRights(t *testing.T) {
	seed, pub := nkeyPair(t)
	admin, _ := nkeys.CreateUser()
	adminPub, _ := admin.PublicKey()
	opts := testservers.NATSOptions(t)
	opts.Nkeys = []*server.NkeyUser{
		{Nkey: adminPub},
		{Nkey: pub, Permissions: &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: []string{"stockade.decisions.web1.>"}},
			Subscribe: &server.SubjectPermission{Allow: []string{nats.InboxPrefix + pub + ".>"}},
		}},
	}
	srv := testservers.RunNATS(t, opts)
	url := srv.ClientURL()

	logs := &lockedBuffer{}
	cfg := testConfig(t, url)
	cfg.NKey, cfg.Stream, cfg.Timeout = seed, "STOCKADE", 500*time.Millisecond
	p, err := NewPublisher(cfg, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	testkit.WaitFor(t, "the sink connected", p.Conn().IsConnected)
	ds := testkit.Decisions(0, 3)
	for i := range ds {
		ds[i].Origin = "web1"
	}
	if err := queue.PublishNow(t.Context(), p, ds); err == nil {
		t.Fatal("published to a stream that does not exist")
	}
	if !strings.Contains(logs.String(), "the administrator must create it") {
		t.Fatalf("the log does not say what is missing:\n%s", logs)
	}

	nc, err := nats.Connect(url, nats.Nkey(adminPub, func(nonce []byte) ([]byte, error) { return admin.Sign(nonce) }))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := js.CreateStream(t.Context(), StreamConfig("STOCKADE", "stockade.decisions.>", time.Minute, time.Hour)); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "the decisions published once the administrator made the stream", func() bool {
		return queue.PublishNow(t.Context(), p, ds) == nil
	})
	st, err := js.Stream(t.Context(), "STOCKADE")
	if err != nil {
		t.Fatal(err)
	}
	if got := st.CachedInfo().State.Msgs; got != uint64(len(ds)) {
		t.Fatalf("the stream holds %d decisions, want %d", got, len(ds))
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
