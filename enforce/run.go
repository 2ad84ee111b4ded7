package enforce

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/stockade-ids/stockade/control"
	"github.com/stockade-ids/stockade/internal/memlimit"
	"github.com/stockade-ids/stockade/internal/sdnotify"
	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/pipeline/guard"
	"github.com/stockade-ids/stockade/pipeline/sign"
	"github.com/stockade-ids/stockade/pipeline/store"
	"github.com/stockade-ids/stockade/protect"
	"github.com/stockade-ids/stockade/sinks/nftables"
	"github.com/stockade-ids/stockade/sources/bus"
)

// Config is a firewall (`stockade enforce`): it takes signed decisions
// from the bus and enforces them in its own nftables under its own policy.
// config.Enforcer reads it from YAML (deploy/enforce.yaml documents every key).
type Config struct {
	StateDir string
	Metrics  string // address of the Prometheus metrics, or ""
	// Name is this firewall's consumer on the bus (its JetStream durable,
	// its Kafka group).
	Name string
	// Policy is the trust policy; its Allow is not used: Allow and Fleet
	// live in the guard, with the host's addresses followed live, so that
	// a reload can change them.
	Policy Policy
	// Protected is never banned, nor are the bus servers this firewall
	// connects to.
	Protected Protected
	NFTables  nftables.Config // its Guard is set by Run
	// Exactly one of NATS and Kafka.
	NATS  *bus.NATSConfig
	Kafka *bus.KafkaConfig
	// Socket is the control socket (default stockade-enforce.sock in
	// StateDir); "-" for none.
	Socket string
	// Signer, when set, signs this firewall's reports on the bus (its
	// acks, its administrator's overrides).
	Signer *sign.Signer
	// NoReport keeps the firewall from publishing acks (a bus where it
	// may only read).
	NoReport bool
	// RepairEvery is how often the kernel's sets are read back and made
	// to match the bans (default 10s; negative: never).
	RepairEvery time.Duration
	// Memory is the runtime's soft memory limit, applied and logged at
	// start (memlimit.Resolve; the zero Limit leaves the runtime's).
	Memory memlimit.Limit
}

// Protected is what a firewall never bans besides its own addresses and
// the bus servers': a reload reads it again.
type Protected struct {
	Allow   []string // policy.allow
	Fleet   []string // the fleet's own hosts (sensors, other firewalls, bus servers)
	HomeNet []string // the network behind this firewall
}

// Deps is what Run is given rather than making.
type Deps struct {
	Log *slog.Logger
	// Reload reads the configuration again for what is protected (the
	// rest of the policy takes a restart): on SIGHUP and Firewall.Reload.
	// Nil when there is no file to read again.
	Reload func() (Protected, error)
	// Ready, when set, receives the firewall once it consumes (tests).
	Ready chan<- *Firewall
	// Check reads and checks the whole configuration without applying it
	// (the control socket's check). Nil when there is no file.
	Check func() error
	// Version labels stockade_build_info ("": the build info's).
	Version string
	// Notify tells systemd (Type=notify) when the firewall consumes, that
	// its loop runs (WATCHDOG=1 every second) and when it stops. The zero
	// value notifies nobody; the CLI passes sdnotify.FromEnv().
	Notify sdnotify.Notifier
}

// BadConfig is an error of the configuration rather than of the run
// (stockade exits 2 on it, 1 on others).
type BadConfig struct{ Err error }

func (e *BadConfig) Error() string { return e.Err.Error() }
func (e *BadConfig) Unwrap() error { return e.Err }

// Firewall is a running `stockade enforce`.
type Firewall struct {
	cfg      Config
	deps     Deps
	log      *slog.Logger
	store    *store.Store
	eng      *pipeline.Engine
	nft      *nftables.Sink
	enf      *Enforcer
	consumer interface{ Stats() bus.Stats }
	guard    *guard.Guard
	fleet    *protect.Fleet
	reloads  chan chan error // SIGHUP, and Reload

	saveMu     sync.Mutex
	refusalLog bus.RefusalLog
	since      time.Time
	report     *reporter      // nil: no reports on the bus
	latency    histogram      // log line to kernel, of the bans applied
	runtime    *guard.Runtime // stockade enforce allow add: owned by the loop
	drift      atomic.Uint64  // kernel elements repaired
	restored   uint64         // the nftables watch's restorations reported so far (loop only)
	calls      chan control.Call
}

// Enforcer is the firewall's judge (tests read its counts).
func (e *Firewall) Enforcer() *Enforcer { return e.enf }

// Engine holds the firewall's ledger.
func (e *Firewall) Engine() *pipeline.Engine { return e.eng }

// Reload reads the configuration again, as SIGHUP does, in the
// firewall's loop.
func (e *Firewall) Reload() error {
	reply := make(chan error, 1)
	e.reloads <- reply
	return <-reply
}

// Run serves until ctx is done. Everything it opened is closed when it
// returns, also when it fails half way.
func Run(ctx context.Context, cfg Config, deps Deps) error {
	e := &Firewall{cfg: cfg, deps: deps, log: deps.Log, reloads: make(chan chan error), since: time.Now(), calls: make(chan control.Call)}
	if cfg.Memory.Bytes > 0 {
		memlimit.Apply(cfg.Memory)
		e.log.Info("memory limit", "limit", cfg.Memory.String(), "cgroup", memlimit.Size(cfg.Memory.Cgroup))
	}
	pol := cfg.Policy
	fresh := !store.Exists(cfg.StateDir)
	st, err := store.Open(cfg.StateDir)
	if err != nil {
		return err
	}
	defer st.Close()
	e.store = st
	saved, _, err := st.Load()
	if err != nil {
		return fmt.Errorf("load state: %w", err)
	}
	guardCtx, stopGuard := context.WithCancel(ctx)
	defer stopGuard()
	resolved, err := e.startGuard(guardCtx, &pol)
	if err != nil {
		return err
	}
	guardChanged, err := e.open(ctx, pol, saved)
	if err != nil {
		return err
	}
	defer e.nft.Close(context.Background())
	consumer, closeBus, err := e.openBus(fresh)
	if err != nil {
		return err
	}
	defer closeBus()
	if !cfg.NoReport {
		if e.report, err = openReporter(cfg, e.log); err != nil {
			return err
		}
		defer e.report.close()
	}
	if path := cfg.SocketPath(); path != "" {
		srv, err := control.Listen(path, e.calls, e.log)
		if err != nil {
			return err
		}
		defer srv.Close()
	}
	if cfg.Metrics != "" {
		srv, err := e.serveMetrics(cfg.Metrics)
		if err != nil {
			return err
		}
		defer srv.Close()
	}
	go e.fleet.Run(guardCtx, resolved)
	e.save() // the bans lifted at start
	return e.loop(ctx, consumer, guardChanged, len(pol.Origins))
}

// startGuard fills the guard that the policy consults: policy.allow with
// the firewall's own addresses (followed live), the fleet's and the bus
// servers'. It returns the bus servers resolved, for the fleet's Run.
func (e *Firewall) startGuard(ctx context.Context, pol *Policy) ([]netip.Prefix, error) {
	e.guard = guard.New()
	if err := protect.Set(e.guard, e.cfg.Protected.Allow, e.cfg.Protected.Fleet); err != nil {
		return nil, &BadConfig{err}
	}
	if err := protect.SetHomeNet(e.guard, e.cfg.Protected.HomeNet); err != nil {
		return nil, &BadConfig{err}
	}
	pol.Allow, pol.Guard = nil, e.guard
	netns := e.cfg.NFTables.NetNS
	if netns == 0 {
		e.guard.Set(guard.Own, protect.OwnAddresses())
	}
	protect.WatchOwn(ctx, e.guard, netns, e.log)
	var busURLs, brokers []string
	if e.cfg.NATS != nil {
		busURLs = append(busURLs, e.cfg.NATS.URL)
	}
	if e.cfg.Kafka != nil {
		brokers = e.cfg.Kafka.Brokers
	}
	e.fleet = protect.NewFleet(e.guard, protect.BusHosts(busURLs, brokers), nil, e.log)
	return e.fleet.Refresh(ctx, true, nil), nil
}

// open restores the ledger, makes the kernel hold it (adopting what a
// lost save left there) and the enforcer with its memory. It returns the
// guard's change notice taken before the start-time lift.
func (e *Firewall) open(ctx context.Context, pol Policy, saved store.State) (<-chan struct{}, error) {
	log := e.log
	e.eng = pipeline.NewEngine(NoRules{}, pipeline.Config{Origin: e.cfg.Name, Guard: e.guard})
	e.eng.TrackChanges()
	now := time.Now()
	e.eng.Restore(nil, saved.Targets, saved.Clock, now)
	// The allowlist wins over bans restored from the state; what changes
	// from here on is handled in the loop.
	guardChanged := e.guard.Changed()
	for _, x := range e.eng.LiftProtected(now) {
		log.Warn("ban lifted: the target is protected now", "target", x.Target, "why", x.Reason)
	}
	active := e.eng.Ledger().ActiveBans(now)
	keep := func(p netip.Prefix) bool { return pol.Refusal(p) == "" }
	nc := e.cfg.NFTables
	nc.Guard = e.guard
	if nc.Now == nil {
		nc.Now = time.Now
	}
	nft, adopted, err := nftables.Open(ctx, nc, active, now, keep, log)
	if err != nil {
		return nil, err
	}
	e.nft = nft
	active = append(active, nftables.Adopt(e.eng.Ledger(), adopted, now, log)...)
	if e.enf, err = New(pol, e.eng, e.nft, log); err != nil {
		e.nft.Close(context.Background())
		return nil, &BadConfig{err}
	}
	// What was applied and deferred before the restart: without it a
	// replay of a captured decision would be enforced again.
	kept, err := e.store.Kept()
	if err != nil {
		e.nft.Close(context.Background())
		return nil, fmt.Errorf("load state: %w", err)
	}
	if bad := e.enf.RestoreMemory(kept); bad > 0 {
		log.Warn("state: records of decisions applied or deferred did not decode; skipped", "count", bad)
	}
	e.runtime = guard.NewRuntime(e.guard)
	if saved := e.enf.SavedAllow(); saved != nil {
		if err := e.runtime.Load(saved, now); err != nil {
			log.Warn("state: the runtime allowlist did not decode; it starts empty", "err", err)
		}
	}
	waiting, _ := e.enf.Deferred()
	log.Info("bans restored from state", "active", len(active), "deferred", waitingTotal(waiting))
	return guardChanged, nil
}

// openBus connects the consumer; fresh (a new state, which knows no ban)
// makes it start over, so that every ban still active reaches this
// firewall again.
func (e *Firewall) openBus(fresh bool) (bus.Consumer, func(), error) {
	if e.cfg.NATS != nil {
		cc := *e.cfg.NATS
		if cc.Durable == "" {
			cc.Durable = e.cfg.Name
		}
		if cc.Stream == "" {
			e.log.Warn("nats: no stream: a core NATS subscription misses every decision published while this firewall is away; set stream")
		}
		cc.Reset = fresh
		cc.Name = e.cfg.Name
		c, err := bus.NewNATS(cc, e.log)
		if err != nil {
			return nil, nil, &BadConfig{err}
		}
		e.consumer = c
		e.fleet.AddConn(c.Conn())
		return c, c.Close, nil
	}
	kc := *e.cfg.Kafka
	if kc.Group == "" {
		kc.Group = e.cfg.Name
	}
	kc.Reset = fresh
	c, err := bus.NewKafka(kc, e.log)
	if err != nil {
		return nil, nil, &BadConfig{err}
	}
	e.consumer = c
	return c, func() { c.Close() }, nil
}

// loop consumes until ctx is done or the consumer fails; it ticks the
// enforcer and saves every second, and applies reloads and guard changes.
func (e *Firewall) loop(ctx context.Context, consumer bus.Consumer, guardChanged <-chan struct{}, origins int) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- consumer.RunBatch(runCtx, e.handle, 512) }()
	if e.deps.Ready != nil {
		e.deps.Ready <- e
	}
	e.log.Info("stockade enforcing", "name", e.cfg.Name, "origins", origins)
	e.notify(sdnotify.Ready, sdnotify.Status(fmt.Sprintf("enforcing for %d origins", origins)))
	// Fed from this loop, not a goroutine of its own: a loop wedged on a
	// lock stops it and systemd restarts the firewall (WatchdogSec must be
	// at least 3 s).
	watchdog := sdnotify.WatchdogInterval() > 0
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	every := e.cfg.RepairEvery
	if every == 0 {
		every = 10 * time.Second
	}
	var (
		repair <-chan time.Time
		rt     *time.Timer
		// checked hears from the check the timer started; the next is
		// set when it is over (one at a time).
		checked = make(chan checkDone, 1)
	)
	if every > 0 {
		rt = time.NewTimer(every)
		defer rt.Stop()
		repair = rt.C
	}
	for {
		select {
		case <-ctx.Done():
			e.notify(sdnotify.Stopping)
			stop()
			err := <-done
			e.save()
			e.log.Info("stockade enforce stopped")
			return err
		case err := <-done:
			// The consumer also ends when ctx does, and select picks at
			// random between ready cases: a stop may arrive here, and
			// systemd must hear of it all the same.
			e.notify(sdnotify.Stopping)
			e.save()
			return err
		case <-tick.C:
			e.enf.Tick()
			e.expireAllow()
			e.save()
			if watchdog {
				e.notify(sdnotify.Watchdog)
			}
		case <-hup:
			if err := e.reload(ctx); err != nil {
				e.log.Error("reload refused: the previous allowlist and fleet stay in force", "err", err)
			}
		case <-repair:
			// The check runs beside the loop: listing a set of a million
			// bans takes the kernel minutes, and the loop feeds the
			// watchdog, ticks and answers the control socket meanwhile.
			e.reportRestored()
			start := time.Now()
			go func() {
				d, err := e.nft.Repair(ctx)
				checked <- checkDone{d, err, time.Since(start)}
			}()
		case c := <-checked:
			e.repaired(c.drift, c.err)
			rt.Reset(nextRepair(every, c.took))
		case reply := <-e.reloads:
			reply <- e.reload(ctx)
		case c := <-e.calls:
			c.Reply <- e.control(ctx, c.Request)
		case <-guardChanged:
			guardChanged = e.guard.Changed()
			e.protect(ctx)
		}
	}
}

// notify tells the service manager, if any; it failing changes nothing.
func (e *Firewall) notify(state ...string) {
	if err := e.deps.Notify.Notify(state...); err != nil {
		e.log.Debug("sd_notify", "err", err)
	}
}

// reload reads the configuration again for policy.allow, fleet and
// home_net (the rest of the policy takes a restart) and lifts the bans they now
// protect; a bad file changes nothing.
func (e *Firewall) reload(ctx context.Context) error {
	if e.deps.Reload == nil {
		return errors.New("no configuration file to read again")
	}
	p, err := e.deps.Reload()
	if err != nil {
		return err
	}
	if err := protect.Set(e.guard, p.Allow, p.Fleet); err != nil {
		return err
	}
	if err := protect.SetHomeNet(e.guard, p.HomeNet); err != nil {
		return err // checked when the file was read: not reached
	}
	e.cfg.Protected = p
	e.log.Info("allowlist and fleet reloaded", "allow", len(p.Allow), "fleet", len(p.Fleet))
	e.protect(ctx)
	return nil
}

// protect lifts the bans of addresses the guard protects now, in the
// ledger and the kernel, ranges widened over one included.
func (e *Firewall) protect(ctx context.Context) {
	lifted, active, now, err := e.enf.LiftProtected(ctx)
	acks := make([]Ack, 0, len(lifted))
	for _, x := range lifted {
		e.log.Warn("ban lifted: the target is protected now", "target", x.Target, "why", x.Reason)
		acks = append(acks, Ack{Firewall: e.cfg.Name, Target: x.Target.String(), Action: string(pipeline.ActionUnban),
			Verdict: VerdictLifted, Reason: x.Reason, At: now})
	}
	e.report.report(acks)
	if err != nil {
		e.log.Error("nftables: lifting protected bans failed; the kernel is reconciled with the ledger", "err", err)
		if err := e.nft.Reconcile(ctx, active, now); err != nil {
			e.log.Error("nftables reconcile failed", "err", err)
		}
	}
	if n, err := e.nft.Protect(ctx, active, now); err != nil {
		e.log.Error("nftables: narrowing ranges that hold a protected address failed", "err", err)
	} else if n > 0 {
		e.log.Warn("nftables: widened bans that held a protected address lifted", "count", n)
	}
	e.save()
}

// nextRepair is how long after a check that took took the next one comes:
// every, or ten times took when that is longer. The kernel lists an
// interval set in a time that grows with the square of its elements
// (200,000: about 4 s here, a million about 70 s), a core's time: checks
// take a tenth of it at most.
func nextRepair(every, took time.Duration) time.Duration { return max(every, 10*took) }

// checkDone is what a check of the kernel's sets found, and how long it
// took.
type checkDone struct {
	drift nftables.Drift
	err   error
	took  time.Duration
}

// repaired logs, counts and reports what a check of the kernel's sets
// found and undid: what changed them behind the firewall's back (a flush,
// a deleted table, elements added by hand).
func (e *Firewall) repaired(d nftables.Drift, err error) {
	if err != nil {
		e.log.Error("nftables: checking the sets against the bans failed; retried", "err", err)
		return
	}
	if d.Total() == 0 {
		return
	}
	e.drift.Add(uint64(d.Total()))
	e.log.Warn("nftables: the kernel's sets had drifted from the bans; repaired", "missing", d.Missing, "extra", d.Extra, "changed", d.Changed, "rules", d.Rules)
	e.report.report([]Ack{{Firewall: e.cfg.Name, Action: "repair", Verdict: VerdictRepaired, At: time.Now(),
		Reason: fmt.Sprintf("%d missing, %d extra, %d changed, %d drop rules", d.Missing, d.Extra, d.Changed, d.Rules), Repaired: d.Total()}})
}

// reportRestored reports what the nftables watch put back since the last
// check: the watch restores within a second, before Repair would see the
// drift, and the fleet must hear of it all the same.
func (e *Firewall) reportRestored() {
	total := e.nft.Stats().Restored
	n := total - e.restored
	if n == 0 {
		return
	}
	e.restored = total
	e.drift.Add(n)
	e.report.report([]Ack{{Firewall: e.cfg.Name, Action: "repair", Verdict: VerdictRepaired, At: time.Now(),
		Reason: fmt.Sprintf("%d elements another program removed, restored", n), Repaired: int(n)}})
}

// handle judges what arrived together; only a firewall that could not be
// updated asks for it again.
func (e *Firewall) handle(ctx context.Context, ds []*bus.Delivery) error {
	msgs := make([]Message, len(ds))
	for i, d := range ds {
		msgs[i] = Message{Data: d.Data, Signer: d.Signer, Sig: d.Sig}
	}
	rs, xs, applied, err := e.enf.JudgeDetail(ctx, msgs)
	if err != nil {
		e.log.Error("decisions not enforced; they will come again", "count", len(ds), "err", err)
		return err
	}
	now := time.Now()
	for i, r := range rs {
		x := &xs[i]
		switch {
		case r == Accepted && x.Action == pipeline.ActionBan:
			e.latency.observe(applied.Sub(x.At))
			// What admins grep for, as fail2ban's "Ban 1.2.3.4"; one line
			// per ban, bounded by the origins' rates.
			e.log.Info("Ban", "target", x.Target.String(), "origin", x.Origin, "rule", x.Rule,
				"expires", x.Expires.Format(time.RFC3339), "id", x.ID)
		case r == Lifted:
			e.log.Info("Unban", "target", x.Target.String(), "origin", x.Origin, "id", x.ID)
		case r.Refused():
			if suppressed, due := e.refusalLog.Due(string(r), now); due {
				e.log.Warn("decision refused", "reason", string(r), "target", x.Target.String(), "origin", x.Origin,
					"rule", x.Rule, "id", x.ID, "subject", ds[i].Subject, "signer", ds[i].Signer, "similar_not_logged", suppressed)
			}
		}
	}
	e.report.report(judgedAcks(e.cfg.Name, rs, xs, applied, now))
	return nil
}

// save commits the ledger's changes with the enforcer's memory of what it
// applied and deferred, in one transaction; a failed save keeps enforcing
// and is retried with the next changes.
func (e *Firewall) save() {
	e.saveMu.Lock()
	defer e.saveMu.Unlock()
	ch := e.enf.TakeChanges()
	mem := e.enf.TakeMemory()
	if ch.Empty() && len(mem) == 0 {
		return
	}
	if err := e.store.SaveWith(ch, nil, time.Now(), mem); err != nil {
		e.log.Error("saving state failed; enforcement goes on", "err", err)
		e.enf.KeepChanges(ch)
		e.enf.KeepMemory(mem)
	}
}

func waitingTotal(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
