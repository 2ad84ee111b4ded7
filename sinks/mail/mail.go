// Package mail sends a digest of bans by SMTP: the first ban at once, then
// at most one mail per Every with every ban decided meanwhile (up to
// MaxBans; the rest go in the next). Decisions wait in a bounded queue on
// disk (sinks/queue) while the server is unreachable, so an outage or a
// restart delays the digest and loses nothing up to the bound.
//
// The connection is TLS before anything else is said (STARTTLS, required
// unless the server is on this host); AUTH PLAIN only over it.
package mail

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/sinks/notify"
	"github.com/stockade-ids/stockade/sinks/queue"
)

// Publisher is a queue.Publisher that mails each batch as one digest.
type Publisher struct {
	cfg      Config
	tmpl     *templates
	host     string // SMTP's host: the TLS server name
	hostname string // ours, for HELO and the digest
	tls      *tls.Config
	password string
	from     *mail.Address
	to       []*mail.Address
	log      *slog.Logger

	sent, rejected atomic.Uint64
}

// Open starts a mail sink whose backlog lives in dir (the state
// directory).
func Open(cfg Config, dir string, log *slog.Logger) (*queue.Sink, error) {
	if log == nil {
		log = slog.Default()
	}
	p, err := NewPublisher(cfg, log)
	if err != nil {
		return nil, err
	}
	return queue.OpenSink(dir, p.cfg.queueName(), p,
		queue.Config{Max: p.cfg.MaxQueue, WhenFull: queue.DropOldest},
		queue.SinkConfig{Batch: p.cfg.MaxBans, MinInterval: p.cfg.Every, PublishTimeout: p.cfg.Timeout + time.Second,
			MinBackoff: 5 * time.Second, MaxBackoff: 10 * time.Minute}, log.With("smtp", p.cfg.SMTP))
}

// NewPublisher checks cfg (every error at once) and reads the password
// and the CA file.
func NewPublisher(cfg Config, log *slog.Logger) (*Publisher, error) {
	cfg.setDefaults()
	t, err := cfg.compile()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	host, _, _ := net.SplitHostPort(cfg.SMTP)
	p := &Publisher{cfg: cfg, tmpl: t, host: host, hostname: notify.Hostname(), log: log.With("sink", "mail", "smtp", cfg.SMTP)}
	p.from, _ = mail.ParseAddress(cfg.From) // checked by compile
	for _, to := range cfg.To {
		a, _ := mail.ParseAddress(to)
		p.to = append(p.to, a)
	}
	if p.password, err = cfg.password(); err != nil {
		return nil, err
	}
	roots := cfg.RootCAs
	if roots == nil && cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("mail: ca_file: %w", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("mail: ca_file: %s holds no PEM certificate", cfg.CAFile)
		}
	}
	p.tls = &tls.Config{ServerName: host, RootCAs: roots, MinVersion: tls.VersionTLS12}
	return p, nil
}

// Encode implements queue.Publisher: the decision's JSON, or ErrSkip for
// an action not mailed.
func (p *Publisher) Encode(d *pipeline.Decision) (queue.Message, error) {
	if !slices.Contains(p.cfg.Actions, d.Action) {
		return queue.Message{}, queue.ErrSkip
	}
	return queue.JSON(d)
}

// Publish implements queue.Publisher: one mail of the batch. A refusal of
// the mail itself (5xx after the server took our credentials) drops it,
// logged and counted; anything else is retried.
func (p *Publisher) Publish(ctx context.Context, ms []queue.Message) error {
	batch, bad := notify.NewBatch(ms, p.hostname, time.Now())
	p.rejected.Add(uint64(bad))
	if batch.Count == 0 {
		return nil
	}
	msg, err := p.compose(&batch)
	if err != nil {
		p.rejected.Add(uint64(batch.Count))
		p.log.Error("mail: digest dropped: it did not render", "decisions", batch.Count, "err", err)
		return nil
	}
	err = p.send(ctx, msg)
	var perm *permanent
	if errors.As(err, &perm) {
		p.rejected.Add(uint64(batch.Count))
		p.log.Error("mail: the server refused the digest; dropped", "decisions", batch.Count, "err", perm.err)
		return nil
	}
	if err == nil {
		p.sent.Add(1)
	}
	return err
}

// permanent is an SMTP refusal that sending again would not change.
type permanent struct{ err error }

func (e *permanent) Error() string { return e.err.Error() }

// compose makes the message: headers safe from injection (a subject is
// one line, Q-encoded when not ASCII), the body quoted-printable.
func (p *Publisher) compose(b *notify.Batch) ([]byte, error) {
	var subj, body strings.Builder
	if err := p.tmpl.subject.Execute(&subj, b); err != nil {
		return nil, err
	}
	if err := p.tmpl.body.Execute(&body, b); err != nil {
		return nil, err
	}
	var m bytes.Buffer
	id := make([]byte, 12)
	rand.Read(id)
	hdr := [][2]string{
		{"From", p.from.String()},
		{"To", joinAddrs(p.to)},
		{"Subject", mime.QEncoding.Encode("utf-8", oneLine(subj.String(), 200))},
		{"Date", b.Now.Format(time.RFC1123Z)},
		{"Message-ID", "<" + hex.EncodeToString(id) + "@" + p.hostname + ">"},
		{"Auto-Submitted", "auto-generated"},
		{"MIME-Version", "1.0"},
		{"Content-Type", "text/plain; charset=utf-8"},
		{"Content-Transfer-Encoding", "quoted-printable"},
	}
	for _, h := range hdr {
		fmt.Fprintf(&m, "%s: %s\r\n", h[0], h[1])
	}
	m.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&m)
	qp.Write([]byte(strings.ReplaceAll(body.String(), "\n", "\r\n")))
	qp.Close()
	return m.Bytes(), nil
}

// send delivers msg in one SMTP session, bounded by ctx.
func (p *Publisher) send(ctx context.Context, msg []byte) error {
	d := net.Dialer{Timeout: p.cfg.Timeout}
	conn, err := d.DialContext(ctx, "tcp", p.cfg.SMTP)
	if err != nil {
		return fmt.Errorf("mail: %w", err)
	}
	defer conn.Close()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(p.cfg.Timeout)
	}
	conn.SetDeadline(deadline)
	if p.cfg.TLS == Implicit {
		conn = tls.Client(conn, p.tls)
	}
	c, err := smtp.NewClient(conn, p.host)
	if err != nil {
		return fmt.Errorf("mail: greeting: %w", err)
	}
	defer c.Close()
	if err := c.Hello(p.hostname); err != nil {
		return fmt.Errorf("mail: EHLO: %w", err)
	}
	if p.cfg.TLS == StartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return errors.New("mail: the server does not offer STARTTLS (tls: starttls requires it)")
		}
		if err := c.StartTLS(p.tls); err != nil {
			return fmt.Errorf("mail: STARTTLS: %w", err)
		}
	}
	if p.cfg.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", p.cfg.Username, p.password, p.host)); err != nil {
			return fmt.Errorf("mail: AUTH as %s: %w", p.cfg.Username, err)
		}
	}
	if err := p.transaction(c, msg); err != nil {
		var te *textproto.Error
		if errors.As(err, &te) && te.Code >= 500 {
			return &permanent{err}
		}
		return err
	}
	c.Quit()
	return nil
}

func (p *Publisher) transaction(c *smtp.Client, msg []byte) error {
	if err := c.Mail(p.from.Address); err != nil {
		return fmt.Errorf("mail: MAIL FROM: %w", err)
	}
	for _, to := range p.to {
		if err := c.Rcpt(to.Address); err != nil {
			return fmt.Errorf("mail: RCPT TO %s: %w", to.Address, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("mail: DATA: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("mail: DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("mail: end of DATA: %w", err)
	}
	return nil
}

// oneLine is s as one header line: no line break (a log line's "\r\nBcc:"
// adds no header), no control or invisible character, at most max runes.
func oneLine(s string, max int) string {
	var b strings.Builder
	n := 0
	for _, r := range strings.ToValidUTF8(s, "?") {
		switch {
		case n == max:
			return b.String() + "…"
		case r == '\r' || r == '\n' || r == '\t':
			r = ' '
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
			continue
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

func joinAddrs(as []*mail.Address) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

// Sent counts the digests the server accepted.
func (p *Publisher) Sent() uint64 { return p.sent.Load() }

// Rejected counts decisions dropped because their digest was refused.
func (p *Publisher) Rejected() uint64 { return p.rejected.Load() }

// Close implements queue.Publisher.
func (p *Publisher) Close() error { return nil }
