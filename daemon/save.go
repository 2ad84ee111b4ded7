package daemon

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/pipeline/store"
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

// keptAllow is the state's record of the runtime allowlist.
const keptAllow = "allow-runtime"

// save commits the engine's changes and the sources' offsets now, after
// the commit in flight, if any: for the moments that need the state on
// disk before going on (a file started at its end, a clock step, the
// end).
func (d *Daemon) save() {
	d.waitSave()
	if job := d.takeSave(); job != nil {
		job.err = job.commit(d.store)
		d.saved(job)
	}
}

// saveAsync starts a commit of what changed on another goroutine, unless
// one is in flight: the one after it takes everything that changed
// meanwhile (a group commit). Judging goes on during the commit's writes
// and fsync, which at a thousand bans a second took half the loop's time
// and made the syslog listener drop datagrams. While commits fail (a full
// disk) it waits for the tick's retry: retried at once, a failed commit
// of unsaved decisions was retried in a loop, about 130 failed writes and
// error lines a second.
func (d *Daemon) saveAsync() {
	if d.saveFailing {
		return
	}
	d.commitAsync()
}

// commitAsync is saveAsync, also while commits fail (the tick's retry).
func (d *Daemon) commitAsync() {
	if d.inflight != nil {
		return
	}
	job := d.takeSave()
	if job == nil {
		return
	}
	d.inflight = job
	go func() {
		job.err = job.commit(d.store)
		d.saveDone <- job
	}()
}

// waitSave waits for the commit in flight, if any, and takes its result.
func (d *Daemon) waitSave() {
	if d.inflight != nil {
		d.saved(<-d.saveDone)
	}
}

// saveJob is one commit: what it writes, and the oldest decision it
// covers (to be covered again if it fails).
type saveJob struct {
	snap    *store.Snapshot // the engine's windows, when the store asked for a snapshot
	ch      pipeline.Changes
	offsets map[string]json.RawMessage
	clock   time.Time
	unsaved time.Time
	kept    map[string][]byte // the runtime allowlist, when it changed
	err     error
}

func (job *saveJob) commit(st *store.Store) error {
	if job.snap != nil {
		return st.SaveSnapshot(job.snap, job.ch, job.offsets, job.clock, job.kept)
	}
	return st.SaveWith(job.ch, job.offsets, job.clock, job.kept)
}

// takeSnapshot writes the engine's windows to a new snapshot's file (to
// be committed by the save job), or returns nil when it cannot be
// started (the changes go to the log meanwhile).
func (d *Daemon) takeSnapshot() *store.Snapshot {
	snap, err := d.store.StartSnapshot(d.eng.Counter().Len())
	if err != nil {
		d.metrics.saveErrors.Add(1)
		d.log.Error("starting a state snapshot failed; the log grows meanwhile", "err", err)
		return nil
	}
	lines, next, bytes := d.eng.TakeState(snap.Window)
	snap.Lines(lines)
	snap.Stream(next, bytes)
	// Windows the snapshot holds need not be in the changes too.
	d.pending.Windows, d.pending.GoneWindows, d.pending.Lines = nil, nil, nil
	d.snapAgain = false
	return snap
}

// takeSave takes what changed since the last commit (nil: nothing). When
// the store's log has grown past its snapshot, the engine's windows are
// taken whole for a new snapshot, written to its file here, on the
// engine's goroutine (0.1-0.2 s for a million, to the page cache),
// synced and committed on the commit's.
func (d *Daemon) takeSave() *saveJob {
	var snap *store.Snapshot
	if (d.snapAgain || d.store.WantsSnapshot()) && !d.pending.Full {
		snap = d.takeSnapshot()
	}
	ch := pipeline.MergeChanges(d.pending, d.eng.TakeChanges())
	offsets := d.checkpoints()
	var kept map[string][]byte
	if d.allowDirty {
		if b, err := d.runtime.MarshalJSON(); err == nil {
			kept = map[string][]byte{keptAllow: b}
		}
		d.allowDirty = false
	}
	if snap == nil && ch.Empty() && len(offsets) == 0 && kept == nil {
		return nil
	}
	job := &saveJob{snap: snap, ch: ch, offsets: offsets, clock: d.eng.Now(), unsaved: d.unsaved, kept: kept}
	d.pending, d.unsaved, d.cpsDirty, d.kafka.dirty = pipeline.Changes{}, time.Time{}, false, false
	clear(d.offsets)
	return job
}

// saved takes a commit's result. A full disk must not stop enforcement
// nor lose state: a failed commit's changes go back in front of those made
// since, and its offsets are written again, at the next try.
func (d *Daemon) saved(job *saveJob) {
	d.inflight = nil
	d.saveFailing = job.err != nil
	if job.err != nil {
		d.metrics.saveErrors.Add(1)
		d.log.Error("saving state failed; enforcement goes on and the save is retried", "err", job.err)
		d.pending = pipeline.MergeChanges(job.ch, d.pending)
		// The windows a failed snapshot held are no longer marked changed:
		// the next commit takes them all again.
		d.snapAgain = d.snapAgain || job.snap != nil
		d.cpsDirty = d.cpsDirty || job.offsets != nil
		d.allowDirty = d.allowDirty || job.kept != nil
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
func (d *Daemon) checkpoints() map[string]json.RawMessage {
	if len(d.offsets) == 0 && !d.cpsDirty && !d.kafka.dirty {
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
	out := make(map[string]json.RawMessage, len(d.cps)+len(d.kafka.counted))
	for k, c := range d.cps {
		if b, err := json.Marshal(c.cp); err == nil {
			out[k] = b
		}
	}
	d.kafka.checkpoints(out)
	return out
}
