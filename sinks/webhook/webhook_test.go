package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/stockade-ids/stockade/internal/testkit"
	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/sinks/notify"
	"github.com/stockade-ids/stockade/sinks/queue"
)

// hook is an in-process endpoint that records what it was posted and
// answers with the status the test sets.
type hook struct {
	mu     sync.Mutex
	bodies [][]byte
	times  []time.Time
	header []http.Header
	status int
	after  string // Retry-After of a 429
	srv    *httptest.Server
}

func newHook(t *testing.T) *hook {
	h := &hook{status: http.StatusOK}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.status != http.StatusOK {
			if h.after != "" {
				w.Header().Set("Retry-After", h.after)
			}
			w.WriteHeader(h.status)
			return
		}
		h.bodies = append(h.bodies, b)
		h.times = append(h.times, time.Now())
		h.header = append(h.header, r.Header.Clone())
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hook) set(status int, after string) {
	h.mu.Lock()
	h.status, h.after = status, after
	h.mu.Unlock()
}

func (h *hook) posts() [][]byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([][]byte(nil), h.bodies...)
}

// texts decodes each post's "text" and returns every line of every post.
func (h *hook) lines(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, b := range h.posts() {
		var v struct{ Text string }
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("post is not JSON: %v: %s", err, b)
		}
		out = append(out, strings.Split(v.Text, "\n")...)
	}
	return out
}

const linesBody = `{"text": {{json (join "\n" (lines .Decisions))}}}`

func openSink(t *testing.T, cfg Config, dir string, log *slog.Logger) *queue.Sink {
	t.Helper()
	s, err := Open(cfg, dir, log)
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

// TestWebhookPosts: bans are posted as the template says, with the
// configured headers; unbans are not (actions defaults to ban).
func TestWebhookPosts(t *testing.T) {
	h := newHook(t)
	s := openSink(t, Config{URL: h.srv.URL + "/hook", Body: linesBody, Every: time.Millisecond,
		Headers: map[string]string{"Authorization": "Bearer tk_1"}}, t.TempDir(), testkit.Log(t))
	defer closeSink(t, s)
	ds := testkit.Decisions(0, 3)
	unban := ds[1]
	unban.Action, unban.ID = pipeline.ActionUnban, "unban"
	if err := s.Write(t.Context(), append(ds, unban)); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "3 lines posted", func() bool { return len(h.lines(t)) >= 3 })
	got := h.lines(t)
	want := []string{
		"ban 203.0.0.0 for 1h0m0s by sshd-bruteforce (offense 1): 5 failures in 10m",
		"ban 203.0.0.1 for 1h0m0s by sshd-bruteforce (offense 1): 5 failures in 10m",
		"ban 203.0.0.2 for 1h0m0s by sshd-bruteforce (offense 1): 5 failures in 10m",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("posted:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	h.mu.Lock()
	hd := h.header[0]
	h.mu.Unlock()
	if hd.Get("Authorization") != "Bearer tk_1" || hd.Get("Content-Type") != "application/json" {
		t.Fatalf("headers %v", hd)
	}
	testkit.WaitFor(t, "the queue drained", func() bool { return s.Depth() == 0 })
}

// TestWebhookRateLimitBatches: at most one POST per every; what arrives
// meanwhile goes out together in the next.
func TestWebhookRateLimitBatches(t *testing.T) {
	h := newHook(t)
	s := openSink(t, Config{URL: h.srv.URL, Body: linesBody, Every: 400 * time.Millisecond}, t.TempDir(), testkit.Log(t))
	defer closeSink(t, s)
	s.Write(t.Context(), testkit.Decisions(0, 1))
	testkit.WaitFor(t, "the first post", func() bool { return len(h.posts()) == 1 })
	for i := 1; i < 6; i++ {
		s.Write(t.Context(), testkit.Decisions(i, i+1))
	}
	testkit.WaitFor(t, "the second post", func() bool { return len(h.posts()) == 2 })
	if n := len(h.lines(t)); n != 6 {
		t.Fatalf("%d lines in 2 posts, want 6: the 5 later bans in one post", n)
	}
	h.mu.Lock()
	gap := h.times[1].Sub(h.times[0])
	h.mu.Unlock()
	if gap < 350*time.Millisecond {
		t.Fatalf("posts %v apart, want at least every (400ms)", gap)
	}
}

// TestWebhookDownCatchesUp: the hook fails (503, then connection refused
// with stockade restarted meanwhile); decisions wait in the queue file and
// are all posted, once, in order, when it is back.
func TestWebhookDownCatchesUp(t *testing.T) {
	h := newHook(t)
	h.set(http.StatusBadGateway, "")
	dir := t.TempDir()
	cfg := Config{URL: h.srv.URL, Body: linesBody, Every: time.Millisecond, Batch: 4}
	s := openSink(t, cfg, dir, testkit.Log(t))
	s.Write(t.Context(), testkit.Decisions(0, 5))
	testkit.WaitFor(t, "a failed attempt", func() bool { return s.Failures() >= 1 })
	closeSink(t, s) // stockade stops while the hook is down
	if _, err := os.Stat(dir + "/queue-webhook.db"); err != nil {
		t.Fatal(err)
	}

	s = openSink(t, cfg, dir, testkit.Log(t))
	defer closeSink(t, s)
	if s.Depth() != 5 {
		t.Fatalf("after restart %d wait, want 5", s.Depth())
	}
	s.Write(t.Context(), testkit.Decisions(5, 9))
	h.set(http.StatusOK, "")
	testkit.WaitForWithin(t, 20*time.Second, "the backlog posted", func() bool { return s.Depth() == 0 })
	got := h.lines(t)
	if len(got) != 9 {
		t.Fatalf("%d lines posted, want 9:\n%s", len(got), strings.Join(got, "\n"))
	}
	for i, l := range got {
		if want := testkit.Decision(i).Target.String() + " "; !strings.Contains(l, " "+want) {
			t.Fatalf("line %d is %q, want the ban of %s: out of order or repeated", i, l, want)
		}
	}
}

// TestWebhookRetryAfter: a 429 pauses the hook for its Retry-After.
func TestWebhookRetryAfter(t *testing.T) {
	h := newHook(t)
	h.set(http.StatusTooManyRequests, "2")
	s := openSink(t, Config{URL: h.srv.URL, Body: linesBody, Every: time.Millisecond}, t.TempDir(), testkit.Log(t))
	defer closeSink(t, s)
	start := time.Now()
	s.Write(t.Context(), testkit.Decisions(0, 1))
	testkit.WaitFor(t, "the 429", func() bool { return s.Failures() >= 1 })
	h.set(http.StatusOK, "")
	testkit.WaitForWithin(t, 20*time.Second, "the post", func() bool { return len(h.posts()) == 1 })
	if d := time.Since(start); d < 1900*time.Millisecond {
		t.Fatalf("posted %v after a 429 asking for 2s", d)
	}
}

// TestWebhookRefusedBatchDropped: a 400 (the hook will never take that
// body) drops the batch instead of blocking the queue for good.
func TestWebhookRefusedBatchDropped(t *testing.T) {
	h := newHook(t)
	h.set(http.StatusBadRequest, "")
	s := openSink(t, Config{URL: h.srv.URL, Body: linesBody, Every: time.Millisecond}, t.TempDir(), testkit.Log(t))
	defer closeSink(t, s)
	s.Write(t.Context(), testkit.Decisions(0, 2))
	testkit.WaitFor(t, "the batch dropped", func() bool { return s.Depth() == 0 })
	if s.Failures() != 0 {
		t.Fatalf("%d failures: a 400 is not retried", s.Failures())
	}
}

// TestWebhookSecretsNotLogged: the hook's URL path and header values are
// credentials; nothing logged while it fails may hold them.
func TestWebhookSecretsNotLogged(t *testing.T) {
	h := newHook(t)
	url := h.srv.URL + "/services/T0/B0/SECRETPATH"
	h.srv.Close() // connection refused: the error names the URL
	var logs bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := openSink(t, Config{URL: url, Body: linesBody, Every: time.Millisecond, Headers: map[string]string{"Authorization": "Bearer SECRETTOKEN"}},
		t.TempDir(), log)
	s.Write(t.Context(), testkit.Decisions(0, 1))
	testkit.WaitFor(t, "failed attempts", func() bool { return s.Failures() >= 2 })
	closeSink(t, s)
	mu.Lock()
	defer mu.Unlock()
	if strings.Contains(logs.String(), "SECRET") {
		t.Fatalf("a secret was logged:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "127.0.0.1") {
		t.Fatalf("the log does not name the host:\n%s", logs.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestTemplateErrorsAtLoad: a body that does not parse, names a field a
// batch lacks, or lets a log line break out of its JSON string is a config
// error at load, each naming the key.
func TestTemplateErrorsAtLoad(t *testing.T) {
	for _, tc := range []struct{ name, body, want string }{
		{"syntax", `{"text": {{json .Count}`, "webhook: body:"},
		{"unknown field", `{"text": {{json .Nope}}}`, "can't evaluate field Nope"},
		{"unknown function", `{"text": {{shout .Count}}}`, `function "shout" not defined`},
		{"unescaped log field", `{"text": "{{(index .Decisions 0).Reason}}"}`, "not JSON"},
		{"unescaped evidence", `{"text": "{{range .Decisions}}{{index .Evidence 0}}{{end}}"}`, "not JSON"},
		{"not JSON at all", `ban {{.Count}}`, "not JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Config{URL: "https://hooks.example/x", Body: tc.body}
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "body") {
				t.Fatalf("err %v, want one naming body and %q", err, tc.want)
			}
		})
	}
	c := Config{URL: "ftp://x", Headers: map[string]string{"Bad Name": "v"}, Batch: -1}
	err := c.Validate()
	for _, want := range []string{"url:", "headers:", "batch:"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err %v, want it to name %s", err, want)
		}
	}
}

// TestSampleTemplates: every example of sample.yaml loads, and rendered
// with hostile decisions says nothing the attacker chose to shout: no
// mention pings, no markup or link survives, the JSON holds.
func TestSampleTemplates(t *testing.T) {
	raw, err := os.ReadFile("sample.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var sample struct {
		Sinks []struct {
			Webhook Config `yaml:"webhook"`
		} `yaml:"sinks"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&sample); err != nil {
		t.Fatal(err)
	}
	if len(sample.Sinks) != 5 {
		t.Fatalf("%d samples, want Slack, Mattermost, Discord, ntfy and Matrix", len(sample.Sinks))
	}
	for _, s := range sample.Sinks {
		t.Run(s.Webhook.Name, func(t *testing.T) {
			c := s.Webhook
			c.setDefaults()
			b, err := c.compile()
			if err != nil {
				t.Fatal(err)
			}
			ds := notify.Hostile()
			ms := make([]queue.Message, len(ds))
			for i := range ds {
				ms[i], _ = queue.JSON(&ds[i])
			}
			batch, _ := notify.NewBatch(ms, "host", time.Now())
			out, err := b.render(&batch)
			if err != nil {
				t.Fatal(err)
			}
			var v map[string]any
			if err := json.Unmarshal(out, &v); err != nil {
				t.Fatal(err)
			}
			if _, ok := v["pwned"]; ok {
				t.Fatalf("a log line added a key: %s", out)
			}
			text := string(out)
			// ({{.}} in a log line stays text: output is never parsed again.)
			for _, bad := range []string{"@everyone", "<!channel>", "](http", "http://", "\\u001b", "\\u202e"} {
				if strings.Contains(text, bad) {
					t.Errorf("the message holds %q: %s", bad, out)
				}
			}
		})
	}
}
