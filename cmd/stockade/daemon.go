package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stockade-ids/stockade/control"
	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/pipeline/guard"
	"github.com/stockade-ids/stockade/pipeline/sign"
	"github.com/stockade-ids/stockade/pipeline/store"
	"github.com/stockade-ids/stockade/protect"
	"github.com/stockade-ids/stockade/rules"
	"github.com/stockade-ids/stockade/sinks/exec"
	"github.com/stockade-ids/stockade/sinks/jsonl"
	"github.com/stockade-ids/stockade/sinks/nftables"
	"github.com/stockade-ids/stockade/sources/bus"
	"github.com/stockade-ids/stockade/sources/listen"
	"github.com/stockade-ids/stockade/sources/suricata"
	"github.com/stockade-ids/stockade/sources/tail"
)

// saveEvery is how often the daemon commits its state. A crash loses at
// most this much work, and the lines behind it are read again (the offsets
// roll back with the state), so nothing is lost or counted twice.
const saveEvery = time.Second

// decisionSave bounds how long a sent decision waits for the commit that
// records it. Decisions are sent before the commit (a crash in between
// re-sends one with the same id, which sinks absorb; committing first
// could lose it), so the sooner the commit, the fewer re-sent after a crash.
const decisionSave = 50 * time.Millisecond

// liveSource is what the daemon runs: sources own their goroutines and
// never close out; the daemon restarts one that fails.
type liveSource interface {
	Run(ctx context.Context, out chan<- pipeline.Event) error
}

type daemon struct {
	cfg   *Config
	log   *slog.Logger
	loc   *time.Location
	home  suricata.HomeNet
	now   func() time.Time
	eng   *pipeline.Engine
	store *store.Store
	// guard is what is never banned: the allowlist (re-read at reload),
	// the host's addresses (followed live) and the fleet's.
	guard *guard.Guard
	fleet *protect.Fleet

	sinks    []*namedSink
	bus      []*bus.Source
	natsSrv  *server.Server // the embedded server (natsEmb.Server), its peers
	natsEmb  *embeddedNATS
	signer   *sign.Signer
	tailers  []*tail.Tailer
	syslogs  []*listen.Syslog
	journals []*listen.Journald
	sources  []liveSource
	events   chan pipeline.Event
	ctl      chan control.Call
	offsets  map[string]int64 // source id → offset after the last processed line, since the last save
	cps      map[string]savedCheckpoint
	reloadCh chan chan error

	engCfg  pipeline.Config // to rebuild the engine after a clock step
	started time.Time
	metrics daemonMetrics
	// The wall and monotonic clocks at the last look (see watchClock), and
	// when a future-dated line was last logged.
	lastWall, lastMono, futureLogged time.Time
	// unsaved is when the first decision not yet covered by a commit was
	// sent (zero: none).
	unsaved time.Time
	pending pipeline.Changes // changes a failed save must not lose
	// The commit in flight (see saveAsync), where it reports, and whether
	// the checkpoints must be written again (a commit of them failed).
	inflight *saveJob
	saveDone chan *saveJob
	cpsDirty bool

	// guardChanged is the guard's change notice the loop waits on.
	guardChanged <-chan struct{}
	// closers undo start, last first (see onStop); busClosed: the bus
	// consumers are closed already.
	closers   []func()
	busClosed bool
}

type namedSink struct {
	name      string // kind (jsonl, exec, nftables): a bounded metric label
	sink      pipeline.Sink
	decisions atomic.Uint64
	errors    atomic.Uint64
}

type daemonMetrics struct {
	decisions, stale, sinkErrors, saves, saveErrors, reloads, reloadErrors atomic.Uint64
	future, clockSteps                                                     atomic.Uint64
	lastEvent                                                              atomic.Int64 // unix ns of the newest processed line's event time
}

func newDaemon(cfg *Config, log *slog.Logger) (*daemon, error) {
	cfg.defaults()
	d := &daemon{
		cfg: cfg, log: log, now: time.Now, loc: time.Local,
		events:   make(chan pipeline.Event, 4096),
		ctl:      make(chan control.Call),
		offsets:  map[string]int64{},
		cps:      map[string]savedCheckpoint{},
		reloadCh: make(chan chan error),
		saveDone: make(chan *saveJob, 1),
	}
	if cfg.TZ != "" {
		d.loc, _ = time.LoadLocation(cfg.TZ)
	}
	home, err := homeNet("home_net", cfg.HomeNet, cfg.SuricataYAML)
	if err != nil {
		return nil, &exitError{code: 2, err: err}
	}
	d.home = home
	set, err := loadRules(cfg.Rules)
	if err != nil {
		return nil, err
	}
	d.guard = guard.New()
	if err := setProtected(d.guard, cfg.Allow, cfg.Fleet); err != nil {
		return nil, err
	}
	// Until Watch lists them at start (it then follows them).
	if cfg.netns == 0 {
		d.guard.Set(guard.Own, protect.OwnAddresses())
	}
	unbans := false
	for _, s := range cfg.Sinks {
		if s.Exec != nil && len(s.Exec.Unban) > 0 {
			unbans = true // exec firewalls cannot expire bans themselves
		}
	}
	if cfg.Unbans != nil {
		unbans = *cfg.Unbans
	}
	d.engCfg = pipeline.Config{Origin: cfg.Origin, Guard: d.guard, EmitUnbans: unbans, MaxWindows: cfg.MaxWindows}
	d.eng = pipeline.NewEngine(set, d.engCfg)
	d.eng.TrackChanges()
	return d, nil
}

// run starts everything, serves until ctx is done, then shuts down in
// order: sources stop, the last state is saved, sinks drain and close.
func (d *daemon) run(ctx context.Context) error {
	if err := d.start(ctx); err != nil {
		return err
	}
	defer d.cleanup()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	stopSources := d.startSources(ctx)
	d.log.Info("stockade running", "rules", len(d.eng.Matcher().Policies()), "sources", len(d.sources), "sinks", len(d.sinks), "socket", d.cfg.Socket)
	d.loop(ctx, hup)
	stopSources()
	d.closeBus()
	// Lines the sources sent before they stopped are still processed, so
	// their offsets are saved with their effects.
	for {
		select {
		case ev := <-d.events:
			d.process(context.Background(), &ev)
			continue
		default:
		}
		break
	}
	d.save()
	d.log.Info("stockade stopped")
	return nil
}

// onStop registers f to run when the daemon stops, or when start fails
// after it; the last registered runs first.
func (d *daemon) onStop(f func()) { d.closers = append(d.closers, f) }

// cleanup closes what start opened, in the reverse order.
func (d *daemon) cleanup() {
	for i := len(d.closers) - 1; i >= 0; i-- {
		d.closers[i]()
	}
	d.closers = nil
}

// start opens, in order, the state, the embedded NATS server, the guard,
// the sinks, the sources, the control socket and the metrics. When one
// fails, everything opened before it is closed again: a failed start
// leaves no consumer, connection or listener behind.
func (d *daemon) start(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			d.cleanup()
		}
	}()
	d.started = d.now()
	saved, err := d.openState()
	if err != nil {
		return err
	}
	now := d.now()
	if d.cfg.NATSServer != nil {
		srv, err := startNATSServer(d.cfg.NATSServer, d.cfg.StateDir, d.log)
		if err != nil {
			return &exitError{code: 1, err: err}
		}
		d.natsSrv, d.natsEmb = srv.Server, srv
		// Shut down last: the sinks flush to it on their way out.
		d.onStop(srv.Shutdown)
	}
	guardCtx, stopGuard := context.WithCancel(ctx)
	d.onStop(stopGuard)
	resolved := d.startGuard(guardCtx)
	// The allowlist wins over bans restored from the state: those of
	// addresses protected since are lifted before the sinks reconcile;
	// what changes from here on is handled in the loop.
	d.guardChanged = d.guard.Changed()
	lifted := d.liftProtected(now)
	active := d.eng.Ledger().ActiveBans(now)
	d.log.Info("state restored", "active_bans", len(active), "windows", d.eng.Counter().Len(), "sources", len(saved.Offsets))
	if err := d.loadSigner(); err != nil {
		return err
	}
	d.onStop(d.closeSinks)
	if err := d.openSinks(ctx, active, now); err != nil {
		return err
	}
	d.onStop(d.closeBus)
	if err := d.openSources(saved.Offsets); err != nil {
		return err
	}
	// Remote sinks hear of the lifted bans too.
	d.emit(ctx, lifted)
	d.watchFleet(guardCtx, resolved)
	return d.listen()
}

// openState opens the store and restores the engine from it.
func (d *daemon) openState() (store.State, error) {
	st, err := store.Open(d.cfg.StateDir)
	if err != nil {
		return store.State{}, &exitError{code: 1, err: err}
	}
	d.store = st
	d.onStop(func() { st.Close() })
	saved, bad, err := st.Load()
	if err != nil {
		return store.State{}, fmt.Errorf("load state: %w", err)
	}
	if bad > 0 {
		d.log.Warn("state entries that did not decode were skipped", "count", bad)
	}
	now := d.now()
	d.eng.Restore(saved.Windows, saved.Targets, d.restoredClock(saved.Clock, now), now)
	return saved, nil
}

// loadSigner loads the key decisions are signed with, if any.
func (d *daemon) loadSigner() error {
	if d.cfg.SignKey == "" {
		return nil
	}
	s, err := sign.LoadSigner(d.cfg.SignKey)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	d.signer = s
	d.log.Info("decisions are signed", "key", s.PublicKey())
	return nil
}

// listen opens the control socket and the metrics server.
func (d *daemon) listen() error {
	ctl, err := control.Listen(d.cfg.Socket, d.ctl, d.log)
	if err != nil {
		return err
	}
	d.onStop(func() { ctl.Close() })
	if d.cfg.Metrics != "" {
		m, err := serveMetrics(d.cfg.Metrics, d.ctl)
		if err != nil {
			return err
		}
		d.onStop(func() { m.Close() })
	}
	return nil
}

// startSources runs each source under supervision; the function returned
// stops them and waits until they have.
func (d *daemon) startSources(ctx context.Context) (stop func()) {
	srcCtx, stopSources := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, s := range d.sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.supervise(srcCtx, s)
		}()
	}
	return func() {
		stopSources()
		wg.Wait()
	}
}

// closeBus closes the bus sources' consumers, once.
func (d *daemon) closeBus() {
	if d.busClosed {
		return
	}
	d.busClosed = true
	for _, b := range d.bus {
		b.Close()
	}
}

// loop judges events and answers the control socket until ctx is done;
// it commits in groups, ticks the engine and watches the wall clock.
func (d *daemon) loop(ctx context.Context, hup <-chan os.Signal) {
	tick := time.NewTicker(saveEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-d.events:
			d.process(ctx, &ev)
			if !d.unsaved.IsZero() && (len(d.events) == 0 || time.Since(d.unsaved) > decisionSave) {
				d.saveAsync()
			}
		case job := <-d.saveDone:
			d.saved(job)
			if !d.unsaved.IsZero() {
				d.saveAsync() // the decisions made during that commit
			}
		case <-tick.C:
			now := d.now()
			d.watchClock(ctx, now) // before the engine's clock follows the wall's
			d.emit(ctx, d.eng.Tick(now))
			d.saveAsync()
		case <-hup:
			if err := d.reload(ctx); err != nil {
				d.log.Error("reload refused: the previous rule packs stay in force, and so does the configuration", "err", err)
			}
		case <-d.guardChanged:
			d.guardChanged = d.guard.Changed()
			d.protect(ctx)
		case req := <-d.ctl:
			req.Reply <- d.handle(ctx, req.Request)
		}
	}
}

func (d *daemon) process(ctx context.Context, ev *pipeline.Event) {
	if tail.IsPosition(ev) {
		// A file started at its end: save where, before any of its lines
		// has effects a crash could lose (see tail.Run).
		if _, seen := d.offsets[ev.Source]; !seen {
			d.offsets[ev.Source] = ev.Offset
			d.save()
		}
		return
	}
	wall := d.now()
	if clock := d.eng.Now(); ev.Time.After(wall.Add(maxAhead)) || ev.Time.Before(clock.Add(-clockJumpMin)) || ev.Time.After(clock.Add(clockJumpMin)) {
		// A line far from the clocks: the wall clock may have stepped.
		d.watchClock(ctx, wall)
	}
	d.clampFuture(ev, wall)
	if t := ev.Time.UnixNano(); t > d.metrics.lastEvent.Load() {
		d.metrics.lastEvent.Store(t)
	}
	ds := d.eng.Process(ev)
	if ev.Offset > 0 {
		d.offsets[ev.Source] = ev.Offset
	}
	d.emit(ctx, ds)
}

// emit sends decisions to every sink. Bans that already ran out (old lines
// read from the start of a file) are not sent: they would only make a
// firewall add and drop an element.
func (d *daemon) emit(ctx context.Context, ds []pipeline.Decision) {
	if len(ds) == 0 {
		return
	}
	now := d.now()
	out := ds[:0:0]
	for _, x := range ds {
		if x.Action == pipeline.ActionBan && !x.Expires.After(now) {
			d.metrics.stale.Add(1)
			continue
		}
		out = append(out, x)
	}
	if len(out) == 0 {
		return
	}
	d.provenance(out)
	d.metrics.decisions.Add(uint64(len(out)))
	if d.unsaved.IsZero() {
		d.unsaved = time.Now()
	}
	for _, s := range d.sinks {
		if err := s.sink.Write(ctx, out); err != nil {
			s.errors.Add(1)
			d.metrics.sinkErrors.Add(1)
			d.log.Error("sink write failed", "sink", s.name, "err", err)
			continue
		}
		s.decisions.Add(uint64(len(out)))
	}
}

// save commits the engine's changes and the sources' offsets now, after
// the commit in flight, if any: for the moments that need the state on
// disk before going on (a file started at its end, a clock step, the
// end).
func (d *daemon) save() {
	d.waitSave()
	if job := d.takeSave(); job != nil {
		job.err = d.store.Save(job.ch, job.offsets, job.clock)
		d.saved(job)
	}
}

// saveAsync starts a commit of what changed on another goroutine, unless
// one is in flight: the one after it takes everything that changed
// meanwhile (a group commit). Judging goes on during the commit's writes
// and fsync, which at a thousand bans a second took half the loop's time
// and made the syslog listener drop datagrams.
func (d *daemon) saveAsync() {
	if d.inflight != nil {
		return
	}
	job := d.takeSave()
	if job == nil {
		return
	}
	d.inflight = job
	go func() {
		job.err = d.store.Save(job.ch, job.offsets, job.clock)
		d.saveDone <- job
	}()
}

// waitSave waits for the commit in flight, if any, and takes its result.
func (d *daemon) waitSave() {
	if d.inflight != nil {
		d.saved(<-d.saveDone)
	}
}

// saveJob is one commit: what it writes, and the oldest decision it
// covers (to be covered again if it fails).
type saveJob struct {
	ch      pipeline.Changes
	offsets map[string]json.RawMessage
	clock   time.Time
	unsaved time.Time
	err     error
}

// takeSave takes what changed since the last commit (nil: nothing).
func (d *daemon) takeSave() *saveJob {
	ch := pipeline.MergeChanges(d.pending, d.eng.TakeChanges())
	offsets := d.checkpoints()
	if ch.Empty() && len(offsets) == 0 {
		return nil
	}
	job := &saveJob{ch: ch, offsets: offsets, clock: d.eng.Now(), unsaved: d.unsaved}
	d.pending, d.unsaved, d.cpsDirty = pipeline.Changes{}, time.Time{}, false
	clear(d.offsets)
	return job
}

// saved takes a commit's result. A full disk must not stop enforcement
// nor lose state: a failed commit's changes go back in front of those made
// since, and its offsets are written again, at the next try.
func (d *daemon) saved(job *saveJob) {
	d.inflight = nil
	if job.err != nil {
		d.metrics.saveErrors.Add(1)
		d.log.Error("saving state failed; enforcement goes on and the save is retried", "err", job.err)
		d.pending = pipeline.MergeChanges(job.ch, d.pending)
		d.cpsDirty = d.cpsDirty || job.offsets != nil
		if !job.unsaved.IsZero() && (d.unsaved.IsZero() || job.unsaved.Before(d.unsaved)) {
			d.unsaved = job.unsaved
		}
		return
	}
	d.metrics.saves.Add(1)
}

type savedCheckpoint struct {
	cp   tail.Checkpoint
	seen uint64 // save round it was last updated in
}

// keepPerPath is how many files' checkpoints a path keeps: during a
// rotation the old and the new file are both live.
const keepPerPath = 2

// checkpoints turns the offsets of processed lines into the tailers' own
// checkpoints (path, file fingerprint, offset), keyed by path and
// fingerprint, and returns the whole set as JSON for the store (nil when
// nothing moved).
func (d *daemon) checkpoints() map[string]json.RawMessage {
	if len(d.offsets) == 0 && !d.cpsDirty {
		return nil
	}
	round := d.metrics.saves.Load() + d.metrics.saveErrors.Load() + 1
	for _, t := range d.tailers {
		for _, cp := range t.Checkpoints(d.offsets) {
			d.cps[fmt.Sprintf("%s\x00%016x", cp.Path, cp.Fingerprint)] = savedCheckpoint{cp: cp, seen: round}
		}
	}
	byPath := map[string][]string{}
	for k, c := range d.cps {
		byPath[c.cp.Path] = append(byPath[c.cp.Path], k)
	}
	for _, keys := range byPath {
		slices.SortFunc(keys, func(a, b string) int { return cmp.Compare(d.cps[b].seen, d.cps[a].seen) })
		for _, k := range keys[min(len(keys), keepPerPath):] {
			delete(d.cps, k)
		}
	}
	out := make(map[string]json.RawMessage, len(d.cps))
	for k, c := range d.cps {
		if b, err := json.Marshal(c.cp); err == nil {
			out[k] = b
		}
	}
	return out
}

func (d *daemon) supervise(ctx context.Context, s liveSource) {
	backoff := 100 * time.Millisecond
	for {
		err := s.Run(ctx, d.events)
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

// reload reads the configuration file again for the allowlist and the
// fleet list, and the rule packs; when either is bad, nothing changes.
// Bans of addresses the new allowlist protects are lifted.
func (d *daemon) reload(ctx context.Context) error {
	allow, fleet := d.cfg.Allow, d.cfg.Fleet
	if d.cfg.path != "" {
		c, err := LoadConfig(d.cfg.path)
		if err != nil {
			d.metrics.reloadErrors.Add(1)
			return err
		}
		allow, fleet = append(c.Allow, d.cfg.allowFlags...), c.Fleet
	}
	set, err := loadRules(d.cfg.Rules)
	if err != nil {
		d.metrics.reloadErrors.Add(1)
		return err
	}
	if err := setProtected(d.guard, allow, fleet); err != nil {
		d.metrics.reloadErrors.Add(1)
		return err
	}
	d.cfg.Allow, d.cfg.Fleet = allow, fleet
	d.eng.SetMatcher(set)
	d.metrics.reloads.Add(1)
	d.log.Info("configuration and rule packs reloaded", "rules", len(set.Rules()), "allow", len(allow), "fleet", len(fleet))
	d.protect(ctx)
	return nil
}

func (d *daemon) openSinks(ctx context.Context, active []pipeline.ActiveBan, now time.Time) error {
	defer d.nameSinks()
	for i, sc := range d.cfg.Sinks {
		switch {
		case sc.JSONL != "":
			var s pipeline.Sink
			if sc.JSONL == "-" {
				s = jsonl.New(os.Stdout)
			} else {
				f, err := jsonl.OpenFile(sc.JSONL)
				if err != nil {
					return &exitError{code: 2, err: fmt.Errorf("sinks[%d]: %w", i, err)}
				}
				s = f
			}
			d.sinks = append(d.sinks, &namedSink{name: "jsonl", sink: s})
		case sc.Exec != nil:
			timeout := time.Duration(0)
			if sc.Exec.Timeout != "" {
				timeout, _ = rules.ParseDuration(sc.Exec.Timeout)
			}
			s, err := exec.New(exec.Config{Ban: sc.Exec.Ban, Unban: sc.Exec.Unban, Timeout: timeout}, d.log)
			if err != nil {
				return &exitError{code: 2, err: fmt.Errorf("sinks[%d]: %w", i, err)}
			}
			d.sinks = append(d.sinks, &namedSink{name: "exec", sink: s})
			if sc.Exec.Restore == nil || *sc.Exec.Restore {
				// Re-apply, not re-broadcast: only this local sink sees them.
				s.Write(ctx, restoreDecisions(active, d.cfg.Origin, now))
			}
		case sc.NFTables != nil:
			sc.NFTables.guard = d.guard
			// The allowlist wins over what the kernel kept.
			keep := func(p netip.Prefix) bool { return !d.eng.AllowedPrefix(p) }
			s, adopted, err := nftables.Open(ctx, sc.NFTables.nftConfig(d.now), active, now, keep, d.log)
			if err != nil {
				return &exitError{code: 1, err: fmt.Errorf("sinks[%d]: %w", i, err)}
			}
			active = append(active, nftables.Adopt(d.eng.Ledger(), adopted, now, d.log)...)
			d.sinks = append(d.sinks, &namedSink{name: "nftables", sink: s})
		case sc.NATS != nil:
			nc := *sc.NATS
			nc.NATSConn = d.natsEmb.conn(nc.NATSConn)
			s, err := openNATSSink(&nc, d.cfg.StateDir, "", d.signer, d.log)
			if err != nil {
				return &exitError{code: 2, err: fmt.Errorf("sinks[%d]: %w", i, err)}
			}
			d.sinks = append(d.sinks, &namedSink{name: "nats", sink: s})
		case sc.Kafka != nil:
			s, err := openKafkaSink(sc.Kafka, d.cfg.StateDir, d.signer, d.log)
			if err != nil {
				return &exitError{code: 2, err: fmt.Errorf("sinks[%d]: %w", i, err)}
			}
			d.sinks = append(d.sinks, &namedSink{name: "kafka", sink: s})
		}
	}
	return nil
}

// nameSinks makes sink labels unique (nftables, nftables-2, ...) so two
// sinks of one kind do not produce duplicate metric series.
func (d *daemon) nameSinks() {
	seen := map[string]int{}
	for _, s := range d.sinks {
		seen[s.name]++
		if n := seen[s.name]; n > 1 {
			s.name = fmt.Sprintf("%s-%d", s.name, n)
		}
	}
}

func restoreDecisions(active []pipeline.ActiveBan, origin string, now time.Time) []pipeline.Decision {
	out := make([]pipeline.Decision, 0, len(active))
	for _, a := range active {
		t, scope := pipeline.TargetString(a.Target)
		out = append(out, pipeline.Decision{
			Action: pipeline.ActionBan, Target: t, Scope: scope, Rule: a.Rule, Reason: "restored at start",
			At: now, Duration: int64(a.Until.Sub(now) / time.Second), Expires: a.Until, Origin: origin, Source: "state",
		})
	}
	return out
}

func (d *daemon) closeSinks() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, s := range d.sinks {
		if err := s.sink.Close(ctx); err != nil {
			d.log.Error("closing sink", "sink", s.name, "err", err)
		}
	}
}

func (d *daemon) openSources(saved map[string]json.RawMessage) error {
	for i, sc := range d.cfg.Sources {
		format := pipeline.FormatUnknown
		if sc.Type != "" {
			f, ok := pipeline.ParseFormat(sc.Type)
			if !ok {
				return &exitError{code: 2, err: fmt.Errorf("sources[%d].type: unknown format %q", i, sc.Type)}
			}
			format = f
		}
		switch {
		case len(sc.Files) > 0:
			var cps []tail.Checkpoint
			for k, raw := range saved {
				var cp tail.Checkpoint
				if json.Unmarshal(raw, &cp) == nil && cp.Path != "" {
					cps = append(cps, cp)
					d.cps[k] = savedCheckpoint{cp: cp}
				}
			}
			t, err := tail.New(tail.Config{
				Globs: sc.Files, Format: format, Loc: d.loc, HomeNet: d.home, Checkpoints: cps,
				StartAtEnd: sc.Start != "beginning", Log: d.log, Now: d.now,
			})
			if err != nil {
				return &exitError{code: 2, err: fmt.Errorf("sources[%d]: %w", i, err)}
			}
			d.tailers = append(d.tailers, t)
			d.sources = append(d.sources, t)
		case sc.Syslog != nil:
			lc, err := sc.Syslog.listenConfig()
			if err != nil {
				return &exitError{code: 2, err: fmt.Errorf("sources[%d].syslog: %w", i, err)}
			}
			lc.Loc, lc.Log, lc.Now = d.loc, d.log, d.now
			s, err := listen.NewSyslog(lc)
			if err != nil {
				return &exitError{code: 2, err: fmt.Errorf("sources[%d]: %w", i, err)}
			}
			d.syslogs = append(d.syslogs, s)
			d.sources = append(d.sources, s)
		case sc.Stdin:
			d.sources = append(d.sources, stdinSource{format: format, loc: d.loc})
		case sc.Journald != nil:
			ids, err := sc.Journald.build()
			if err != nil {
				return &exitError{code: 2, err: fmt.Errorf("sources[%d].journald: %w", i, err)}
			}
			j := &listen.Journald{Args: sc.Journald.Args, Command: sc.Journald.Command, Log: d.log, Identities: ids}
			d.journals = append(d.journals, j)
			d.sources = append(d.sources, j)
		case sc.NATS != nil, sc.Kafka != nil:
			if err := d.openBusSource(i, sc); err != nil {
				return err
			}
		}
	}
	return nil
}

// openBusSource opens the NATS or Kafka source sources[i].
func (d *daemon) openBusSource(i int, sc SourceConfig) error {
	var s *bus.Source
	if sc.NATS != nil {
		nc := *sc.NATS
		nc.NATSConn = d.natsEmb.conn(nc.NATSConn)
		cc := nc.consumer()
		c, err := bus.NewNATS(cc, d.log)
		if err != nil {
			return &exitError{code: 2, err: fmt.Errorf("sources[%d]: %w", i, err)}
		}
		if s, err = newBusSource("nats", c, c.Close, sc.NATS.Payload, sc.NATS.Format, sc.NATS.Policy, d.guard, d.cfg.Origin, d.loc, d.home, d.log); err != nil {
			c.Close()
			return &exitError{code: 2, err: fmt.Errorf("sources[%d].nats: %w", i, err)}
		}
	} else {
		c, err := bus.NewKafka(sc.Kafka.consumer(), d.log)
		if err != nil {
			return &exitError{code: 2, err: fmt.Errorf("sources[%d]: %w", i, err)}
		}
		if s, err = newBusSource("kafka", c, func() { c.Close() }, sc.Kafka.Payload, sc.Kafka.Format, sc.Kafka.Policy, d.guard, d.cfg.Origin, d.loc, d.home, d.log); err != nil {
			c.Close()
			return &exitError{code: 2, err: fmt.Errorf("sources[%d].kafka: %w", i, err)}
		}
	}
	d.bus = append(d.bus, s)
	d.sources = append(d.sources, s)
	return nil
}

// stdinSource reads standard input once; at its end it waits for the
// daemon to stop rather than being restarted.
type stdinSource struct {
	format pipeline.Format
	loc    *time.Location
}

func (s stdinSource) Run(ctx context.Context, out chan<- pipeline.Event) error {
	_, err := listen.Stdin(ctx, os.Stdin, s.format, s.loc, out)
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	<-ctx.Done()
	return nil
}

// manual ban/unban through the control socket.
func (d *daemon) manualBan(ctx context.Context, target netip.Prefix, rule string, dur time.Duration) (pipeline.Decision, bool) {
	if rule == "" {
		rule = "manual"
	}
	x, ok := d.eng.Ban(target, rule, "banned by the operator", dur, d.now())
	if ok {
		d.emit(ctx, []pipeline.Decision{x})
	}
	return x, ok
}

func (d *daemon) manualUnban(ctx context.Context, target netip.Prefix) (pipeline.Decision, bool) {
	x, ok := d.eng.Unban(target, "unbanned by the operator", d.now())
	if ok {
		d.emit(ctx, []pipeline.Decision{x})
	}
	return x, ok
}
