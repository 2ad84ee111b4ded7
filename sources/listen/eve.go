package listen

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/stockade-ids/stockade/internal/yamlnode"
	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/sources"
	"github.com/stockade-ids/stockade/sources/suricata"
)

// Defaults of EveConfig's zero values.
const (
	DefaultEveMode  fs.FileMode = 0o600
	DefaultEveConns int         = 16
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
	Path string `yaml:"path"`
	// Type is Suricata's filetype: stream (unix_stream, the default) or
	// dgram (unix_dgram).
	Type string `yaml:"type"`
	// Mode is the socket's mode: "0600" (default) or "0660". Nothing
	// wider: every local user could then inject alerts.
	Mode string `yaml:"mode"`
	// Group, when set, owns the socket (a name or a gid): with mode 0660
	// its members may connect.
	Group string `yaml:"group"`
	// Writers are the users (names or uids) allowed to write besides root
	// and the daemon's own user: the user Suricata runs as.
	Writers []string `yaml:"writers"`
	// MaxRecord is the longest record in bytes (default sources.MaxLine);
	// a longer one is counted as bad ("line too long") and skipped.
	MaxRecord int `yaml:"max_record"`
	// MaxConns caps the connections open at once (default 16: Suricata
	// opens one per eve-log output, or per thread with threaded: yes).
	MaxConns int `yaml:"max_conns"`

	// Loc is the zone of timestamps written without one; HomeNet chooses
	// the side of an alert to ban (see sources/suricata). The daemon sets
	// them: they are not keys, nor part of what a reload compares.
	Loc     *time.Location   `yaml:"-" json:"-"`
	HomeNet suricata.HomeNet `yaml:"-" json:"-"`
	Log     *slog.Logger     `yaml:"-" json:"-"`
	Now     func() time.Time `yaml:"-" json:"-"`
}

// DecodeYAML takes `eve_socket: PATH` as well as the mapping, which the
// configuration's decoder reads as strictly as the rest of the file.
func (c *EveConfig) DecodeYAML(d *yamlnode.Decoder, n *yaml.Node, path string) {
	if n = yamlnode.Resolve(n); n.Kind == yaml.ScalarNode {
		d.Decode(n, yamlnode.Join(path, "path"), &c.Path)
		return
	}
	type plain EveConfig
	d.Decode(n, path, (*plain)(c))
}

// UnmarshalYAML is DecodeYAML for a plain yaml decoder: a mistyped key
// (`writer:`) is refused there too, not left at its default.
func (c *EveConfig) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		return n.Decode(&c.Path)
	}
	keys := yamlnode.Keys(reflect.TypeFor[EveConfig]())
	for i := 0; n.Kind == yaml.MappingNode && i+1 < len(n.Content); i += 2 {
		if k := n.Content[i].Value; keys[k] == nil {
			return fmt.Errorf("line %d: unknown key %q in eve_socket (known: %s)", n.Content[i].Line, k, strings.Join(yamlnode.SortedKeys(keys), ", "))
		}
	}
	type plain EveConfig
	return n.Decode((*plain)(c))
}

// Validate reports every problem of c, each with its key.
func (c EveConfig) Validate() error {
	_, ps := c.build()
	return ps.Err()
}

// EveSocket is the source of the eve records written to a unix socket.
// Its events' Source is the socket's path.
type EveSocket struct {
	cfg     EveConfig
	dgram   bool
	mode    fs.FileMode
	writers map[uint32]bool
	gid     int // -1: leave the group alone
	c       counters
	running atomic.Bool
	ready   chan struct{}
	once    sync.Once
}

// Reasons a writer's record is refused with, counted as bad records.
var (
	errNotWriter = pipeline.Bad("writer not allowed")
	errNoCred    = pipeline.Bad("no sender credentials")
)

// NewEveSocket checks cfg and returns the source; Run creates the socket.
// Every mistake of cfg is reported at once.
func NewEveSocket(cfg EveConfig) (*EveSocket, error) {
	s, ps := cfg.build()
	if err := ps.Err(); err != nil {
		return nil, err
	}
	return s, nil
}

// build is the source c describes, and what is wrong with c.
func (c EveConfig) build() (*EveSocket, yamlnode.Problems) {
	s := &EveSocket{cfg: c, mode: DefaultEveMode, writers: map[uint32]bool{0: true, uint32(os.Geteuid()): true}, gid: -1, ready: make(chan struct{})}
	var ps yamlnode.Problems
	if c.Path == "" || !filepath.IsAbs(c.Path) {
		ps.Add("path", "want the socket's absolute path, not %q", c.Path)
	}
	switch c.Type {
	case "", "stream", "unix_stream":
	case "dgram", "unix_dgram":
		s.dgram = true
	default:
		ps.Add("type", "want stream or dgram (Suricata's unix_stream or unix_dgram), not %q", c.Type)
	}
	if c.Mode != "" {
		m, err := strconv.ParseUint(c.Mode, 8, 32)
		s.mode = fs.FileMode(m)
		if err != nil || (s.mode != 0o600 && s.mode != 0o660) {
			ps.Add("mode", "want 0600 or 0660, not %q (a socket others can write to lets any local user inject alerts)", c.Mode)
		}
	}
	if s.mode == 0o660 && c.Group == "" {
		ps.Add("group", "mode 0660 needs a group: the group Suricata runs as")
	}
	for _, w := range c.Writers {
		uid, err := lookupID(w, user.Lookup, func(u *user.User) string { return u.Uid })
		if err != nil {
			ps.Add("writers", "%s", err)
			continue
		}
		s.writers[uint32(uid)] = true
	}
	if c.Group != "" {
		gid, err := lookupID(c.Group, user.LookupGroup, func(g *user.Group) string { return g.Gid })
		if err != nil {
			ps.Add("group", "%s", err)
		}
		s.gid = gid
	}
	if c.MaxRecord < 0 {
		ps.Add("max_record", "want a number of bytes above 0 (or none: %d)", sources.MaxLine)
	}
	if c.MaxConns < 0 {
		ps.Add("max_conns", "want a number above 0 (or none: %d)", DefaultEveConns)
	}
	s.cfg.MaxRecord = cmpOr(c.MaxRecord, sources.MaxLine)
	s.cfg.MaxConns = cmpOr(c.MaxConns, DefaultEveConns)
	if s.cfg.Log == nil {
		s.cfg.Log = slog.New(slog.DiscardHandler)
	}
	if s.cfg.Now == nil {
		s.cfg.Now = time.Now
	}
	return s, ps
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

// Ready is closed once the first Run has created the socket (or failed
// to).
func (s *EveSocket) Ready() <-chan struct{} { return s.ready }

func (s *EveSocket) markReady() { s.once.Do(func() { close(s.ready) }) }

// Stats returns the counts so far: Received records, Events, Skipped
// (records that are not alerts), Bad by reason; Accepted and Refused
// connections, Denied writers.
func (s *EveSocket) Stats() Counts { return s.c.snapshot() }

// Run creates the socket, reads records until ctx is done, then removes
// the socket. It returns nil on cancel and never closes out. A Run that
// failed (the path was taken) may be run again: the daemon restarts a
// failed source, and the socket is made anew.
func (s *EveSocket) Run(ctx context.Context, out chan<- pipeline.Event) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("listen: eve_socket: Run is running already")
	}
	defer s.running.Store(false)
	if s.dgram {
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
