package daemon

import (
	"context"
	"errors"
	"fmt"
	fleetstatus "github.com/stockade-ids/stockade/fleet"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stockade-ids/stockade/control"
	"github.com/stockade-ids/stockade/internal/logging"
	"github.com/stockade-ids/stockade/internal/memlimit"
	"github.com/stockade-ids/stockade/internal/metrics"
	"github.com/stockade-ids/stockade/internal/sdnotify"
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
	netns int // a network namespace whose addresses are ours (tests)
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
	// runtime is the allowlist `stockade allow` changes (persisted in
	// the state's kept records); allowDirty: it changed since the last
	// save.
	runtime    *guard.Runtime
	allowDirty bool
	// audit writes a line per ban, unban, refusal and allowlist change.
	audit *logging.Audit

	sinks    []*namedSink
	bus      []*bus.Source
	natsSrv  *server.Server // the embedded server (natsEmb.Server), its peers
	natsEmb  *embeddedNATS
	follow   *fleetstatus.Follower // follow_acks: the fleet's metrics
	signer   *sign.Signer
	tailers  []*tail.Tailer
	syslogs  []*listen.Syslog
	journals []*listen.Journald
	eves     []*listen.EveSocket
	sources  []liveSource
	groups   []*group // the sources by entry of sources:, for a reload
	runner   sourceRunner
	events   chan pipeline.Event
	batches  chan *pipeline.Batch // from the syslog listeners
	early    map[int]*group       // the listeners' groups, run before the state loads
	lists    chan listUpdate      // blocklist sources' reads, for the loop
	ctl      chan control.Call
	offsets  map[string]int64 // source id → offset after the last processed line, since the last save
	cps      map[string]savedCheckpoint
	kafka    kafkaCounts

	engCfg  pipeline.Config // to rebuild the engine after a clock step
	started time.Time
	memory  memlimit.Limit // the runtime's soft memory limit, set at Start
	metrics daemonMetrics
	prom    *daemonRegistry
	gathers chan chan gathered // scrapes, answered in the loop
	notify  sdnotify.Notifier
	// The wall and monotonic clocks at the last look (see watchClock), and
	// when a future-dated line was last logged.
	lastWall, lastMono, futureLogged time.Time
	// unsaved is when the first decision not yet covered by a commit was
	// sent (zero: none).
	unsaved time.Time
	pending pipeline.Changes // changes a failed save must not lose
	// snapAgain: a snapshot failed, the next commit takes another.
	snapAgain bool
	// The commit in flight (see saveAsync), where it reports, and whether
	// the checkpoints must be written again (a commit of them failed).
	inflight *saveJob
	saveDone chan *saveJob
	cpsDirty bool
	// saveFailing: the last commit failed (a full disk); only the tick
	// retries, once a saveEvery, not every event or decision.
	saveFailing bool

	// hangup asks for a reload (SIGHUP), reopen for the output files to be
	// opened again (SIGUSR1; SIGHUP does it too).
	hangup, reopen <-chan os.Signal
	// guardChanged is the guard's change notice the loop waits on.
	guardChanged <-chan struct{}
	// closers undo start, last first (see onStop); busClosed: the bus
	// consumers are closed already.
	closers   []func()
	busClosed bool
}

type daemonMetrics struct {
	decisions, stale, warmUp, sinkErrors, saves, saveErrors, reloads, reloadErrors atomic.Uint64
	future, clockSteps                                                             atomic.Uint64
	lastEvent                                                                      atomic.Int64 // unix ns of the newest processed line's event time
}

// Deps are what the daemon is given rather than takes from the process.
type Deps struct {
	// Log is where it logs (nil: nowhere).
	Log *slog.Logger
	// Now is the wall clock (nil: time.Now).
	Now func() time.Time
	// Hangup reloads the configuration and the rule packs at each value
	// (the command passes SIGHUP; nil: only the control socket reloads).
	// It also reopens the output files, as Reopen does.
	Hangup <-chan os.Signal
	// Reopen closes and opens again the files the jsonl sinks write, at
	// each value (the command passes SIGUSR1): logrotate's postrotate.
	Reopen <-chan os.Signal
	// Version labels stockade_build_info ("": the build info's).
	Version string
	// Notify tells systemd (Type=notify) when the daemon is ready (its
	// state loaded, its sources open), that its loop runs (WATCHDOG=1
	// every second when WatchdogSec= is set) and when it stops. The zero
	// value tells nobody; the command passes sdnotify.FromEnv().
	Notify sdnotify.Notifier
	// NetNS is a network namespace whose addresses are ours (tests); 0 is
	// the process's.
	NetNS int
}

// New prepares a daemon of cfg: it checks the configuration and loads the
// rule packs, and opens, listens on and starts nothing (Start does).
func New(cfg Config, deps Deps) (*Daemon, error) {
	cfg.Defaults()
	d := &Daemon{
		cfg: &cfg, netns: deps.NetNS, log: deps.Log, now: deps.Now, hangup: deps.Hangup, reopen: deps.Reopen, loc: time.Local,
		notify:   deps.Notify,
		gathers:  make(chan chan gathered),
		events:   make(chan pipeline.Event, 4096),
		lists:    make(chan listUpdate),
		batches:  make(chan *pipeline.Batch, batchQueue),
		ctl:      make(chan control.Call),
		offsets:  map[string]int64{},
		cps:      map[string]savedCheckpoint{},
		kafka:    kafkaCounts{counted: map[kafkaPart]int64{}},
		saveDone: make(chan *saveJob, 1),
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.now == nil {
		d.now = time.Now
	}
	d.prom = newDaemonRegistry(deps.Version, metrics.Func(d.collect))
	if cfg.TZ != "" {
		d.loc, _ = time.LoadLocation(cfg.TZ)
	}
	home, err := suricata.HomeNetOf("home_net", cfg.HomeNet, cfg.SuricataYAML)
	if err != nil {
		return nil, &BadConfig{err}
	}
	d.home = home
	set, err := loadRules(cfg.Rules, cfg.Packs)
	if err != nil {
		return nil, err
	}
	d.guard = guard.New()
	if err := setProtected(d.guard, cfg.Allow, cfg.Fleet); err != nil {
		return nil, err
	}
	d.runtime = guard.NewRuntime(d.guard)
	d.audit = logging.NewAudit(d.log, cfg.AuditPerSecond)
	// Until Watch lists them at start (it then follows them).
	if deps.NetNS == 0 {
		d.guard.Set(guard.Own, protect.OwnAddresses())
	}
	d.engCfg = pipeline.Config{Origin: cfg.Origin, Guard: d.guard, EmitUnbans: cfg.EmitUnbans(), MaxWindows: cfg.MaxWindows}
	d.eng = pipeline.NewEngine(set, d.engCfg)
	d.eng.TrackChanges()
	d.warn(&cfg)
	return d, nil
}

// warn logs what the configuration starts with but probably should not
// (config.Daemon.Warnings), at start and at each reload.
func (d *Daemon) warn(cfg *Config) {
	for _, w := range cfg.Warnings() {
		d.log.Warn("configuration: "+w.Msg, "at", w.Pos.String())
	}
}

// Run serves until ctx is done (Start first), then shuts down in order:
// the sources stop, the lines they read are judged, the last state is
// saved. Stop then closes the sinks and the rest.
func (d *Daemon) Run(ctx context.Context) error {
	if d.store == nil {
		return errors.New("daemon: Run before Start")
	}
	stopSources := d.startSources(ctx)
	d.log.Info("stockade running", "rules", len(d.eng.Matcher().Policies()), "sources", len(d.sources), "sinks", len(d.sinks), "socket", d.cfg.Socket)
	d.sdNotify(sdnotify.Ready, sdnotify.Status(fmt.Sprintf("judging %d sources with %d rules", len(d.sources), len(d.eng.Matcher().Policies()))))
	d.loop(ctx)
	d.sdNotify(sdnotify.Stopping)
	stopSources()
	d.closeBus()
	d.drain()
	d.save()
	d.log.Info("stockade stopped")
	return nil
}

// sdNotify tells the service manager, if any; it failing changes nothing.
func (d *Daemon) sdNotify(state ...string) {
	if err := d.notify.Notify(state...); err != nil {
		d.log.Debug("sd_notify", "err", err)
	}
}

// drain judges the lines the sources sent before they stopped, so that
// their offsets are saved with their effects.
func (d *Daemon) drain() {
	for {
		select {
		case ev := <-d.events:
			d.process(context.Background(), &ev, d.now())
		case b := <-d.batches:
			d.processBatch(context.Background(), b)
		default:
			return
		}
	}
}

// onStop registers f to run when the daemon stops, or when start fails
// after it; the last registered runs first.
func (d *Daemon) onStop(f func()) { d.closers = append(d.closers, f) }

// Stop closes what Start opened (sinks drain on their way out), in the
// reverse order. It is safe after a failed Start and more than once.
func (d *Daemon) Stop() { d.cleanup() }

// cleanup closes what start opened, in the reverse order.
func (d *Daemon) cleanup() {
	for i := len(d.closers) - 1; i >= 0; i-- {
		d.closers[i]()
	}
	d.closers = nil
}

// Start opens, in order, the syslog listeners (bound and read at once),
// the state, the embedded NATS server, the guard,
// the sinks, the sources, the control socket and the metrics. When one
// fails, everything opened before it is closed again: a failed start
// leaves no consumer, connection or listener behind.
func (d *Daemon) Start(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			d.cleanup()
		}
	}()
	d.started = d.now()
	// Before the state loads: restoring a million windows is the start's
	// peak, and the limit makes its garbage go early.
	d.memory = memlimit.Resolve(d.cfg.Memory(), d.cfg.MemoryDefault(), os.Getenv, "/")
	memlimit.Apply(d.memory)
	d.log.Info("memory limit", "limit", d.memory.String(), "cgroup", memlimit.Size(d.memory.Cgroup))
	// The syslog ports first, read at once: a sender is not refused while
	// the state loads (a million windows take a while), and what it sends
	// waits in the batch queue, and the kernel's buffer behind it, until
	// the loop judges it.
	if err := d.runListeners(ctx); err != nil {
		return err
	}
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
	d.followAcks(guardCtx)
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
	// The windows go into the engine as they are read: a million of them
	// are never held twice.
	r := d.eng.NewRestorer()
	saved, bad, err := st.LoadInto(r)
	if err != nil {
		return store.State{}, fmt.Errorf("load state: %w", err)
	}
	if bad > 0 {
		d.log.Warn("state entries that did not decode were skipped", "count", bad)
	}
	now := d.now()
	r.Targets(saved.Targets, now)
	clock := d.restoredClock(saved.Clock, now)
	r.Distinct(saved.Distinct, clock)
	r.Done(clock)
	kept, err := st.Kept()
	if err != nil {
		return store.State{}, fmt.Errorf("load state: %w", err)
	}
	if b := kept[keptAllow]; b != nil {
		// Loaded before the guard's first use: a restored ban of an
		// address allowed at run time is lifted at start like any other.
		if err := d.runtime.Load(b, now); err != nil {
			d.log.Warn("the runtime allowlist in the state did not decode; it starts empty", "err", err)
		}
	}
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
		m, err := serveMetrics(d.cfg.Metrics, d.gatherInLoop, d.log)
		if err != nil {
			return err
		}
		d.onStop(func() { m.Close() })
	}
	return nil
}

// startSources runs each group of sources under supervision; the function
// returned stops them and waits until they have.
func (d *Daemon) startSources(ctx context.Context) (stop func()) {
	if d.runner.ctx == nil {
		d.runner.ctx, d.runner.stop = context.WithCancel(ctx)
	}
	for _, g := range d.groups {
		if g.done == nil { // the listeners run already (runListeners)
			d.runGroup(g)
		}
	}
	return func() {
		d.runner.stop()
		d.runner.wg.Wait()
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

// followAcks reads the firewalls' acks for the fleet's metrics, on
// nats_server when follow_acks names no server, until ctx ends.
func (d *Daemon) followAcks(ctx context.Context) {
	if d.cfg.FollowAcks == nil {
		return
	}
	fc := *d.cfg.FollowAcks
	fc.Config = d.natsEmb.conn(fc.Config)
	d.follow = fleetstatus.NewFollower(fc, d.log)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := d.follow.Run(ctx); err != nil {
			d.log.Error("follow_acks: not following the firewalls' acks", "err", err)
		}
	}()
	d.onStop(func() { cancel(); <-done })
}
