package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stockade-ids/stockade/config"
	"github.com/stockade-ids/stockade/sources/bus"
	"github.com/stockade-ids/stockade/sources/listen"
	"github.com/stockade-ids/stockade/sources/tail"
)

// A reload (SIGHUP, `stockade reload`) reads the whole configuration
// again and applies the difference, as nginx and Prometheus do: the rule
// packs, the allowlist and the fleet, the sources and the sinks. A source
// or sink whose configuration did not change keeps running (a tailer its
// offsets, a queue its backlog); one that went is stopped, a new one
// started. A configuration that does not load, or packs that do not
// compile, change nothing: the reply and the log say every error, and
// the old configuration stays. What only a restart can change (the state
// directory, the socket, the metrics address, the embedded NATS server,
// the origin, the signing key) is named in the reply.

// group is what one entry of sources: made (a files entry is one tailer;
// a bus entry, a consumer), run under a context of its own so that a
// reload can stop it alone.
type group struct {
	key  string
	srcs []liveSource
	stop context.CancelFunc
	done chan struct{}
}

// configKey identifies a source's or a sink's configuration: equal keys,
// same component.
func configKey(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%p", v) // never equal: restarted at a reload
	}
	return string(b)
}

// openGroup opens sources[i] as a group.
func (d *Daemon) openGroup(i int, sc config.Source, saved map[string]json.RawMessage) (*group, error) {
	n := len(d.sources)
	if err := d.openSource(i, sc, saved); err != nil {
		return nil, err
	}
	return &group{key: configKey(sc), srcs: slices.Clone(d.sources[n:])}, nil
}

// sourceRunner runs the groups' sources under one parent context, so
// that stopping the daemon stops them all and waits for them.
type sourceRunner struct {
	ctx  context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup
}

// runGroup starts g's sources under supervision.
func (d *Daemon) runGroup(g *group) {
	ctx, cancel := context.WithCancel(d.runner.ctx)
	g.stop, g.done = cancel, make(chan struct{})
	var wg sync.WaitGroup
	for _, s := range g.srcs {
		wg.Add(1)
		d.runner.wg.Add(1)
		go func() {
			defer d.runner.wg.Done()
			defer wg.Done()
			d.supervise(ctx, s)
		}()
	}
	go func() {
		wg.Wait()
		close(g.done)
	}()
}

// stopGroup stops g's sources, waits for them (bounded), and forgets
// them.
func (d *Daemon) stopGroup(g *group) {
	g.stop()
	select {
	case <-g.done:
	case <-time.After(10 * time.Second):
		d.log.Error("a removed source did not stop within 10s; it is forgotten anyway")
	}
	for _, s := range g.srcs {
		if b, ok := s.(*bus.Source); ok {
			b.Close()
		}
		d.sources = slices.DeleteFunc(d.sources, func(x liveSource) bool { return x == s })
		d.tailers = slices.DeleteFunc(d.tailers, func(x *tail.Tailer) bool { return liveSource(x) == s })
		d.syslogs = slices.DeleteFunc(d.syslogs, func(x *listen.Syslog) bool { return liveSource(x) == s })
		d.journals = slices.DeleteFunc(d.journals, func(x *listen.Journald) bool { return liveSource(x) == s })
		d.eves = slices.DeleteFunc(d.eves, func(x *listen.EveSocket) bool { return liveSource(x) == s })
		d.bus = slices.DeleteFunc(d.bus, func(x *bus.Source) bool { return liveSource(x) == s })
	}
}

// reload reads the configuration again and applies it; see above.
func (d *Daemon) reload(ctx context.Context) (string, error) {
	c := d.cfg
	if d.cfg.Path != "" {
		var err error
		if c, err = LoadConfig(d.cfg.Path); err != nil {
			d.metrics.reloadErrors.Add(1)
			return "", err
		}
		c.AllowFlags = d.cfg.AllowFlags
		c.Allow = append(c.Allow, d.cfg.AllowFlags...)
		if len(c.Rules) == 0 {
			c.Rules = d.cfg.Rules // given with --rules
		}
		c.Defaults()
		d.warn(c)
	}
	set, err := loadRules(c.Rules, c.Packs)
	if err != nil {
		d.metrics.reloadErrors.Add(1)
		return "", err
	}
	if err := setProtected(d.guard, c.Allow, c.Fleet); err != nil {
		d.metrics.reloadErrors.Add(1)
		return "", err
	}
	d.eng.SetMatcher(set)
	restart := restartOnly(d.cfg, c)
	sinks, sinkErr := d.reloadSinks(ctx, c)
	srcs, srcErr := d.reloadSources(c)
	old := d.cfg
	d.cfg = c
	// Kept from the running configuration: what a restart alone changes.
	d.cfg.StateDir, d.cfg.Socket, d.cfg.Metrics, d.cfg.NATSServer = old.StateDir, old.Socket, old.Metrics, old.NATSServer
	d.cfg.Origin, d.cfg.SignKey = old.Origin, old.SignKey
	d.metrics.reloads.Add(1)
	msg := fmt.Sprintf("reloaded: %d rules; sources %s; sinks %s", len(set.Rules()), srcs, sinks)
	if len(restart) > 0 {
		msg += "; a restart is needed for " + strings.Join(restart, ", ")
	}
	d.log.Info("configuration and rule packs reloaded", "rules", len(set.Rules()), "allow", len(c.Allow), "fleet", len(c.Fleet),
		"sources", srcs, "sinks", sinks, "restart_needed", strings.Join(restart, ","))
	d.protect(ctx)
	if err := joinErr(sinkErr, srcErr); err != nil {
		d.metrics.reloadErrors.Add(1)
		return msg, err
	}
	return msg, nil
}

func joinErr(errs ...error) error {
	var msgs []string
	for _, e := range errs {
		if e != nil {
			msgs = append(msgs, e.Error())
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return fmt.Errorf("%s", strings.Join(msgs, "\n"))
}

// restartOnly names the keys that changed and that only a restart
// applies.
func restartOnly(old, c *Config) []string {
	var out []string
	for _, k := range []struct {
		name string
		a, b any
	}{
		{"state_dir", old.StateDir, c.StateDir}, {"socket", old.Socket, c.Socket}, {"metrics", old.Metrics, c.Metrics},
		{"origin", old.Origin, c.Origin}, {"sign_key", old.SignKey, c.SignKey}, {"nats_server", old.NATSServer, c.NATSServer},
		{"tz", old.TZ, c.TZ}, {"home_net", old.HomeNet, c.HomeNet}, {"suricata_yaml", old.SuricataYAML, c.SuricataYAML},
		{"max_windows", old.MaxWindows, c.MaxWindows}, {"unbans", old.Unbans, c.Unbans},
		{"memory_limit", old.MemoryLimit, c.MemoryLimit},
	} {
		if configKey(k.a) != configKey(k.b) {
			out = append(out, k.name)
		}
	}
	return out
}

// change counts what a reload did to sources or sinks.
type change struct{ added, removed, kept int }

func (c change) String() string {
	return fmt.Sprintf("+%d -%d (%d kept)", c.added, c.removed, c.kept)
}

// reloadSources stops the groups whose configuration went and starts
// those that are new; an unchanged group keeps running.
func (d *Daemon) reloadSources(c *Config) (change, error) {
	var ch change
	want := map[string]bool{}
	for _, sc := range c.Sources {
		want[configKey(sc)] = true
	}
	have := map[string]bool{}
	kept := d.groups[:0]
	for _, g := range d.groups {
		if want[g.key] && !have[g.key] {
			have[g.key] = true
			kept = append(kept, g)
			ch.kept++
			continue
		}
		d.stopGroup(g)
		ch.removed++
	}
	d.groups = kept
	saved := d.savedCheckpoints()
	var errs []error
	for i, sc := range c.Sources {
		k := configKey(sc)
		if have[k] {
			continue
		}
		have[k] = true
		g, err := d.openGroup(i, sc, saved)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		d.groups = append(d.groups, g)
		d.runGroup(g)
		ch.added++
	}
	return ch, joinErr(errs...)
}

// savedCheckpoints are the tailers' checkpoints as the state holds them,
// so that a file source added back at a reload resumes where it was.
func (d *Daemon) savedCheckpoints() map[string]json.RawMessage {
	out := map[string]json.RawMessage{}
	for k, c := range d.cps {
		if b, err := json.Marshal(c.cp); err == nil {
			out[k] = b
		}
	}
	return out
}

// reloadSinks closes the sinks whose configuration went (draining them)
// and opens the new ones, which get the active bans as a start does.
func (d *Daemon) reloadSinks(ctx context.Context, c *Config) (change, error) {
	var ch change
	want := map[string]bool{}
	for _, sc := range c.Sinks {
		want[configKey(sc)] = true
	}
	have := map[string]bool{}
	kept := d.sinks[:0]
	for _, s := range d.sinks {
		if want[s.key] && !have[s.key] {
			have[s.key] = true
			kept = append(kept, s)
			ch.kept++
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if err := s.sink.Close(cctx); err != nil {
			d.log.Error("closing a removed sink", "sink", s.name, "err", err)
		}
		cancel()
		ch.removed++
	}
	d.sinks = kept
	now := d.now()
	active := d.eng.Ledger().ActiveBans(now)
	var errs []error
	for i, sc := range c.Sinks {
		k := configKey(sc)
		if have[k] {
			continue
		}
		have[k] = true
		n := len(d.sinks)
		var err error
		if active, err = d.openSink(ctx, i, sc, active, now); err != nil {
			errs = append(errs, err)
			continue
		}
		for _, s := range d.sinks[n:] {
			s.key = k
		}
		ch.added++
	}
	d.nameSinks()
	return ch, joinErr(errs...)
}

// reloadLogged is reload, its refusal logged alike whoever asked (SIGHUP
// or the control socket) and said in the error returned.
func (d *Daemon) reloadLogged(ctx context.Context, by string) (string, error) {
	msg, err := d.reload(ctx)
	switch {
	case err != nil && msg == "":
		d.log.Error("reload refused: the previous rule packs stay in force, and so does the configuration", "by", by, "err", err)
		return "", fmt.Errorf("reload refused, the previous rule packs stay in force, and so does the configuration:\n%w", err)
	case err != nil:
		d.log.Error("reloaded, but some sources or sinks did not start", "by", by, "err", err)
		return "", fmt.Errorf("%s; but some sources or sinks did not start:\n%w", msg, err)
	}
	return msg, nil
}
