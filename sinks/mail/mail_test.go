package mail

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/internal/testkit"
	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/sinks/notify"
	"github.com/stockade-ids/stockade/sinks/queue"
)

// submission starts a server with STARTTLS and AUTH PLAIN, and a config
// that uses them.
func submission(t *testing.T, addr string) (*smtpd, Config) {
	t.Helper()
	ca, cert, key := testkit.WriteCerts(t)
	srv := newSMTPD(t, addr, testkit.ServerTLS(t, ca, cert, key, false), "stockade", "s3cret")
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("s3cret\n"), 0o600)
	return srv, Config{SMTP: srv.addr(), CAFile: ca, Username: "stockade", PasswordFile: pw,
		From: "stockade <stockade@example.org>", To: []string{"admin@example.org", "oncall@example.org"}}
}

func openSink(t *testing.T, cfg Config, dir string) *queue.Sink {
	t.Helper()
	s, err := Open(cfg, dir, testkit.Log(t))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func closeSink(t *testing.T, s *queue.Sink) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// body decodes a received mail's headers and quoted-printable body.
func body(t *testing.T, r received) (*mail.Message, string) {
	t.Helper()
	m, err := mail.ReadMessage(strings.NewReader(r.data))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(quotedprintable.NewReader(m.Body))
	if err != nil {
		t.Fatal(err)
	}
	return m, string(b)
}

func subject(t *testing.T, m *mail.Message) string {
	t.Helper()
	s, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestMailDigest: the first ban is mailed at once; the bans after it wait
// for the next mail, all in one; over STARTTLS, authenticated, to every
// recipient; unbans are not mailed.
func TestMailDigest(t *testing.T) {
	srv, cfg := submission(t, "")
	cfg.Every = 500 * time.Millisecond
	s := openSink(t, cfg, t.TempDir())
	defer closeSink(t, s)
	s.Write(t.Context(), testkit.Decisions(0, 1))
	testkit.WaitFor(t, "the first mail", func() bool { return len(srv.received()) == 1 })
	first := time.Now()
	more := testkit.Decisions(1, 4)
	unban := more[0]
	unban.Action, unban.ID = pipeline.ActionUnban, "unban"
	for _, d := range append(more, unban) {
		s.Write(t.Context(), []pipeline.Decision{d})
	}
	testkit.WaitFor(t, "the digest", func() bool { return len(srv.received()) == 2 })
	if d := time.Since(first); d < 400*time.Millisecond {
		t.Fatalf("the digest came %v after the first mail, want every (500ms)", d)
	}
	got := srv.received()
	for _, r := range got {
		if !r.tls || !r.authed || r.from != "<stockade@example.org>" || strings.Join(r.to, " ") != "<admin@example.org> <oncall@example.org>" {
			t.Fatalf("mail over tls %v authed %v from %s to %v", r.tls, r.authed, r.from, r.to)
		}
	}
	m, text := body(t, got[1])
	if subj := subject(t, m); !strings.HasPrefix(subj, "[stockade] 3 ban(s) on ") {
		t.Fatalf("subject %q", subj)
	}
	for i := 1; i < 4; i++ {
		if !strings.Contains(text, "ban "+testkit.Decision(i).Target.String()+" for 1h0m0s by sshd-bruteforce") {
			t.Fatalf("digest lacks ban %d:\n%s", i, text)
		}
	}
	if strings.Contains(text, "unban") || m.Header.Get("Auto-Submitted") != "auto-generated" {
		t.Fatalf("digest:\n%s", text)
	}
}

// TestMailBounded: a digest holds at most max_bans; the rest follow.
func TestMailBounded(t *testing.T) {
	srv, cfg := submission(t, "")
	cfg.Every, cfg.MaxBans = time.Millisecond, 2
	s := openSink(t, cfg, t.TempDir())
	defer closeSink(t, s)
	s.Write(t.Context(), testkit.Decisions(0, 5))
	testkit.WaitFor(t, "three mails", func() bool { return len(srv.received()) == 3 })
	var n []string
	for _, r := range srv.received() {
		m, _ := body(t, r)
		n = append(n, subject(t, m)[:len("[stockade] 2")])
	}
	if strings.Join(n, ",") != "[stockade] 2,[stockade] 2,[stockade] 1" {
		t.Fatalf("digests of %v", n)
	}
}

// TestMailNeedsSTARTTLS: a server that does not offer STARTTLS gets
// nothing, not even the password; the bans wait.
func TestMailNeedsSTARTTLS(t *testing.T) {
	srv := newSMTPD(t, "", nil, "stockade", "s3cret")
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("s3cret"), 0o600)
	cfg := Config{SMTP: srv.addr(), Username: "stockade", PasswordFile: pw, From: "a@example.org", To: []string{"b@example.org"}}
	var logs bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := Open(cfg, t.TempDir(), log)
	if err != nil {
		t.Fatal(err)
	}
	s.Write(t.Context(), testkit.Decisions(0, 1))
	testkit.WaitFor(t, "a failed attempt", func() bool { return s.Failures() >= 1 })
	closeSink(t, s)
	srv.mu.Lock()
	auths := len(srv.auths)
	srv.mu.Unlock()
	mu.Lock()
	defer mu.Unlock()
	if len(srv.received()) != 0 || auths != 0 || s.Depth() != 1 {
		t.Fatalf("%d mails, %d AUTH seen without TLS, %d waiting", len(srv.received()), auths, s.Depth())
	}
	if !strings.Contains(logs.String(), "STARTTLS") || strings.Contains(logs.String(), "s3cret") {
		t.Fatalf("the log should say STARTTLS is missing and never hold the password:\n%s", logs.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestMailDownCatchesUp: the server is down while bans come and stockade
// restarts; once it is back, every ban is mailed once, in order.
func TestMailDownCatchesUp(t *testing.T) {
	srv, cfg := submission(t, "")
	addr, tlsCfg := srv.addr(), srv.tls
	srv.stop()
	cfg.Every = time.Millisecond
	dir := t.TempDir()
	s := openSink(t, cfg, dir)
	s.Write(t.Context(), testkit.Decisions(0, 3))
	testkit.WaitFor(t, "a failed attempt", func() bool { return s.Failures() >= 1 })
	closeSink(t, s)

	s = openSink(t, cfg, dir)
	defer closeSink(t, s)
	if s.Depth() != 3 {
		t.Fatalf("%d wait after the restart, want 3", s.Depth())
	}
	s.Write(t.Context(), testkit.Decisions(3, 5))
	back := newSMTPD(t, addr, tlsCfg, "stockade", "s3cret")
	testkit.WaitForWithin(t, 30*time.Second, "the backlog mailed", func() bool { return s.Depth() == 0 })
	var all string
	for _, r := range back.received() {
		_, text := body(t, r)
		all += text
	}
	last := -1
	for i := range 5 {
		at := strings.Index(all, "ban "+testkit.Decision(i).Target.String()+" for")
		if at < 0 || at < last || strings.Count(all, "ban "+testkit.Decision(i).Target.String()+" for") != 1 {
			t.Fatalf("ban %d missing, repeated or out of order in:\n%s", i, all)
		}
		last = at
	}
}

// TestMailHostileLogLine: what an attacker wrote in a log line cannot add
// a header, hide text with terminal escapes, or make the mail a link.
func TestMailHostileLogLine(t *testing.T) {
	srv, cfg := submission(t, "")
	cfg.Every = time.Millisecond
	cfg.Subject = `[stockade] {{(index .Decisions 0).Reason}}`
	s := openSink(t, cfg, t.TempDir())
	defer closeSink(t, s)
	s.Write(t.Context(), notify.Hostile()[:1])
	testkit.WaitFor(t, "the mail", func() bool { return len(srv.received()) == 1 })
	m, text := body(t, srv.received()[0])
	if len(m.Header["Bcc"]) > 0 || strings.Contains(m.Header.Get("Subject"), "\n") {
		t.Fatalf("headers %v", m.Header)
	}
	for _, bad := range []string{"\x1b", "\u202e", "http://", "<!channel>", "@everyone"} {
		if strings.Contains(text, bad) {
			t.Fatalf("the digest holds %q:\n%s", bad, text)
		}
	}
}

// TestMailConfigErrors: every problem at once, each naming its key.
func TestMailConfigErrors(t *testing.T) {
	c := Config{SMTP: "mail.example.org", TLS: "maybe", Username: "u", From: "not an address",
		Subject: "{{.Nope}}", Body: "{{range}}"}
	err := c.Validate()
	for _, want := range []string{"smtp:", "tls:", "username:", "from:", "to:", "subject:", "body:"} {
		if err == nil || !strings.Contains(err.Error(), "mail: "+want) {
			t.Errorf("err %v, want it to name %s", err, want)
		}
	}
	c = Config{SMTP: "mail.example.org:25", TLS: None, From: "a@example.org", To: []string{"b@example.org"}}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "in clear") {
		t.Errorf("tls: none to a remote server: %v", err)
	}
}
