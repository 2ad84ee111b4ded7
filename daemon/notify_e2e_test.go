package daemon

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestDaemonWebhook: a webhook sink from the configuration file posts the
// ban an alert decided; the alert's signature, written by the attacker,
// arrives as text that neither breaks the JSON nor pings anyone. A body
// that does not escape a log-derived field is refused at load, at its key.
func TestDaemonWebhook(t *testing.T) {
	var mu sync.Mutex
	var posts [][]byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		posts = append(posts, b)
		mu.Unlock()
	}))
	defer srv.Close()
	dir := t.TempDir()
	alert := map[string]any{
		"timestamp": time.Now().UTC().Format("2006-01-02T15:04:05.000000+0000"), "event_type": "alert",
		"src_ip": "203.0.113.41", "src_port": 51000, "dest_ip": "192.0.2.10", "dest_port": 80, "proto": "TCP",
		"alert": map[string]any{"action": "allowed", "gid": 1, "signature_id": 1, "rev": 1,
			"signature": `ET x "}, "text": "pwned <!channel> @everyone [click](http://evil.example/)`, "category": "x", "severity": 1},
	}
	line, _ := json.Marshal(alert)
	eve := filepath.Join(dir, "eve.json")
	os.WriteFile(eve, append(line, '\n'), 0o644)
	conf := filepath.Join(dir, "stockade.yaml")
	write := func(body string) {
		os.WriteFile(conf, []byte(`state_dir: `+filepath.Join(dir, "state")+`
socket: `+filepath.Join(dir, "ctl.sock")+`
origin: test
sources:
  - files: [`+eve+`]
    start: beginning
sinks:
  - webhook:
      url: `+srv.URL+`/hook
      every: 10ms
      body: '`+body+`'
`), 0o600)
	}
	write(`{"text": "{{range .Decisions}}{{.Reason}}{{end}}"}`)
	if _, err := LoadConfig(conf); err == nil || !strings.Contains(err.Error(), "sinks[0].webhook.body") || !strings.Contains(err.Error(), "not JSON") {
		t.Fatalf("a body that does not escape the reason: %v", err)
	}
	write(`{"text": {{json (join "\n" (lines .Decisions))}}}`)
	cfg, err := LoadConfig(conf)
	if err != nil {
		t.Fatal(err)
	}
	l := startLive(t, cfg, nil)
	defer l.stop()
	waitFor(t, 15*time.Second, "the webhook post", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(posts) > 0
	})
	mu.Lock()
	defer mu.Unlock()
	var v map[string]string
	if err := json.Unmarshal(posts[0], &v); err != nil || len(v) != 1 {
		t.Fatalf("post %s: %v", posts[0], err)
	}
	if !strings.HasPrefix(v["text"], "ban 203.0.113.41 for ") || strings.Contains(v["text"], "<!channel>") ||
		strings.Contains(v["text"], "@everyone") || strings.Contains(v["text"], "http://") {
		t.Fatalf("text %q", v["text"])
	}
}
