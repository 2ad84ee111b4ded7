// Package store persists the engine's state: active bans, offense
// history, sliding windows, the evidence lines they quote and the
// sources' checkpoints, all of one save in one record so they always
// agree.
//
// The state is a snapshot (state.snap) and a log of the saves since
// (state.log). A save appends one record to the log and syncs it; a
// record cut short by a crash fails its checksum and is dropped at the
// next start, with everything after it, so the store holds the last
// synced save whole. When the log has grown past the snapshot, the next
// save writes a new snapshot (to a new file, synced, then renamed over
// the old one) and starts a new log: the files stay about twice the state
// at most. A window costs about 25 bytes, its evidence lines once each in
// the stream they share, not a copy per window; reading it back is
// sequential, with no file mapped into memory.
package store

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

const (
	snapName = "state.snap"
	logName  = "state.log"
	lockName = "state.lock"
	// minCompact is the log size below which no snapshot is written.
	minCompact = 4 << 20
)

// Store is the daemon's state in its state directory.
type Store struct {
	dir  string
	lock *os.File

	gen      uint64
	logGen   uint64 // the generation of the log open for appending
	log      *os.File
	logSize  int64 // the end of the last whole record
	logSeq   uint64
	snapSize int64
	loaded   bool
	windows  bool     // some record of this generation holds windows
	older    []string // files read in an older format (upgradeHeaders)

	// What a snapshot writes besides the engine's windows and lines.
	targets map[netip.Prefix][]byte
	offsets map[string]json.RawMessage
	kept    map[string][]byte
	// distinct is what distinct() saw, by key.
	distinct map[string][]pipeline.Sighted
	clock    time.Time

	enc encoder
	// snapEnc builds a snapshot's last records (targets, kept, distinct).
	snapEnc encoder
}

// Open opens or creates the state in dir (mode 0600 files in a 0700
// directory). Only one process may hold it: a second stockade on the same
// directory fails at once, clearly. A state.db of an older stockade is
// upgraded to the new files (see upgrade).
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	lf, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open state: %w", err)
	}
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lf.Close()
		return nil, fmt.Errorf("%s is in use by another stockade", dir)
	}
	s := &Store{dir: dir, lock: lf}
	// What a crash left half written: never read, started again.
	os.Remove(s.path(snapName + ".tmp"))
	os.Remove(s.path(logName + ".tmp"))
	if err := s.init(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("state %s: %w", dir, err)
	}
	return s, nil
}

// init makes sure a snapshot exists: a new empty one, or one upgraded
// from an older stockade's state.db.
func (s *Store) init() error {
	s.targets, s.offsets, s.kept = map[netip.Prefix][]byte{}, map[string]json.RawMessage{}, map[string][]byte{}
	s.distinct = map[string][]pipeline.Sighted{}
	if _, err := os.Stat(s.path(snapName)); err == nil {
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if _, err := os.Stat(s.path(legacyName)); err == nil {
		return s.upgrade()
	}
	return s.writeSnapshot(NewSnapshot())
}

// Exists reports whether dir holds a state (of this stockade or, to
// upgrade, an older one).
func Exists(dir string) bool {
	for _, n := range []string{snapName, legacyName} {
		if _, err := os.Stat(filepath.Join(dir, n)); err == nil {
			return true
		}
	}
	return false
}

func (s *Store) path(name string) string { return filepath.Join(s.dir, name) }

// Path is the snapshot file.
func (s *Store) Path() string { return s.path(snapName) }

// Size is the bytes the state takes on disk: the snapshot and the log.
func (s *Store) Size() int64 { return s.snapSize + s.logSize }

// State is everything a restart needs.
type State struct {
	Windows []pipeline.WindowState
	Targets []pipeline.TargetState
	Offsets map[string]json.RawMessage // source id → the source's own checkpoint
	Clock   time.Time                  // the engine's event clock at the save
	// Distinct is what distinct() saw (pipeline.Restorer.Distinct).
	Distinct []pipeline.DistinctState
}

// Restorer takes the windows and evidence lines of a load as they are
// read (pipeline.Restorer is one): a million windows are never held as
// WindowStates at once. One with an Expect(n int) method is told how
// many windows a snapshot holds before they come.
type Restorer interface {
	Window(ws *pipeline.WindowState)
	Gone(id string)
	Line(l pipeline.EvidenceLine)
	Stream(next, bytes uint64)
}

// LoadInto reads the last committed state: windows and evidence lines go
// to r as they are read, and the returned State holds the rest (no
// Windows). A record that does not decode (a bug, or a hand-edited file)
// is skipped and counted, not fatal: losing a few windows is better than
// refusing to start a firewall.
func (s *Store) LoadInto(r Restorer) (State, int, error) {
	bad, err := s.load(r)
	if err != nil {
		return State{}, bad, err
	}
	st := State{Offsets: map[string]json.RawMessage{}, Clock: s.clock}
	for k, v := range s.offsets {
		st.Offsets[k] = v
	}
	for k, vals := range s.distinct {
		st.Distinct = append(st.Distinct, pipeline.DistinctState{Key: k, Values: slices.Clone(vals)})
	}
	for _, js := range s.targets {
		var t pipeline.TargetState
		if json.Unmarshal(js, &t) != nil {
			bad++
			continue
		}
		st.Targets = append(st.Targets, t)
	}
	return st, bad, nil
}

// Load is LoadInto with the windows collected in State.Windows, each
// quoting its evidence lines (for tools and tests; the daemon restores
// with LoadInto).
func (s *Store) Load() (State, int, error) {
	c := &collector{windows: map[string]pipeline.WindowState{}, lines: map[uint64]string{}}
	st, bad, err := s.LoadInto(c)
	if err != nil {
		return st, bad, err
	}
	for _, w := range c.windows {
		for _, q := range w.Lines {
			if l, ok := c.lines[q]; ok {
				w.Evidence = append(w.Evidence, l)
			}
		}
		if w.Evidence == nil {
			w.Evidence = []string{}
		}
		w.Lines = nil
		st.Windows = append(st.Windows, w)
	}
	return st, bad, nil
}

type collector struct {
	windows map[string]pipeline.WindowState
	lines   map[uint64]string
}

func (c *collector) Window(ws *pipeline.WindowState) {
	w := *ws
	w.Times = append([]int64(nil), ws.Times...)
	w.Lines = append([]uint64(nil), ws.Lines...)
	w.Evidence = append([]string(nil), ws.Evidence...)
	c.windows[w.ID()] = w
}
func (c *collector) Gone(id string)               { delete(c.windows, id) }
func (c *collector) Line(l pipeline.EvidenceLine) { c.lines[l.Seq] = l.Line }
func (c *collector) Stream(uint64, uint64)        {}

// load reads the snapshot and the log into memory (targets, checkpoints,
// kept records, clock) and r (windows and lines; nil: skipped), and
// opens the log for appending after its last whole record.
func (s *Store) load(r Restorer) (int, error) {
	s.targets, s.offsets, s.kept, s.clock = map[netip.Prefix][]byte{}, map[string]json.RawMessage{}, map[string][]byte{}, time.Time{}
	s.distinct = map[string][]pipeline.Sighted{}
	s.windows, s.older = false, nil
	bad, gen, size, err := s.readFile(snapName, kindSnapshot, 0, r)
	if err != nil {
		return bad, err
	}
	s.gen, s.snapSize = gen, size
	if s.log != nil {
		s.log.Close()
		s.log = nil
	}
	lbad, _, lsize, err := s.readFile(logName, kindLog, gen, r)
	bad += lbad
	switch {
	case errors.Is(err, os.ErrNotExist), errors.Is(err, errStale):
		// No log yet, or one from before the snapshot (a crash between
		// the snapshot's rename and the new log's): start one.
		if err := s.newLog(gen); err != nil {
			return bad, err
		}
	case err != nil:
		return bad, err
	default:
		f, err := os.OpenFile(s.path(logName), os.O_RDWR, 0o600)
		if err != nil {
			return bad, err
		}
		// Drop a torn end: the next save writes over it.
		if err := f.Truncate(lsize); err != nil {
			f.Close()
			return bad, err
		}
		s.log, s.logSize, s.logGen = f, lsize, gen
	}
	s.loaded = true
	return bad, s.upgradeHeaders()
}

// upgradeHeaders marks the files read in an older format as of this one
// (their records read the same; this one's add items the older does
// not know): an older stockade started on them now refuses them whole,
// by their version, rather than skipping every record it cannot read.
// One byte rewritten in place and synced: a crash leaves it old or new,
// both of which this stockade reads.
func (s *Store) upgradeHeaders() error {
	for _, name := range s.older {
		f, err := os.OpenFile(s.path(name), os.O_RDWR, 0o600)
		if err != nil {
			return err
		}
		_, err = f.WriteAt([]byte{formatVersion}, versionAt)
		if err == nil {
			err = f.Sync()
		}
		f.Close()
		if err != nil {
			return fmt.Errorf("upgrade %s to format %d: %w", name, formatVersion, err)
		}
	}
	s.older = nil
	return nil
}

var errStale = errors.New("stale log")

// readFile applies the records of one file. For the log, gen is the
// snapshot's generation, and reading stops at the first torn or
// out-of-sequence record (the end of what was synced); the size returned
// is the end of the last whole record.
func (s *Store) readFile(name string, kind byte, gen uint64, r Restorer) (bad int, fgen uint64, size int64, err error) {
	f, err := os.Open(s.path(name))
	if err != nil {
		return 0, 0, 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, 0, 0, err
	}
	br := bufio.NewReaderSize(f, 1<<20)
	h := make([]byte, headerSize)
	if _, err := io.ReadFull(br, h); err != nil {
		if kind == kindLog {
			return 0, 0, 0, errStale
		}
		return 0, 0, 0, fmt.Errorf("%s: %w", name, err)
	}
	k, fgen, err := parseHeader(h)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("%s: %w", name, err)
	}
	if h[versionAt] < formatVersion {
		s.older = append(s.older, name)
	}
	if k != kind {
		return 0, 0, 0, fmt.Errorf("%s: not a %c file", name, kind)
	}
	if kind == kindLog && fgen != gen {
		return 0, 0, 0, errStale
	}
	size = headerSize
	var buf []byte
	s.logSeq = 0
	ended := false
	for {
		p, err := readRecord(br, buf, fi.Size()-size-frameSize)
		if err == io.EOF || (err != nil && kind == kindLog) {
			break
		}
		if err != nil {
			return bad, fgen, size, fmt.Errorf("%s: a record at byte %d is corrupt", name, size)
		}
		buf = p
		d := decoder{b: p}
		if kind == kindLog {
			if d.uvarint() != s.logSeq+1 {
				break
			}
			s.logSeq++
		}
		end, err := s.apply(&d, r)
		if err != nil {
			bad++
		}
		ended = ended || end
		size += int64(frameSize + len(p))
	}
	if kind == kindSnapshot && !ended {
		return bad, fgen, size, fmt.Errorf("%s is incomplete", name)
	}
	return bad, fgen, size, nil
}

// apply applies one record's items; it reports whether it held the end
// of a snapshot.
func (s *Store) apply(d *decoder, r Restorer) (end bool, err error) {
	for len(d.b) > 0 && d.err == nil {
		switch tag := d.byte(); tag {
		case 'N':
			d.rules = append(d.rules, d.str())
		case 'W', 'V', 'G', 'L', 'S':
			s.applyWindows(tag, d, r)
		case 'T':
			s.applyTarget(d)
		case 'O':
			s.applyOffsets(d)
		case 'P':
			s.applyOffsetChanges(d)
		case 'K':
			k := d.str()
			if d.byte() == 0 {
				delete(s.kept, k)
			} else {
				s.kept[k] = append([]byte(nil), d.raw()...)
			}
		case 'D':
			if k, vals := d.distinct(); d.err == nil {
				s.rememberDistinct(k, vals)
			}
		case 'C':
			s.clock = fromUnixNano(d.varint())
		case 'H':
			n := d.uvarint()
			if x, ok := r.(interface{ Expect(int) }); ok && d.err == nil && n < 1<<28 {
				x.Expect(int(n))
			}
		case 'E':
			end = true
		default:
			d.fail()
		}
	}
	return end, d.err
}

// applyWindows applies an item of the engine's windows and lines.
func (s *Store) applyWindows(tag byte, d *decoder, r Restorer) {
	switch tag {
	case 'W', 'V':
		w := d.window(tag == 'V')
		s.windows = true
		if w != nil && d.err == nil && r != nil {
			r.Window(w)
		}
	case 'G':
		if id := d.str(); r != nil && d.err == nil {
			r.Gone(id)
		}
	case 'L':
		l := pipeline.EvidenceLine{Seq: d.uvarint(), At: d.uvarint()}
		l.Line = d.str()
		if r != nil && d.err == nil {
			r.Line(l)
		}
	case 'S':
		n, b := d.uvarint(), d.uvarint()
		if r != nil && d.err == nil {
			r.Stream(n, b)
		}
	}
}

func fromUnixNano(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

func (s *Store) applyTarget(d *decoder) {
	bits := int(d.byte())
	a, _ := d.addr()
	js := d.raw()
	if d.err != nil {
		return
	}
	p, err := a.Prefix(bits)
	if err != nil {
		d.fail()
		return
	}
	if len(js) == 0 {
		delete(s.targets, p)
		return
	}
	s.targets[p] = append([]byte(nil), js...)
}

func (s *Store) applyOffsetChanges(d *decoder) {
	n := d.uvarint()
	for range n {
		k := d.str()
		set := d.byte() == 1
		var v []byte
		if set {
			v = d.raw()
		}
		if d.err != nil {
			return
		}
		if set {
			s.offsets[k] = append(json.RawMessage(nil), v...)
		} else {
			delete(s.offsets, k)
		}
	}
}

func (s *Store) applyOffsets(d *decoder) {
	n := d.uvarint()
	m := map[string]json.RawMessage{}
	for range n {
		k := d.str()
		v := d.raw()
		if d.err != nil {
			return
		}
		m[k] = append(json.RawMessage(nil), v...)
	}
	s.offsets = m
}
