// Package webhook posts decisions to an HTTP endpoint as JSON made by a Go
// template, so that Slack, Mattermost, Discord, ntfy and Matrix hooks (or
// anything else that takes a JSON POST) hear about bans. Decisions wait in
// a bounded queue on disk (sinks/queue) while the endpoint is down or
// throttling, and go out in order, batched, at most one POST per Every.
package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"text/template"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/sinks/notify"
	"github.com/stockade-ids/stockade/sinks/queue"
)

// maxBody bounds a rendered body: a template cannot make a POST larger.
const maxBody = 1 << 20

// DefaultBody is a message Slack and Mattermost take as it is (and ntfy,
// Discord and Matrix with their own keys: see deploy/stockade.yaml).
const DefaultBody = `{"text": {{json (printf "stockade on %s: %d ban(s)" .Host .Bans)}}, "attachments": [{"text": {{json (join "\n" (lines .Decisions))}}}]}`

type body struct{ t *template.Template }

// compileBody parses the template and renders it against hostile
// decisions, one and two at a time: its output must be JSON.
func compileBody(src string) (*body, error) {
	if src == "" {
		src = DefaultBody
	}
	t, err := template.New("body").Funcs(notify.Funcs()).Option("missingkey=error").Parse(src)
	if err != nil {
		return nil, err
	}
	b := &body{t: t}
	hostile := notify.Hostile()
	for _, ds := range [][]pipeline.Decision{hostile[:1], hostile} {
		ms := make([]queue.Message, len(ds))
		for i := range ds {
			ms[i], _ = queue.JSON(&ds[i])
		}
		batch, _ := notify.NewBatch(ms, "host", ds[0].At)
		if _, err := b.render(&batch); err != nil {
			return nil, fmt.Errorf("with a log line that holds quotes, newlines and markup: %w", err)
		}
	}
	return b, nil
}

func (b *body) render(batch *notify.Batch) ([]byte, error) {
	var buf bytes.Buffer
	if err := b.t.Execute(&buf, batch); err != nil {
		return nil, err
	}
	if buf.Len() > maxBody {
		return nil, fmt.Errorf("the body is %d bytes, more than %d", buf.Len(), maxBody)
	}
	if !json.Valid(buf.Bytes()) {
		return nil, errors.New("the body is not JSON (put every field in json: {{json .Reason}})")
	}
	return buf.Bytes(), nil
}

// Publisher is a queue.Publisher that POSTs batches.
type Publisher struct {
	cfg    Config
	body   *body
	client *http.Client
	host   string // the URL's host: all of it that may be logged
	log    *slog.Logger
	name   string

	mu        sync.Mutex
	notBefore time.Time // a 429's Retry-After

	rejected atomic.Uint64
}

// Open starts a webhook sink whose backlog lives in dir (the state
// directory).
func Open(cfg Config, dir string, log *slog.Logger) (*queue.Sink, error) {
	if log == nil {
		log = slog.Default()
	}
	p, err := NewPublisher(cfg, log)
	if err != nil {
		return nil, err
	}
	return queue.OpenSink(dir, p.cfg.queueName(), p, p.cfg.queueConfig(),
		queue.SinkConfig{Batch: p.cfg.Batch, MinInterval: p.cfg.Every, PublishTimeout: p.cfg.Timeout + time.Second,
			MinBackoff: time.Second, MaxBackoff: 5 * time.Minute}, log.With("host", p.host))
}

// NewPublisher checks cfg (every error at once) and makes the client.
func NewPublisher(cfg Config, log *slog.Logger) (*Publisher, error) {
	cfg.setDefaults()
	b, err := cfg.compile()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	u, _ := url.Parse(cfg.URL)
	p := &Publisher{cfg: cfg, body: b, host: u.Host, name: notify.Hostname()}
	p.log = log.With("sink", "webhook", "host", p.host)
	p.client = &http.Client{
		Timeout: cfg.Timeout,
		// A hook does not redirect; following one would send the body
		// (and any header) wherever the answer says.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return p, nil
}

// Encode implements queue.Publisher: the decision's JSON, or ErrSkip for
// an action this hook does not want.
func (p *Publisher) Encode(d *pipeline.Decision) (queue.Message, error) {
	if !slices.Contains(p.cfg.Actions, d.Action) {
		return queue.Message{}, queue.ErrSkip
	}
	return queue.JSON(d)
}

// Publish implements queue.Publisher: one POST of the batch. A 2xx
// delivers it; a refusal no retry can change (400, 413, 422: the body is
// wrong) drops it, logged and counted; anything else is retried later.
func (p *Publisher) Publish(ctx context.Context, ms []queue.Message) error {
	p.mu.Lock()
	wait := time.Until(p.notBefore)
	p.mu.Unlock()
	if wait > 0 {
		return fmt.Errorf("webhook: the hook asked for a pause: %v left", wait.Round(time.Second))
	}
	batch, bad := notify.NewBatch(ms, p.name, time.Now())
	if bad > 0 {
		p.rejected.Add(uint64(bad))
	}
	if batch.Count == 0 {
		return nil
	}
	data, err := p.body.render(&batch)
	if err != nil {
		// Checked at load against hostile input, so a bug: the batch is
		// dropped rather than blocking every later one.
		p.rejected.Add(uint64(batch.Count))
		p.log.Error("webhook: batch dropped: its body did not render", "decisions", batch.Count, "err", err)
		return nil
	}
	return p.post(ctx, data, batch.Count)
}

func (p *Publisher) post(ctx context.Context, data []byte, n int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.cfg.URL, bytes.NewReader(data))
	if err != nil {
		return errors.New("webhook: bad request") // the error would quote the URL
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "stockade")
	for k, v := range p.cfg.Headers {
		req.Header.Set(k, v)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // without the URL, a secret
		}
		return fmt.Errorf("webhook %s: %w", p.host, err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	switch {
	case resp.StatusCode/100 == 2:
		return nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable:
		p.pause(resp.Header.Get("Retry-After"))
		return fmt.Errorf("webhook %s: %s", p.host, resp.Status)
	case resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusRequestEntityTooLarge ||
		resp.StatusCode == http.StatusUnprocessableEntity:
		p.rejected.Add(uint64(n))
		p.log.Error("webhook: the hook refused the batch; dropped (check the body template)",
			"status", resp.Status, "decisions", n, "answer", notify.Safe(string(snippet), 200))
		return nil
	}
	return fmt.Errorf("webhook %s: %s", p.host, resp.Status)
}

// pause honours a Retry-After in seconds, up to an hour.
func (p *Publisher) pause(h string) {
	s, err := strconv.Atoi(h)
	if err != nil || s <= 0 {
		return
	}
	p.mu.Lock()
	p.notBefore = time.Now().Add(min(time.Duration(s)*time.Second, time.Hour))
	p.mu.Unlock()
}

// Rejected counts decisions dropped because the hook refused their batch.
func (p *Publisher) Rejected() uint64 { return p.rejected.Load() }

// Close implements queue.Publisher.
func (p *Publisher) Close() error {
	p.client.CloseIdleConnections()
	return nil
}
