package webhook

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/sinks/queue"
)

// Config is one webhook: where to POST, the body's template, and how
// often. The URL and the header values are secrets (a Slack or Discord
// hook URL is its own credential): they are never logged, only the host.
type Config struct {
	// Name tells this webhook from others: its queue is queue-webhook.db,
	// or queue-webhook-<Name>.db, in the state directory.
	Name string `yaml:"name"`
	// URL receives a POST of the rendered body (application/json).
	URL string `yaml:"url"`
	// Headers are added to each request (an Authorization token).
	Headers map[string]string `yaml:"headers"`
	// Body is a Go text/template over a Batch; it must render JSON. Every
	// field that comes from a log line (Evidence, Reason, Source, Rule)
	// must go through json (and should through safe): a body is checked
	// at load against decisions that carry quotes, newlines and markup.
	Body string `yaml:"body"`
	// Actions are the decisions posted (default [ban]).
	Actions []pipeline.Action `yaml:"actions"`
	// Batch is the most decisions one POST carries (default 20).
	Batch int `yaml:"batch"`
	// Every is the least time between two POSTs (default 2s): a rate limit
	// that also batches what arrives meanwhile.
	Every time.Duration `yaml:"every"`
	// Timeout bounds one POST (default 10s).
	Timeout time.Duration `yaml:"timeout"`
	// MaxQueue bounds the decisions waiting for the hook (default 10000);
	// past it the oldest are dropped.
	MaxQueue int `yaml:"max_queue"`
}

func (c *Config) setDefaults() {
	if len(c.Actions) == 0 {
		c.Actions = []pipeline.Action{pipeline.ActionBan}
	}
	if c.Batch == 0 {
		c.Batch = 20
	}
	if c.Every == 0 {
		c.Every = 2 * time.Second
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	if c.MaxQueue == 0 {
		c.MaxQueue = 10000
	}
}

func (c *Config) queueName() string {
	if c.Name == "" {
		return "webhook"
	}
	return "webhook-" + c.Name
}

// Validate reports every problem at once, each naming its key. The body
// is parsed and rendered against hostile decisions: a template that does
// not compile, names a field a Batch lacks, or lets a log line break its
// JSON is refused here rather than at the first ban.
func (c *Config) Validate() error {
	c.setDefaults()
	_, err := c.compile()
	return err
}

func (c *Config) compile() (*body, error) {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("webhook: %s: %s", key, fmt.Sprintf(format, args...)))
	}
	c.checkRequest(bad)
	for _, a := range c.Actions {
		if a != pipeline.ActionBan && a != pipeline.ActionUnban {
			bad("actions", "%q: want ban or unban", a)
		}
	}
	if c.Batch < 1 || c.Batch > 1000 {
		bad("batch", "%d: want 1 to 1000", c.Batch)
	}
	if c.Every < 0 || c.Timeout < 0 {
		bad("every", "durations cannot be negative")
	}
	if c.MaxQueue < 1 {
		bad("max_queue", "%d: want at least 1", c.MaxQueue)
	}
	if c.Name != "" && strings.ContainsFunc(c.Name, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-')
	}) {
		bad("name", "%q: want letters, digits, '_' or '-'", c.Name)
	}
	b, err := compileBody(c.Body)
	if err != nil {
		bad("body", "%v", err)
	}
	return b, errors.Join(errs...)
}

// checkRequest checks the URL and the headers without quoting a value:
// they are secrets.
func (c *Config) checkRequest(bad func(key, format string, args ...any)) {
	if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("url", "want an http:// or https:// URL with a host")
	}
	for k := range c.Headers {
		if k == "" || strings.ContainsAny(k, " :\r\n") {
			bad("headers", "%q is not a header name", k)
		}
		if strings.ContainsAny(c.Headers[k], "\r\n") {
			bad("headers."+k, "a value cannot hold a line break")
		}
	}
}

func (c *Config) queueConfig() queue.Config {
	return queue.Config{Max: c.MaxQueue, WhenFull: queue.DropOldest}
}
