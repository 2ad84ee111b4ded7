package store

import (
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
		return s.SaveSnapshot(sn, ch, offsets, clock, kept)
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
		e.offsets(offsets)
	}
	for k, v := range kept {
		e.kept(k, v)
	}
	if err := s.append(frameInPlace(e.b)); err != nil {
		return err
	}
	s.logSeq++
	s.windows = s.windows || len(ch.Windows) > 0
	s.remember(targets, offsets, clock, kept)
	if !s.windows && s.WantsSnapshot() {
		// No window to ask the engine for (the enforcer keeps none): the
		// store has all it needs in memory.
		return s.SaveSnapshot(NewSnapshot(), pipeline.Changes{}, nil, clock, nil)
	}
	if len(e.b) > 4*chunkSize {
		e.b = nil // a flood's record is not kept for good
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

// append writes a record at the end of the log and syncs it. A failed
// write (a full disk) leaves the log as it was: the record is cut off
// again, and the next append writes where this one began.
func (s *Store) append(rec []byte) error {
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
// written by SaveSnapshot (on another).
type Snapshot struct {
	recs []byte
	enc  encoder
	n    int
}

// NewSnapshot starts an empty snapshot.
func NewSnapshot() *Snapshot { return &Snapshot{} }

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
	if len(sn.enc.b) > over {
		sn.recs = frame(sn.recs, sn.enc.b)
		sn.enc.reset()
	}
}

// SaveSnapshot commits a whole state: sn's windows and lines, the ledger's
// targets as saved so far with ch's changes, offsets, kept and the clock,
// in a new snapshot, and starts an empty log. On an error nothing changed:
// the old snapshot and log still hold the last commit.
func (s *Store) SaveSnapshot(sn *Snapshot, ch pipeline.Changes, offsets map[string]json.RawMessage, clock time.Time, kept map[string][]byte) error {
	if err := s.ensureLoaded(); err != nil {
		return err
	}
	targets, err := encodeTargets(ch.Targets)
	if err != nil {
		return err
	}
	old := *s
	s.targets, s.offsets, s.kept = maps.Clone(s.targets), maps.Clone(s.offsets), maps.Clone(s.kept)
	s.remember(targets, offsets, clock, kept)
	sn.flush(0)
	if err := s.writeSnapshot(sn.recs, s.gen+1); err != nil {
		s.targets, s.offsets, s.kept, s.clock = old.targets, old.offsets, old.kept, old.clock
		return err
	}
	s.windows = sn.n > 0
	return nil
}

// writeSnapshot writes a snapshot of generation gen: what the store holds
// in memory, then recs (windows and lines); then an empty log of gen.
func (s *Store) writeSnapshot(recs []byte, gen uint64) error {
	tmp := s.path(snapName + ".tmp")
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	var e encoder
	e.clock(s.clock)
	for p, js := range s.targets {
		e.target(p, js)
	}
	e.offsets(s.offsets)
	for k, v := range s.kept {
		e.kept(k, v)
	}
	head := frame(header(kindSnapshot, gen), e.b)
	tail := frame(nil, []byte{'E'})
	_, err = f.Write(head)
	if err == nil {
		_, err = f.Write(recs)
	}
	if err == nil {
		_, err = f.Write(tail)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, s.path(snapName))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("save state: %w", err)
	}
	s.syncDir()
	s.gen, s.snapSize = gen, int64(len(head)+len(recs)+len(tail))
	// A crash from here until the new log is in place leaves the old
	// log, of the previous generation: it is ignored (errStale).
	return s.newLog(gen)
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
	s.log, s.logSize, s.logSeq = f, int64(len(h)), 0
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
