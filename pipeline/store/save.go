package store

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

// Save commits the engine's changes, the sources' checkpoints and the clock
// in one record. A non-nil offsets replaces the stored set entirely
// (checkpoints of files long rotated away must not pile up). Changes that
// are a whole state (Full) start a new snapshot.
func (s *Store) Save(ch pipeline.Changes, offsets map[string]json.RawMessage, clock time.Time) error {
	return s.SaveWith(ch, offsets, clock, nil)
}

// SaveWith is Save with changes to records a component keeps beside the
// ledger (the enforcer's memory of the decisions it applied, its deferred
// bans), in the same record so that they always agree with the ledger:
// key → value, a nil value deletes the key.
func (s *Store) SaveWith(ch pipeline.Changes, offsets map[string]json.RawMessage, clock time.Time, kept map[string][]byte) error {
	if err := s.ensureLoaded(); err != nil {
		return err
	}
	if ch.Full {
		sn := NewSnapshot()
		for i := range ch.Windows {
			sn.Window(&ch.Windows[i])
		}
		sn.Lines(ch.Lines)
		sn.Stream(ch.Next, ch.Bytes)
		ch.Windows, ch.Lines, ch.GoneWindows = nil, nil, nil
		return s.saveSnapshot(sn, ch, offsets, clock, kept, true)
	}
	targets, err := encodeTargets(ch.Targets)
	if err != nil {
		return err
	}
	e := &s.enc
	e.reset()
	e.b = append(e.b, make([]byte, frameSize)...) // framed in place
	e.uvarint(s.logSeq + 1)
	e.clock(clock)
	for _, id := range ch.GoneWindows {
		e.tag('G')
		e.str(id)
	}
	for _, l := range ch.Lines {
		e.line(l)
	}
	if ch.Next > 0 {
		e.stream(ch.Next, ch.Bytes)
	}
	for i := range ch.Windows {
		e.window(&ch.Windows[i])
	}
	for p, js := range targets {
		e.target(p, js)
	}
	if offsets != nil {
		// What changed, not the whole set: a daemon following thousands
		// of logs wrote every one's checkpoint at each save, 700 KB a
		// second for 5,000 logs of which one was written to.
		e.offsetChanges(s.offsets, offsets)
	}
	for k, v := range kept {
		e.kept(k, v)
	}
	for _, d := range ch.Distinct {
		e.distinct(d.Key, d.Values)
	}
	if uint64(len(e.b)-frameSize) > maxRecord {
		// A commit is one record, read whole or not at all: one its
		// frame cannot measure would be read as torn.
		n := len(e.b)
		e.b = nil
		return fmt.Errorf("save state: a commit of %d bytes is more than a record holds", n)
	}
	if err := s.append(frameInPlace(e.b)); err != nil {
		return err
	}
	s.logSeq++
	s.windows = s.windows || len(ch.Windows) > 0
	s.remember(targets, offsets, clock, kept)
	for _, d := range ch.Distinct {
		s.rememberDistinct(d.Key, d.Values)
	}
	if !s.windows && s.WantsSnapshot() {
		// No window to ask the engine for (the enforcer keeps none): the
		// store has all it needs in memory.
		return s.SaveSnapshot(NewSnapshot(), pipeline.Changes{}, nil, clock, nil)
	}
	if len(e.b) > 16*chunkSize {
		// A flood's record is not kept for good. Below this, a commit
		// under attack (about 10 MB of evidence lines a second at
		// 200,000 messages a second) reuses its buffer: dropped past 4
		// MB, each was grown anew from nothing.
		e.b = nil
	}
	return nil
}

func (s *Store) ensureLoaded() error {
	if s.loaded {
		return nil
	}
	_, err := s.load(nil)
	return err
}

// encodeTargets encodes targets as JSON, nil for one to forget.
func encodeTargets(ts []pipeline.TargetState) (map[netip.Prefix][]byte, error) {
	out := make(map[netip.Prefix][]byte, len(ts))
	for _, t := range ts {
		if len(t.Records) == 0 && t.Offenses == 0 && len(t.History) == 0 {
			out[t.Target] = nil
			continue
		}
		js, err := json.Marshal(t)
		if err != nil {
			return nil, err
		}
		out[t.Target] = js
	}
	return out, nil
}

// remember applies a committed save to what the next snapshot writes.
func (s *Store) remember(targets map[netip.Prefix][]byte, offsets map[string]json.RawMessage, clock time.Time, kept map[string][]byte) {
	for p, js := range targets {
		if js == nil {
			delete(s.targets, p)
		} else {
			s.targets[p] = js
		}
	}
	if offsets != nil {
		s.offsets = maps.Clone(offsets)
	}
	for k, v := range kept {
		if v == nil {
			delete(s.kept, k)
		} else {
			s.kept[k] = append([]byte(nil), v...)
		}
	}
	s.clock = clock
}

// rememberDistinct applies a key of distinct() to what the next snapshot
// writes (nil values: forgotten).
// vals is kept, not copied: a save's changes are its own.
func (s *Store) rememberDistinct(key string, vals []pipeline.Sighted) {
	if len(vals) == 0 {
		delete(s.distinct, key)
		return
	}
	s.distinct[key] = vals
}

// append writes a record at the end of the log and syncs it. A failed
// write (a full disk) leaves the log as it was: the record is cut off
// again, and the next append writes where this one began.
func (s *Store) append(rec []byte) error {
	if s.logGen != s.gen {
		// The snapshot is in place but its log could not be started.
		if err := s.newLog(s.gen); err != nil {
			return err
		}
	}
	if _, err := s.log.WriteAt(rec, s.logSize); err != nil {
		s.log.Truncate(s.logSize)
		return fmt.Errorf("save state: %w", err)
	}
	if err := s.log.Sync(); err != nil {
		s.log.Truncate(s.logSize)
		return fmt.Errorf("save state: %w", err)
	}
	s.logSize += int64(len(rec))
	return nil
}

// WantsSnapshot reports whether the log has grown past the snapshot: the
// next save should be a whole state (see Snapshot, SaveSnapshot).
func (s *Store) WantsSnapshot() bool {
	return s.logSize > minCompact && s.logSize > s.snapSize
}

// Snapshot is a whole state's windows and lines, encoded as they are
// given (on the engine's goroutine, see pipeline.Engine.TakeState) to be
// committed by SaveSnapshot (on another). One from StartSnapshot writes
// them to the new snapshot's file as they come, a megabyte at a time: a
// million windows never sit in memory twice.
type Snapshot struct {
	recs []byte // in memory (NewSnapshot)
	f    *os.File
	bw   *bufio.Writer
	gen  uint64
	err  error
	enc  encoder
	n    int
}

// NewSnapshot starts an empty snapshot, kept in memory.
func NewSnapshot() *Snapshot { return &Snapshot{} }

// StartSnapshot starts a snapshot written to its file as it is built;
// windows is about how many it will hold (a restore sizes its maps by
// it). Commit it with SaveSnapshot, or drop it with Abort.
func (s *Store) StartSnapshot(windows int) (*Snapshot, error) {
	f, err := os.OpenFile(s.path(snapName+".tmp"), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("save state: %w", err)
	}
	sn := &Snapshot{f: f, bw: bufio.NewWriterSize(f, chunkSize), gen: s.gen + 1}
	sn.write(header(kindSnapshot, sn.gen))
	sn.write(frame(nil, hint(windows)))
	return sn, nil
}

func hint(windows int) []byte {
	var e encoder
	e.tag('H')
	e.uvarint(uint64(windows))
	return e.b
}

func (sn *Snapshot) write(b []byte) {
	if sn.err == nil {
		_, sn.err = sn.bw.Write(b)
	}
}

// writeRecord writes payload as a record, its frame and then itself,
// without a framed copy of a megabyte for each.
func (sn *Snapshot) writeRecord(payload []byte) {
	h := frameHeader(payload)
	sn.write(h[:])
	sn.write(payload)
}

// Abort drops a snapshot that will not be committed.
func (sn *Snapshot) Abort() {
	if sn.f != nil {
		sn.f.Close()
		os.Remove(sn.f.Name())
		sn.f = nil
	}
}

// Window adds a window.
func (sn *Snapshot) Window(w *pipeline.WindowState) {
	sn.enc.window(w)
	sn.n++
	sn.flush(chunkSize)
}

// Lines adds evidence lines, in the order of their numbers.
func (sn *Snapshot) Lines(ls []pipeline.EvidenceLine) {
	for _, l := range ls {
		sn.enc.line(l)
		sn.flush(chunkSize)
	}
}

// Stream sets the evidence stream's position.
func (sn *Snapshot) Stream(next, bytes uint64) {
	if next > 0 {
		sn.enc.stream(next, bytes)
	}
}

// Windows is the number of windows added.
func (sn *Snapshot) Windows() int { return sn.n }

func (sn *Snapshot) flush(over int) {
	if len(sn.enc.b) <= over {
		return
	}
	if sn.f != nil {
		sn.writeRecord(sn.enc.b)
	} else {
		sn.recs = frame(sn.recs, sn.enc.b)
	}
	sn.enc.reset()
}

// SaveSnapshot commits a whole state: sn's windows and lines, the ledger's
// targets as saved so far with ch's changes, offsets, kept and the clock,
// in a new snapshot, and starts a new log with the windows and lines ch
// holds (those that changed after sn was taken). On an error the
// snapshot may or may not be in place, and the whole is to be saved
// again: both are whole states that hold the last commit.
func (s *Store) SaveSnapshot(sn *Snapshot, ch pipeline.Changes, offsets map[string]json.RawMessage, clock time.Time, kept map[string][]byte) error {
	return s.saveSnapshot(sn, ch, offsets, clock, kept, false)
}

// saveSnapshot is SaveSnapshot; whole: ch's targets are all there are.
func (s *Store) saveSnapshot(sn *Snapshot, ch pipeline.Changes, offsets map[string]json.RawMessage, clock time.Time, kept map[string][]byte, whole bool) error {
	if err := s.ensureLoaded(); err != nil {
		return err
	}
	targets, err := encodeTargets(ch.Targets)
	if err != nil {
		return err
	}
	oldTargets, oldOffsets, oldKept, oldClock, oldDistinct := s.targets, s.offsets, s.kept, s.clock, s.distinct
	s.targets, s.offsets, s.kept, s.distinct = maps.Clone(s.targets), maps.Clone(s.offsets), maps.Clone(s.kept), maps.Clone(s.distinct)
	if whole {
		s.targets, s.distinct = map[netip.Prefix][]byte{}, map[string][]pipeline.Sighted{}
	}
	s.remember(targets, offsets, clock, kept)
	for _, d := range ch.Distinct {
		s.rememberDistinct(d.Key, d.Values)
	}
	sn.flush(0)
	if err := s.writeSnapshot(sn); err != nil {
		s.targets, s.offsets, s.kept, s.clock, s.distinct = oldTargets, oldOffsets, oldKept, oldClock, oldDistinct
		return err
	}
	s.windows = sn.n > 0
	if len(ch.Windows)+len(ch.GoneWindows)+len(ch.Lines) == 0 {
		return nil
	}
	rest := pipeline.Changes{Windows: ch.Windows, GoneWindows: ch.GoneWindows, Lines: ch.Lines, Next: ch.Next, Bytes: ch.Bytes}
	return s.SaveWith(rest, nil, clock, nil)
}

// writeSnapshot commits sn as the snapshot of the next generation, with
// what the store holds in memory (targets, checkpoints, kept records,
// clock), then starts its empty log.
func (s *Store) writeSnapshot(sn *Snapshot) error {
	defer sn.Abort()
	if sn.f == nil {
		f, err := os.OpenFile(s.path(snapName+".tmp"), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return fmt.Errorf("save state: %w", err)
		}
		sn.f, sn.bw, sn.gen = f, bufio.NewWriterSize(f, chunkSize), s.gen+1
		sn.write(header(kindSnapshot, sn.gen))
		sn.write(frame(nil, hint(sn.n)))
		sn.write(sn.recs)
	}
	if sn.gen != s.gen+1 {
		return errors.New("save state: a snapshot taken before another was committed")
	}
	// The targets, kept records and distinct keys go in records of about
	// chunkSize, as the windows do: a record is read whole, and the
	// buffer that builds them is a megabyte however many there are.
	e := &s.snapEnc
	e.reset()
	flush := func(over int) {
		if len(e.b) > over {
			sn.writeRecord(e.b)
			e.b = e.b[:0]
		}
	}
	e.clock(s.clock)
	for p, js := range s.targets {
		e.target(p, js)
		flush(chunkSize)
	}
	e.offsets(s.offsets)
	for k, v := range s.kept {
		e.kept(k, v)
		flush(chunkSize)
	}
	for k, vals := range s.distinct {
		e.distinct(k, vals)
		flush(chunkSize)
	}
	e.tag('E')
	flush(0)
	err := sn.err
	if err == nil {
		err = sn.bw.Flush()
	}
	if err == nil {
		err = sn.f.Sync()
	}
	var size int64
	if fi, serr := sn.f.Stat(); err == nil && serr == nil {
		size = fi.Size()
	}
	if err == nil {
		err = os.Rename(sn.f.Name(), s.path(snapName))
	}
	if err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	s.syncDir()
	s.gen, s.snapSize = sn.gen, size
	// A crash from here until the new log is in place leaves the old
	// log, of the previous generation: it is ignored (errStale).
	return s.newLog(sn.gen)
}

// newLog starts an empty log of generation gen.
func (s *Store) newLog(gen uint64) error {
	tmp := s.path(logName + ".tmp")
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	h := header(kindLog, gen)
	_, err = f.Write(h)
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = os.Rename(tmp, s.path(logName))
	}
	if err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("save state: %w", err)
	}
	s.syncDir()
	if s.log != nil {
		s.log.Close()
	}
	s.log, s.logSize, s.logSeq, s.logGen = f, int64(len(h)), 0, gen
	return nil
}

func (s *Store) syncDir() {
	if d, err := os.Open(s.dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// Kept returns the records SaveWith kept.
func (s *Store) Kept() (map[string][]byte, error) {
	if err := s.ensureLoaded(); err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(s.kept))
	for k, v := range s.kept {
		out[k] = append([]byte(nil), v...)
	}
	return out, nil
}

// Close closes the files and releases the directory.
func (s *Store) Close() error {
	var err error
	if s.log != nil {
		err = s.log.Close()
	}
	return errors.Join(err, s.lock.Close())
}
