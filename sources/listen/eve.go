package listen

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/user"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/sources"
	"github.com/stockade-ids/stockade/sources/suricata"
)

// Defaults of EveConfig's zero values.
const (
	DefaultEveMode  fs.FileMode = 0o600
	DefaultEveConns             = 16
)

// EveConfig configures an EveSocket: the socket Suricata's eve-log output
// writes to with `filetype: unix_stream` (one connection, records ending in
// a newline) or `filetype: unix_dgram` (one record per datagram). Suricata
// connects to the socket (and reconnects when it goes), so stockade
// creates it.
//
// Whoever can write to the socket chooses whom stockade bans, so who may
// is decided twice: by the file's mode (0600, the daemon's user alone, or
// 0660 with Group, e.g. suricata), and by the kernel's word on each writer
// (SO_PEERCRED for a connection, SCM_CREDENTIALS for a datagram), which
// must be root, the daemon's own user or one of Writers.
type EveConfig struct {
	// Path is where the socket is created (e.g. /run/suricata/eve.sock).
	Path string
	// Dgram reads unix_dgram output; false reads unix_stream.
	Dgram bool
	// Mode is the socket's mode: 0600 (default) or 0660. Nothing wider:
	// every local user could then inject alerts.
	Mode fs.FileMode
	// Group, when set, owns the socket (a name or a gid): with Mode 0660
	// its members may connect.
	Group string
	// Writers are the users (names or uids) allowed to write besides root
	// and the daemon's own user: the user Suricata runs as.
	Writers []string
	// MaxRecord is the longest record in bytes (default sources.MaxLine);
	// a longer one is counted as bad ("line too long") and skipped.
	MaxRecord int
	// MaxConns caps the connections open at once (default 16: Suricata
	// opens one per eve-log output, or per thread with threaded: yes).
	MaxConns int
	// Loc is the zone of timestamps written without one; HomeNet chooses
	// the side of an alert to ban (see sources/suricata).
	Loc     *time.Location
	HomeNet suricata.HomeNet
	Log     *slog.Logger
	Now     func() time.Time
}

// EveSocket is the source of the eve records written to a unix socket.
// Its events' Source is the socket's path.
type EveSocket struct {
	cfg     EveConfig
	writers map[uint32]bool
	gid     int // -1: leave the group alone
	c       counters
	started atomic.Bool
	ready   chan struct{}
}

// Errors a writer's message is refused with, counted as bad records.
var (
	errNotWriter = pipeline.Bad("writer not allowed")
	errNoCred    = pipeline.Bad("no sender credentials")
)

// NewEveSocket checks cfg and returns the source; Run creates the socket.
func NewEveSocket(cfg EveConfig) (*EveSocket, error) {
	if cfg.Path == "" {
		return nil, errors.New("eve_socket: a path is required")
	}
	if cfg.Mode == 0 {
		cfg.Mode = DefaultEveMode
	}
	if cfg.Mode != 0o600 && cfg.Mode != 0o660 {
		return nil, fmt.Errorf("eve_socket: mode %#o: want 0600 or 0660 (a socket others can write to lets any local user inject alerts)", cfg.Mode)
	}
	if cfg.Mode == 0o660 && cfg.Group == "" {
		return nil, errors.New("eve_socket: mode 0660 needs a group (the group Suricata runs as)")
	}
	cfg.MaxRecord = cmpOr(cfg.MaxRecord, sources.MaxLine)
	cfg.MaxConns = cmpOr(cfg.MaxConns, DefaultEveConns)
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &EveSocket{cfg: cfg, writers: map[uint32]bool{0: true, uint32(os.Geteuid()): true}, gid: -1, ready: make(chan struct{})}
	for _, w := range cfg.Writers {
		uid, err := lookupID(w, user.Lookup, func(u *user.User) string { return u.Uid })
		if err != nil {
			return nil, fmt.Errorf("eve_socket: writers: %w", err)
		}
		s.writers[uint32(uid)] = true
	}
	if cfg.Group != "" {
		gid, err := lookupID(cfg.Group, user.LookupGroup, func(g *user.Group) string { return g.Gid })
		if err != nil {
			return nil, fmt.Errorf("eve_socket: group: %w", err)
		}
		s.gid = gid
	}
	return s, nil
}

// lookupID reads a numeric id, or looks a name up.
func lookupID[T any](name string, lookup func(string) (T, error), id func(T) string) (int, error) {
	if n, err := strconv.ParseUint(name, 10, 31); err == nil {
		return int(n), nil
	}
	v, err := lookup(name)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(id(v))
}

func cmpOr(v, d int) int {
	if v > 0 {
		return v
	}
	return d
}

// Ready is closed once Run has created the socket (or failed to).
func (s *EveSocket) Ready() <-chan struct{} { return s.ready }

// Stats returns the counts so far: Received records, Events, Skipped
// (records that are not alerts), Bad by reason; Accepted and Refused
// connections, Denied writers.
func (s *EveSocket) Stats() Counts { return s.c.snapshot() }

// Run creates the socket, reads records until ctx is done, then removes
// the socket. It returns nil on cancel and never closes out.
func (s *EveSocket) Run(ctx context.Context, out chan<- pipeline.Event) error {
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("listen: eve_socket: Run called twice")
	}
	if s.cfg.Dgram {
		return s.runDgram(ctx, out)
	}
	return s.runStream(ctx, out)
}

// eveDecoder decodes one writer's records.
type eveDecoder struct {
	dec *sources.Decoder
	src string
	ev  pipeline.Event
}

func (s *EveSocket) newDecoder() *eveDecoder {
	dec := sources.NewDecoder(pipeline.FormatEve, s.cfg.Now(), s.cfg.Loc, &s.c.msgs)
	dec.SetMaxLine(0) // the reader bounds records by MaxRecord
	dec.SetHomeNet(s.cfg.HomeNet)
	return &eveDecoder{dec: dec, src: s.cfg.Path}
}

// deliver decodes rec, which the event will own, and sends the event; it
// returns false when ctx is done.
func (d *eveDecoder) deliver(ctx context.Context, rec []byte, out chan<- pipeline.Event) bool {
	ev := &d.ev
	*ev = pipeline.Event{}
	if o, _ := d.dec.Decode(rec, ev); o != sources.Event {
		return true
	}
	ev.Source = d.src
	select {
	case out <- *ev:
		return true
	case <-ctx.Done():
		return false
	}
}
