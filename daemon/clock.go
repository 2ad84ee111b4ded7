package daemon

import (
	"context"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/sinks/nftables"
)

// The engine runs on event time: the newest line's timestamp is its clock,
// and that clock never goes back. Live, two things would drag it where it
// does not belong:
//
//   - One line dated far ahead (a sender's broken clock, a forged syslog
//     datagram: `<13>2099-01-01T00:00:00Z ...`). Followed blindly, the clock
//     would jump to 2099: every ban would expire at once, the windows would
//     be swept, and every later ban would run out the moment it was made.
//     So a line dated more than maxAhead past the wall clock is judged as
//     of now (and counted in stockade_future_lines_total). Lines from the
//     past need no bound: the clock never goes back, a ban they decide that
//     has already run out is not sent, and windows count them in their own
//     time, so a line from 1990 cannot revive anything.
//   - A wall-clock step (NTP correcting a clock hours off, a VM resumed).
//     Kernel ban timeouts count real time, the ledger counts wall time: a
//     step forward would expire bans the kernel still holds, a step back
//     would make every ban outlive its kernel element by the step (and a
//     target then attacking again be refused as "already banned"). So the
//     daemon watches the wall clock against the monotonic one and, when
//     they part by more than clockJumpMin, moves every time it holds by
//     the step: bans and windows keep exactly the time they had left.

// maxAhead is how far past the wall clock a line's time may be.
const maxAhead = time.Minute

// clockJumpMin is the smallest wall-clock step the daemon corrects for;
// smaller ones (NTP steps of a few hundred milliseconds) are absorbed by
// the event clock.
const clockJumpMin = 5 * time.Second

// clampFuture judges a line dated more than maxAhead past the wall clock
// as of now.
func (d *Daemon) clampFuture(ev *pipeline.Event, wall time.Time) {
	if !ev.Time.After(wall.Add(maxAhead)) {
		return
	}
	d.metrics.future.Add(1)
	if wall.Sub(d.futureLogged) > 10*time.Second {
		d.futureLogged = wall
		d.log.Warn("a line is dated in the future; judged as of now (reported once per 10s)",
			"source", ev.Source, "dated", ev.Time.Format(time.RFC3339), "lines_so_far", d.metrics.future.Load())
	}
	ev.Time = wall.Round(0) // the wall reading alone, like a parsed time
}

// restoredClock is the saved event clock, unless it lies in the future (it
// was saved by a stockade that did not bound it, or the wall clock has
// been set back since): then it is now.
func (d *Daemon) restoredClock(saved, now time.Time) time.Time {
	if saved.After(now.Add(maxAhead)) {
		d.log.Warn("the saved event clock is in the future; starting from now", "saved", saved.Format(time.RFC3339))
		return now
	}
	return saved
}

// watchClock compares the wall clock's progress with the monotonic
// clock's since the last look and corrects for a step.
func (d *Daemon) watchClock(ctx context.Context, wall time.Time) {
	mono := time.Now()
	wall = wall.Round(0) // the wall reading alone
	if !d.lastMono.IsZero() {
		step := wall.Sub(d.lastWall) - mono.Sub(d.lastMono)
		if step >= clockJumpMin || step <= -clockJumpMin {
			d.clockStepped(ctx, step)
		}
	}
	d.lastWall, d.lastMono = wall, mono
}

// clockStepped moves the engine's state by step: it commits what it has,
// takes the engine's whole state in memory, shifts every time in it, and
// restarts the engine from it; local firewalls are then made to hold what
// the ledger holds. Rule statistics start again from zero, as after a
// restart.
func (d *Daemon) clockStepped(ctx context.Context, step time.Duration) {
	d.metrics.clockSteps.Add(1)
	d.log.Warn("the wall clock stepped; bans and windows keep the time they had left", "step", step.Round(time.Millisecond))
	d.save()
	if !d.pending.Empty() {
		d.log.Error("cannot move the state to the new clock while it cannot be saved; bans follow the wall clock as it is")
		return
	}
	st := d.eng.State()
	st.Shift(step)
	now := d.now()
	old := d.eng
	eng := pipeline.NewEngine(old.Matcher(), d.engCfg)
	eng.TrackChanges()
	eng.RestoreState(st, d.restoredClock(old.Now().Add(step), now), now)
	eng.Events, eng.Duplicates, eng.SkewedDuplicates = old.Events, old.Duplicates, old.SkewedDuplicates
	d.eng = eng
	d.pending = st // a whole state: the next commit is a new snapshot
	d.save()
	active := eng.Ledger().ActiveBans(now)
	for _, s := range d.sinks {
		if n, ok := s.sink.(*nftables.Sink); ok {
			if err := n.Reconcile(ctx, active, now); err != nil {
				s.errors.Add(1)
				d.metrics.sinkErrors.Add(1)
				d.log.Error("nftables: re-applying the bans after the clock step failed", "sink", s.name, "err", err)
			}
		}
	}
}
