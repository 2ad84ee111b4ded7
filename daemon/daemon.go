package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
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
	"github.com/stockade-ids/stockade/sources/bus"
	"github.com/stockade-ids/stockade/sources/listen"
	"github.com/stockade-ids/stockade/sources/suricata"
	"github.com/stockade-ids/stockade/sources/tail"
)

type Daemon struct {
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

type daemonMetrics struct {
	decisions, stale, sinkErrors, saves, saveErrors, reloads, reloadErrors atomic.Uint64
	future, clockSteps                                                     atomic.Uint64
	lastEvent                                                              atomic.Int64 // unix ns of the newest processed line's event time
}

func New(cfg *Config, log *slog.Logger) (*Daemon, error) {
	cfg.defaults()
	d := &Daemon{
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
	home, err := suricata.HomeNetOf("home_net", cfg.HomeNet, cfg.SuricataYAML)
	if err != nil {
		return nil, &BadConfig{err}
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
func (d *Daemon) Run(ctx context.Context) error {
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
func (d *Daemon) onStop(f func()) { d.closers = append(d.closers, f) }

// cleanup closes what start opened, in the reverse order.
func (d *Daemon) cleanup() {
	for i := len(d.closers) - 1; i >= 0; i-- {
		d.closers[i]()
	}
	d.closers = nil
}

// start opens, in order, the state, the embedded NATS server, the guard,
// the sinks, the sources, the control socket and the metrics. When one
// fails, everything opened before it is closed again: a failed start
// leaves no consumer, connection or listener behind.
func (d *Daemon) start(ctx context.Context) (err error) {
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
			return err
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
func (d *Daemon) openState() (store.State, error) {
	st, err := store.Open(d.cfg.StateDir)
	if err != nil {
		return store.State{}, err
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
func (d *Daemon) loadSigner() error {
	if d.cfg.SignKey == "" {
		return nil
	}
	s, err := sign.LoadSigner(d.cfg.SignKey)
	if err != nil {
		return &BadConfig{err}
	}
	d.signer = s
	d.log.Info("decisions are signed", "key", s.PublicKey())
	return nil
}

// listen opens the control socket and the metrics server.
func (d *Daemon) listen() error {
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
func (d *Daemon) startSources(ctx context.Context) (stop func()) {
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
func (d *Daemon) closeBus() {
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
func (d *Daemon) loop(ctx context.Context, hup <-chan os.Signal) {
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

func (d *Daemon) process(ctx context.Context, ev *pipeline.Event) {
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
func (d *Daemon) emit(ctx context.Context, ds []pipeline.Decision) {
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

// reload reads the configuration file again for the allowlist and the
// fleet list, and the rule packs; when either is bad, nothing changes.
// Bans of addresses the new allowlist protects are lifted.
func (d *Daemon) reload(ctx context.Context) error {
	allow, fleet := d.cfg.Allow, d.cfg.Fleet
	if d.cfg.path != "" {
		c, err := LoadConfig(d.cfg.path)
		if err != nil {
			d.metrics.reloadErrors.Add(1)
			return err
		}
		allow, fleet = append(c.Allow, d.cfg.AllowFlags...), c.Fleet
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
