// Package exec runs a command per ban and unban, like fail2ban's actions,
// but never through a shell: the command is an argv list and decision
// fields are substituted into single arguments, so text an attacker put in
// a log line (a user name with `; rm -rf /`) can never become a command.
package exec

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stockade-ids/stockade/internal/yamlnode"
	"github.com/stockade-ids/stockade/pipeline"
)

// Config is the exec sink's configuration.
type Config struct {
	Ban     []string      `yaml:"ban"`     // argv; placeholders below
	Unban   []string      `yaml:"unban"`   // argv; empty: unbans run nothing
	Timeout time.Duration `yaml:"timeout"` // per command, default 10s
	Queue   int           `yaml:"queue"`   // decisions waiting for a worker, default 1024; beyond that Write blocks
	// Restore re-runs the ban command for every active ban at start (the
	// firewall behind the command may have lost it in a reboot); nil is
	// true. The daemon does it: the sink only runs what it is given.
	Restore *bool `yaml:"restore"`
}

// Validate reports every problem of c, each with its key
// (yamlnode.Problems).
func (c Config) Validate() error {
	var ps yamlnode.Problems
	if len(c.Ban) == 0 || c.Ban[0] == "" {
		ps.Add("ban", "a command is required (a list: program, then its arguments)")
	}
	for _, f := range []struct {
		key  string
		argv []string
	}{{"ban", c.Ban}, {"unban", c.Unban}} {
		for i, a := range f.argv {
			if err := checkPlaceholders(a); err != nil {
				ps.Add(fmt.Sprintf("%s[%d]", f.key, i), "%s", strings.TrimPrefix(err.Error(), "exec: "))
			}
		}
	}
	if len(c.Unban) > 0 && c.Unban[0] == "" {
		ps.Add("unban[0]", "the program is empty")
	}
	if c.Timeout < 0 {
		ps.Add("timeout", "negative")
	}
	if c.Queue < 0 {
		ps.Add("queue", "%d: want at least 1 (0 is the default, 1024)", c.Queue)
	}
	return ps.Err()
}

// Placeholders substituted inside each argument.
var placeholders = []string{"{target}", "{scope}", "{rule}", "{pack}", "{duration}", "{expires}", "{offense}", "{origin}", "{id}", "{reason}", "{action}"}

// Sink runs the commands from one worker, in decision order (a ban and the
// unban after it must not race).
type Sink struct {
	cfg   Config
	log   *slog.Logger
	queue chan pipeline.Decision
	wg    sync.WaitGroup
	once  sync.Once

	Runs, Failures atomic.Uint64
}

// New validates cfg and starts the worker.
func New(cfg Config, log *slog.Logger) (*Sink, error) {
	if len(cfg.Ban) == 0 || cfg.Ban[0] == "" {
		return nil, errors.New("exec: ban command is required")
	}
	for _, argv := range [][]string{cfg.Ban, cfg.Unban} {
		for _, a := range argv {
			if err := checkPlaceholders(a); err != nil {
				return nil, err
			}
		}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 1024
	}
	if log == nil {
		log = slog.Default()
	}
	s := &Sink{cfg: cfg, log: log, queue: make(chan pipeline.Decision, cfg.Queue)}
	s.wg.Add(1)
	go s.worker()
	return s, nil
}

func checkPlaceholders(arg string) error {
	rest := arg
	for {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			return nil
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return nil
		}
		ph := rest[i : i+j+1]
		known := false
		for _, p := range placeholders {
			known = known || p == ph
		}
		if !known {
			return fmt.Errorf("exec: unknown placeholder %s in %q (known: %s)", ph, arg, strings.Join(placeholders, " "))
		}
		rest = rest[i+j+1:]
	}
}

// Argv returns the command a decision runs, or nil for none.
func (s *Sink) Argv(d pipeline.Decision) []string {
	tmpl := s.cfg.Ban
	if d.Action == pipeline.ActionUnban {
		tmpl = s.cfg.Unban
	}
	if len(tmpl) == 0 {
		return nil
	}
	r := strings.NewReplacer(
		"{target}", argSafe(d.Target.String()), "{scope}", argSafe(string(d.Scope)), "{rule}", argSafe(d.Rule), "{pack}", argSafe(d.Pack),
		"{duration}", strconv.FormatInt(d.Duration, 10), "{expires}", d.Expires.UTC().Format(time.RFC3339),
		"{offense}", strconv.Itoa(d.Offense), "{origin}", argSafe(d.Origin), "{id}", argSafe(d.ID),
		"{reason}", argSafe(d.Reason), "{action}", argSafe(string(d.Action)))
	argv := make([]string, len(tmpl))
	for i, a := range tmpl {
		argv[i] = r.Replace(a)
	}
	return argv
}

// argSafe replaces NUL bytes, which no argument can hold (the kernel
// takes each as the argument's end, so Go refuses to start the command): a
// NUL in a Suricata signature must not keep the ban from running.
func argSafe(s string) string {
	if strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(s, "\x00", "\uFFFD")
}

// Write implements pipeline.Sink: it queues the decisions and returns.
func (s *Sink) Write(ctx context.Context, ds []pipeline.Decision) error {
	for _, d := range ds {
		select {
		case s.queue <- d:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (s *Sink) worker() {
	defer s.wg.Done()
	for d := range s.queue {
		argv := s.Argv(d)
		if argv == nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		out, err := cmd.CombinedOutput()
		cancel()
		s.Runs.Add(1)
		if err != nil {
			s.Failures.Add(1)
			s.log.Warn("exec action failed", "action", d.Action, "target", d.Target, "cmd", argv[0], "err", err, "output", truncate(string(out), 512))
		}
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// Close runs what is queued, then stops the worker (bounded by ctx).
func (s *Sink) Close(ctx context.Context) error {
	s.once.Do(func() { close(s.queue) })
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
