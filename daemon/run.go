package daemon

import (
	"context"
	"time"

	"github.com/stockade-ids/stockade/internal/sdnotify"
	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/sources/tail"
)

// loop judges events and answers the control socket until ctx is done;
// it commits in groups, ticks the engine and watches the wall clock.
func (d *Daemon) loop(ctx context.Context) {
	tick := time.NewTicker(saveEvery)
	defer tick.Stop()
	// Fed from this loop, not a goroutine of its own: a loop wedged on a
	// sink or a lock stops it, and systemd restarts the daemon (WatchdogSec
	// must be at least 3 s).
	watchdog := d.notify.Enabled() && sdnotify.WatchdogInterval() > 0
	// One Event for the loop's life: received into a variable of the case
	// itself and passed by address, each line's escaped to the heap, some
	// 500 bytes a line of a file (half the garbage of a flood read from
	// one). process keeps no pointer into it.
	var ev pipeline.Event
	for {
		select {
		case <-ctx.Done():
			return
		case ev = <-d.events:
			d.process(ctx, &ev, d.now())
			d.decisionsSaved()
		case b := <-d.batches:
			d.processBatch(ctx, b)
			d.decisionsSaved()
		case job := <-d.saveDone:
			d.saved(job)
			if !d.unsaved.IsZero() {
				d.saveAsync() // the decisions made during that commit
			}
		case <-tick.C:
			now := d.now()
			d.watchClock(ctx, now) // before the engine's clock follows the wall's
			d.emit(ctx, d.eng.Tick(now))
			d.auditExpired(now)
			d.expireAllow(now)
			d.audit.Flush(now)
			d.commitAsync()
			if watchdog {
				d.sdNotify(sdnotify.Watchdog)
			}
		case <-d.hangup:
			d.reopenFiles()
			d.reloadLogged(ctx, "SIGHUP")
		case <-d.reopen:
			d.reopenFiles()
		case <-d.guardChanged:
			d.guardChanged = d.guard.Changed()
			d.protect(ctx)
		case u := <-d.lists:
			d.applyList(ctx, u)
		case req := <-d.ctl:
			req.Reply <- d.handle(ctx, req.Request)
			if d.allowDirty {
				d.saveAsync()
			}
		case reply := <-d.gathers:
			mfs, err := d.prom.reg.Gather()
			reply <- gathered{mfs, err}
		}
	}
}

// batchQueue is how many batches of the syslog listeners wait for the
// engine at most: 65,536 events (1024 each), about 48 MiB with their
// messages; the kernel's receive buffer holds what comes after.
const batchQueue = 64

// decisionsSaved starts a commit of decisions sent when nothing waits to
// be judged, or when the oldest has waited decisionSave.
func (d *Daemon) decisionsSaved() {
	if !d.unsaved.IsZero() && (len(d.events)+len(d.batches) == 0 || time.Since(d.unsaved) > decisionSave) {
		d.saveAsync()
	}
}

// processBatch judges a listener's batch: one wake-up, one look at the
// wall clock for all its events.
func (d *Daemon) processBatch(ctx context.Context, b *pipeline.Batch) {
	at := instantOf(d.now())
	for i := range b.Events {
		d.judge(ctx, &b.Events[i], &at)
	}
	d.judged(&at)
	b.Release()
}

// instant is the wall clock as a batch of events is judged by it, read
// once a batch with its bound for lines from the future worked out once,
// and the newest event time judged, published once a batch.
type instant struct {
	wall, ahead time.Time
	latest      int64
}

func instantOf(wall time.Time) instant {
	return instant{wall: wall, ahead: wall.Add(maxAhead)}
}

// judged publishes the newest event time judged at at (the lag metric's).
func (d *Daemon) judged(at *instant) {
	if at.latest > d.metrics.lastEvent.Load() {
		d.metrics.lastEvent.Store(at.latest)
	}
}

// process judges one event at wall.
func (d *Daemon) process(ctx context.Context, ev *pipeline.Event, wall time.Time) {
	at := instantOf(wall)
	d.judge(ctx, ev, &at)
	d.judged(&at)
}

func (d *Daemon) judge(ctx context.Context, ev *pipeline.Event, at *instant) {
	if tail.IsPosition(ev) {
		// A file started at its end: save where, before any of its lines
		// has effects a crash could lose (see tail.Run).
		if _, seen := d.offsets[ev.Source]; !seen {
			d.offsets[ev.Source] = ev.Offset
			d.save()
		}
		return
	}
	wall := at.wall
	future := ev.Time.After(at.ahead)
	if dt := ev.Time.Sub(d.eng.Now()); future || dt < -clockJumpMin || dt > clockJumpMin {
		// A line far from the clocks: the wall clock may have stepped.
		d.watchClock(ctx, wall)
	}
	if future {
		d.clampFuture(ev, wall)
	}
	if t := ev.Time.UnixNano(); t > at.latest {
		at.latest = t
	}
	ds := d.eng.Process(ev)
	if ev.Topic != 0 {
		// Saved with the windows that now hold it (see kafkaCounts).
		d.kafka.handled(ev)
	}
	if ev.WarmUp {
		// Rebuilding what a partition's previous holder counted: its
		// decisions are in our ledger now, and on the bus already.
		d.metrics.warmUp.Add(uint64(len(ds)))
		return
	}
	if len(ds) > 0 {
		d.observeLine(ev, ds, wall)
	}
	if ev.Offset > 0 && ev.Topic == 0 {
		d.offsets[ev.Source] = ev.Offset
	}
	d.emit(ctx, ds)
	d.auditExpired(wall)
}

// emit sends decisions to every sink. Bans that already ran out (old lines
// read from the start of a file) are not sent: they would only make a
// firewall add and drop an element. Decisions of a rule in mode: simulate
// are written to the audit log only.
func (d *Daemon) emit(ctx context.Context, ds []pipeline.Decision) { d.emitAs(ctx, ds, "") }

// emitAs is emit of decisions origin asked for (an operator, a list);
// empty: the rules.
func (d *Daemon) emitAs(ctx context.Context, ds []pipeline.Decision, origin string) {
	if len(ds) == 0 {
		return
	}
	now := d.now()
	out := ds[:0:0]
	for i := range ds {
		x := &ds[i]
		if x.Action == pipeline.ActionBan && !x.Expires.After(now) {
			d.metrics.stale.Add(1)
			continue
		}
		d.audit.Decision(x, origin, now)
		if x.Simulated {
			continue
		}
		out = append(out, *x)
	}
	if len(out) == 0 {
		return
	}
	d.provenance(out)
	d.metrics.decisions.Add(uint64(len(out)))
	if d.unsaved.IsZero() {
		d.unsaved = time.Now()
	}
	decided := time.Now()
	for _, s := range d.sinks {
		if err := s.sink.Write(ctx, out); err != nil {
			s.errors.Add(1)
			d.metrics.sinkErrors.Add(1)
			d.log.Error("sink write failed", "sink", s.name, "err", err)
			continue
		}
		s.decisions.Add(uint64(len(out)))
		if s.latency != nil {
			s.latency.Observe(time.Since(decided).Seconds())
		}
	}
}
