package daemon

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/stockade-ids/stockade/config"
	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/rules"
	"github.com/stockade-ids/stockade/sources"
	"github.com/stockade-ids/stockade/sources/bus"
	"github.com/stockade-ids/stockade/sources/listen"
	"github.com/stockade-ids/stockade/sources/tail"
)

// liveSource is what the daemon runs: sources own their goroutines and
// never close out; the daemon restarts one that fails.
type liveSource interface {
	Run(ctx context.Context, out chan<- pipeline.Event) error
}

// batchSource is a source that hands events over in batches (the syslog
// listeners): one channel send and one wake-up of the loop per read.
type batchSource interface {
	RunBatches(ctx context.Context, out chan<- *pipeline.Batch) error
}

func (d *Daemon) supervise(ctx context.Context, s liveSource) {
	backoff := 100 * time.Millisecond
	for {
		var err error
		if b, ok := s.(batchSource); ok {
			err = b.RunBatches(ctx, d.batches)
		} else {
			err = s.Run(ctx, d.events)
		}
		if ctx.Err() != nil {
			return
		}
		d.log.Error("source stopped; restarting", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// runListeners opens the syslog listeners' groups, binds their sockets
// and runs them, ahead of the rest of the start (see Start). The
// sources' runner starts here; stopping it (at the end, or when the start
// fails) stops them.
func (d *Daemon) runListeners(ctx context.Context) error {
	d.runner.ctx, d.runner.stop = context.WithCancel(ctx)
	d.onStop(func() {
		d.runner.stop()
		d.runner.wg.Wait()
	})
	d.early = map[int]*group{}
	for i, sc := range d.cfg.Sources {
		if sc.Syslog == nil {
			continue
		}
		g, err := d.openGroup(i, sc, nil)
		if err != nil {
			return err
		}
		for _, s := range g.srcs {
			l := s.(*listen.Syslog)
			d.onStop(l.Close)
			if err := l.Bind(ctx); err != nil {
				return fmt.Errorf("sources[%d]: %w", i, err)
			}
		}
		d.runGroup(g)
		d.early[i] = g
	}
	return nil
}

// openSources opens every source of the configuration, each as a group
// a reload can stop or keep.
func (d *Daemon) openSources(saved map[string]json.RawMessage) error {
	d.kafka.restore(saved)
	for i, sc := range d.cfg.Sources {
		if g := d.early[i]; g != nil {
			d.groups = append(d.groups, g)
			continue
		}
		g, err := d.openGroup(i, sc, saved)
		if err != nil {
			return err
		}
		d.groups = append(d.groups, g)
	}
	return nil
}

// openSource opens sources[i], appending what it made to d.sources (and
// to d.tailers, d.syslogs, d.journals, d.eves or d.bus); a files source resumes
// from the checkpoints saved.
func (d *Daemon) openSource(i int, sc config.Source, saved map[string]json.RawMessage) error {
	if sc.Path == "" { // built in code (the one-line start)
		sc.Path = fmt.Sprintf("sources[%d]", i)
	}
	bad := func(err error) error { return &BadConfig{fmt.Errorf("%s: %w", sc.Path, err)} }
	switch {
	case sc.Files != nil:
		return d.openFiles(sc, saved)
	case sc.Syslog != nil:
		lc, err := sc.Syslog.Listen()
		if err != nil {
			return &BadConfig{fmt.Errorf("%s.syslog: %w", sc.Path, err)}
		}
		lc.Loc, lc.Log, lc.Now = d.loc, d.log, d.now
		s, err := listen.NewSyslog(lc)
		if err != nil {
			return bad(err)
		}
		d.syslogs = append(d.syslogs, s)
		d.sources = append(d.sources, s)
	case sc.Stdin != nil:
		format, err := tail.ParseType(sc.Stdin.Type)
		if err != nil {
			return bad(err)
		}
		// home_net chooses a Suricata alert's side as for a file.
		d.sources = append(d.sources, stdinSource{opt: sources.Options{Format: format, Loc: d.loc, HomeNet: d.home}})
	case sc.Journald != nil:
		ids, err := sc.Journald.Build()
		if err != nil {
			return &BadConfig{fmt.Errorf("%s.journald: %w", sc.Path, err)}
		}
		web, err := sc.Journald.Web()
		if err != nil {
			return &BadConfig{fmt.Errorf("%s.journald: %w", sc.Path, err)}
		}
		j := &listen.Journald{Args: sc.Journald.Args, Command: sc.Journald.Command, Log: d.log, Identities: ids, Web: web}
		d.journals = append(d.journals, j)
		d.sources = append(d.sources, j)
	case sc.NATS != nil, sc.Kafka != nil:
		return d.openBusSource(sc)
	case sc.EveSocket != nil:
		ec := *sc.EveSocket
		ec.Loc, ec.HomeNet, ec.Log, ec.Now = d.loc, d.home, d.log, d.now
		s, err := listen.NewEveSocket(ec)
		if err != nil {
			return &BadConfig{fmt.Errorf("%s.eve_socket: %w", sc.Path, err)}
		}
		d.eves = append(d.eves, s)
		d.sources = append(d.sources, s)
	case sc.Blocklist != nil:
		name, every, dur, err := sc.Blocklist.Settings()
		if err != nil {
			return &BadConfig{fmt.Errorf("%s.blocklist: %w", sc.Path, err)}
		}
		d.sources = append(d.sources, &blocklistSource{cfg: *sc.Blocklist, name: name, every: every, dur: dur, out: d.lists, d: d})
	}
	return nil
}

// openFiles opens the files source sc, resuming from the checkpoints
// saved.
func (d *Daemon) openFiles(sc config.Source, saved map[string]json.RawMessage) error {
	bad := func(err error) error { return &BadConfig{fmt.Errorf("%s: %w", sc.Path, err)} }
	format, err := tail.ParseType(sc.Files.Type)
	if err != nil {
		return bad(err)
	}
	web, err := tail.Web(sc.Files.LogFormat, sc.Files.RealIPFrom, nil)
	if err != nil {
		return bad(err)
	}
	var cps []tail.Checkpoint
	for k, cp := range fileCheckpoints(saved) {
		cps = append(cps, cp)
		d.cps[k] = savedCheckpoint{cp: cp}
	}
	t, err := tail.New(tail.Config{
		Globs: sc.Files.Files, Format: format, Loc: d.loc, HomeNet: d.home, Web: web, Checkpoints: cps,
		StartAtEnd: sc.Files.Start != "beginning", Poll: sc.Files.Poll, Log: d.log, Now: d.now,
	})
	if err != nil {
		return bad(err)
	}
	d.tailers = append(d.tailers, t)
	d.sources = append(d.sources, t)
	return nil
}

// fileCheckpoints are the files' entries among the checkpoints saved
// (those of Kafka partitions have no path).
func fileCheckpoints(saved map[string]json.RawMessage) map[string]tail.Checkpoint {
	out := map[string]tail.Checkpoint{}
	for k, raw := range saved {
		var cp tail.Checkpoint
		if json.Unmarshal(raw, &cp) == nil && cp.Path != "" {
			out[k] = cp
		}
	}
	return out
}

// openBusSource opens the NATS or Kafka source sc.
func (d *Daemon) openBusSource(sc config.Source) error {
	var s *bus.Source
	if sc.NATS != nil {
		cc := sc.NATS.Bus()
		cc.Config = d.natsEmb.conn(cc.Config)
		c, err := bus.NewNATS(cc, d.log)
		if err != nil {
			return &BadConfig{fmt.Errorf("%s: %w", sc.Path, err)}
		}
		if s, err = newBusSource("nats", c, c.Close, sc.NATS.BusPayload, d.guard, d.cfg.Origin, d.loc, d.home, d.log, 0); err != nil {
			c.Close()
			return &BadConfig{fmt.Errorf("%s.nats: %w", sc.Path, err)}
		}
	} else {
		kc := sc.Kafka.KafkaConfig
		kc.Rewind = d.rewind(sc.Kafka)
		topic := d.kafka.topicID(cmp.Or(kc.Topic, bus.DefaultKafkaTopic))
		kc.Counted = d.kafka.countedOf(topic)
		c, err := bus.NewKafka(kc, d.log)
		if err != nil {
			return &BadConfig{fmt.Errorf("%s: %w", sc.Path, err)}
		}
		if s, err = newBusSource("kafka", c, func() { c.Close() }, sc.Kafka.BusPayload, d.guard, d.cfg.Origin, d.loc, d.home, d.log, topic); err != nil {
			c.Close()
			return &BadConfig{fmt.Errorf("%s.kafka: %w", sc.Path, err)}
		}
	}
	d.bus = append(d.bus, s)
	d.sources = append(d.sources, s)
	return nil
}

// stdinSource reads standard input once; at its end it waits for the
// daemon to stop rather than being restarted.
type stdinSource struct{ opt sources.Options }

func (s stdinSource) Run(ctx context.Context, out chan<- pipeline.Event) error {
	_, err := listen.StdinWith(ctx, os.Stdin, s.opt, out)
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	<-ctx.Done()
	return nil
}

// rewind is how far back a Kafka source warms up a partition newly
// assigned: its rewind:, else the longest window of the rules judging its
// payload (every rule's, for lines of no set format).
func (d *Daemon) rewind(sc *config.KafkaSource) time.Duration {
	if sc.Rewind != nil {
		return *sc.Rewind
	}
	set, ok := d.eng.Matcher().(*rules.Set)
	if !ok {
		return 0
	}
	decisions, f, err := bus.ParsePayload(sc.Payload, sc.Format)
	switch {
	case err != nil:
		return 0
	case decisions:
		return set.Lookback(pipeline.FormatDecision)
	case f != pipeline.FormatUnknown:
		return set.Lookback(f)
	}
	var longest time.Duration
	for f := range pipeline.FormatPlain + 1 {
		longest = max(longest, set.Lookback(f))
	}
	return longest
}
