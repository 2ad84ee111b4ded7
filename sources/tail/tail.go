// Package tail follows log files live, as fail2ban and CrowdSec do, and turns
// their lines into pipeline.Events without losing or double-reading a line.
//
// A followed file is known by its identity (device and inode), not its name:
// when logrotate renames auth.log away, the still-open descriptor is read to
// its end before the new auth.log is opened, and for a grace period after,
// because writers keep appending to the old file until they are told to
// reopen. A file that shrinks below the read offset, or whose first line
// changes, was truncated in place (copytruncate) and is read again from 0.
//
// On start, Checkpoints (stored by the daemon with the engine state) say
// where each file was read up to; a file rotated while the daemon was down is
// found among its siblings by the fingerprint of its first line and finished
// before the new file is read from its beginning.
package tail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/sources"
	"github.com/stockade-ids/stockade/sources/suricata"
)

// Checkpoint is where a file was read up to; the daemon stores it in its
// state store together with the engine state, and hands it back on start.
type Checkpoint struct {
	// Path is the path the file was followed under: the Event.Source of its
	// lines, even after it was renamed away by rotation.
	Path string
	// Fingerprint hashes the file's first line (up to the first '\n', at
	// most 4 KiB): it identifies the file across renames. 0 for an empty
	// file, or one whose first line is not complete yet.
	Fingerprint uint64
	// Offset is the bytes consumed: the next line starts here.
	Offset int64
}

// Config says which files to follow and how.
type Config struct {
	// Globs name the files to follow (/var/log/auth.log,
	// /var/log/nginx/*access.log); files that come to match later are picked
	// up too.
	Globs []string
	// Format forces the format; FormatUnknown detects it per file from its
	// first lines. A file whose format cannot be detected yet (it is empty,
	// or holds only a partial line) is tried again when it grows.
	Format pipeline.Format
	// Loc is the zone of timestamps written without one; nil is time.Local.
	Loc *time.Location
	// HomeNet is what a Suricata alert never bans (see suricata.HomeNet).
	HomeNet suricata.HomeNet
	// Web are the options of web access logs (log_format, real_ip_from);
	// a log_format makes the files access logs unless Format is given.
	Web sources.Web
	// Checkpoints are the resume points from the state store.
	Checkpoints []Checkpoint
	// StartAtEnd applies to a file present at start that has no checkpoint:
	// start at its end (true) or its beginning (false). Files that appear
	// later are always read from the beginning.
	StartAtEnd bool
	// Poll is the stat interval, 250ms by default. Rotation and new files
	// are looked for at this pace; inotify, when available, only makes
	// appended lines arrive sooner.
	Poll time.Duration
	// Log receives what happens to files (rotation, truncation, formats);
	// nil discards it.
	Log *slog.Logger
	// Now is the wall clock, which dates syslog lines that carry no year;
	// nil is time.Now.
	Now func() time.Time
}

const (
	defaultPoll = 250 * time.Millisecond
	// graceFactor times Poll (5s by default, at most maxGrace) is how long
	// a file renamed away or deleted is still read after its last growth:
	// the writer appends to it until it reopens its log (rsyslog on HUP,
	// nginx on USR1), and those lines are as real as any.
	graceFactor = 20
	maxGrace    = time.Minute
	// readBuf is the shared read buffer; a line longer than it is carried
	// over in the follower's pending buffer, bounded by MaxLine.
	readBuf = 256 << 10
	// budget is how much one file may read before the others get a turn,
	// so one file's backlog does not starve the rest.
	budget = 1 << 20
	// minScanGap is the least time between two scans that events ask for
	// (see Run).
	minScanGap = 10 * time.Millisecond
	// headSize is how much of a file's head format detection looks at.
	headSize = 64 << 10
)

// Tailer follows the files of one Config. Its Run is called once; Stats and
// Checkpoints may be called from any goroutine.
type Tailer struct {
	cfg   Config
	log   *slog.Logger
	grace time.Duration

	running  atomic.Bool
	out      chan<- pipeline.Event
	buf      []byte
	ev       pipeline.Event        // parsed into, then sent by value
	openErrs map[string]string     // last open error per path
	noWatch  bool                  // tests: poll only
	ids      map[fileKey]*follower // the files by identity, for the scan

	mu    sync.Mutex  // guards files, bySource, paths and gone for Stats and Checkpoints
	files []*follower // in the order they were opened
	// bySource are the files by Event.Source, in the same order: a save
	// asks which file each source's last line came from.
	bySource map[string][]*follower
	paths    map[string]*pathStats
	gone     map[string][]fileMark // files let go, per source path
}

// New checks cfg and returns a Tailer. It does no I/O: files are opened by
// Run.
func New(cfg Config) (*Tailer, error) {
	if len(cfg.Globs) == 0 {
		return nil, errors.New("tail: no files to follow")
	}
	globs := make([]string, len(cfg.Globs))
	for i, g := range cfg.Globs {
		if _, err := filepath.Match(g, ""); err != nil {
			return nil, fmt.Errorf("tail: glob %q: %w", g, err)
		}
		globs[i] = filepath.Clean(g)
	}
	cfg.Globs = globs
	cfg.Format = cfg.Web.Format(cfg.Format)
	if cfg.Format != pipeline.FormatUnknown && sources.NewParser(cfg.Format, time.Time{}, time.UTC) == nil {
		return nil, fmt.Errorf("tail: unknown format %d", cfg.Format)
	}
	cps := make([]Checkpoint, len(cfg.Checkpoints))
	for i, cp := range cfg.Checkpoints {
		if cp.Offset < 0 {
			return nil, fmt.Errorf("tail: checkpoint for %s: negative offset %d", cp.Path, cp.Offset)
		}
		cp.Path = filepath.Clean(cp.Path)
		cps[i] = cp
	}
	cfg.Checkpoints = cps
	if cfg.Poll <= 0 {
		cfg.Poll = defaultPoll
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Tailer{
		cfg:   cfg,
		log:   cfg.Log,
		grace: min(graceFactor*cfg.Poll, maxGrace),
		paths: map[string]*pathStats{},
		gone:  map[string][]fileMark{},
		ids:   map[fileKey]*follower{},

		bySource: map[string][]*follower{},
	}, nil
}

// Run follows the files until ctx is done, sending each event on out. It
// never closes out and returns nil on cancel. Each event owns its memory, so
// it stays valid after the send; ev.Source is the path the file is followed
// under and ev.Offset the offset just after the line in that file.
//
// A full out blocks Run: lines wait in their files, not in memory.
//
// A file started at its end (StartAtEnd, no checkpoint) is announced first
// by a position event (IsPosition): no line, only Source and the Offset it
// starts at, so that the caller can checkpoint it before any of its lines'
// effects exist.
func (t *Tailer) Run(ctx context.Context, out chan<- pipeline.Event) error {
	if !t.running.CompareAndSwap(false, true) {
		return errors.New("tail: Run called twice")
	}
	t.out = out
	t.buf = make([]byte, readBuf)
	t.openErrs = map[string]string{}
	defer t.closeAll()

	w := t.newWatcher()
	defer w.close()

	// Every error below is ctx's: a file that cannot be read is logged and
	// retried, never fatal.
	if t.start(ctx, w) != nil {
		return nil
	}
	tick := time.NewTicker(t.cfg.Poll)
	defer tick.Stop()
	// A file created, renamed or removed calls for a scan, a stat of every
	// matched path; a logrotate run over thousands of logs is thousands of
	// such events. So scans come at most every gap: ten times what the last
	// one took (at least minScanGap, at most the poll), a tenth of the
	// time at most. An event within the gap has one scan at its end.
	var (
		lastScan time.Time
		gap      time.Duration
		due      <-chan time.Time
	)
	scan := func() error {
		start := time.Now()
		err := t.scan(ctx, w, nil)
		lastScan = time.Now()
		gap = min(max(10*lastScan.Sub(start), minScanGap), t.cfg.Poll)
		due = nil
		return err
	}
	read := true
	for {
		if read && t.readAll(ctx) != nil {
			return nil
		}
		read = true
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if scan() != nil {
				return nil
			}
		case <-due:
			if scan() != nil {
				return nil
			}
		case ev := <-w.events():
			if w.structural(ev) {
				if wait := gap - time.Since(lastScan); wait > 0 {
					if due == nil {
						due = time.After(wait)
					}
					read = false
					break
				}
				if scan() != nil {
					return nil
				}
				break
			}
			// A write: read the files followed at that name, not every
			// file (with thousands of logs, every write would stat them
			// all); another file in a watched directory is nothing.
			read = false
			if t.readFiles(ctx, w.names[ev.Name]) != nil {
				return nil
			}
		case err := <-w.errors():
			// An overflowed queue loses wake-ups, not lines: the poll
			// still finds them.
			t.log.Debug("inotify", "err", err)
			read = false
		}
	}
}

// IsPosition reports whether ev is a position event rather than a line.
func IsPosition(ev *pipeline.Event) bool { return ev.Line == "" && ev.Format == pipeline.FormatUnknown }

// closeAll releases the files but keeps the followers, so Checkpoints after
// Run returns says exactly what was sent.
func (t *Tailer) closeAll() {
	for _, f := range t.files {
		f.fd.Close()
	}
}
