// Package config reads stockade's configuration files: the daemon's
// (`stockade run --config`) and the enforcer's (`stockade enforce
// --config`). Each component owns its section (YAML tags and a Validate on
// its Config, a sample.yaml); this package holds the top level, the
// registry of source and sink kinds, and the loader, which reports every
// problem of a file in one pass, each as
//
//	file:line:col: sinks[0].exec.timeout: bad duration "10x" (use 90s, 10m, 1h, 7d, 1w)
//
// in the file's words, never a Go type's.
package config

import (
	"bytes"
	"errors"
	"github.com/stockade-ids/stockade/fleet"
	"io"
	"math"
	"net"
	"os"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/stockade-ids/stockade/internal/memlimit"
	"github.com/stockade-ids/stockade/internal/srcpos"
	"github.com/stockade-ids/stockade/internal/yamlnode"
	"github.com/stockade-ids/stockade/rules"
	"github.com/stockade-ids/stockade/sources/suricata"
)

// Daemon is `stockade run --config FILE`; deploy/stockade.reference.yaml
// documents every key.
type Daemon struct {
	StateDir string   `yaml:"state_dir"`
	Socket   string   `yaml:"socket"`
	Metrics  string   `yaml:"metrics"`
	Origin   string   `yaml:"origin"`
	TZ       string   `yaml:"tz"`
	Rules    []string `yaml:"rules"`
	// Packs selects which packs and rules of Rules run (see
	// rules.Selection); its names are checked when the packs load.
	Packs rules.Selection `yaml:"packs"`
	Allow []string        `yaml:"allow"`
	// Fleet lists the fleet's own hosts (firewalls, correlators, bus
	// servers not named below): never banned, like allow, so that a forged
	// line cannot cut the fleet apart.
	Fleet []string `yaml:"fleet"`
	// Unbans makes the engine emit an unban decision when a ban runs out
	// (for sinks that cannot expire bans by themselves, such as exec).
	Unbans  *bool    `yaml:"unbans"`
	Sources []Source `yaml:"sources"`
	Sinks   []Sink   `yaml:"sinks"`
	// SignKey is this sensor's signing key (an nkey seed file, mode 0600,
	// from `stockade keygen`).
	SignKey string `yaml:"sign_key"`
	// NATSServer hosts a NATS server (with JetStream) inside stockade.
	NATSServer *NATSServer `yaml:"nats_server"`
	// FollowAcks reads the firewalls' acks for the fleet's metrics
	// (stockade_fleet_firewalls_behind and per firewall, its lag).
	FollowAcks *fleet.FollowConfig `yaml:"follow_acks"`
	// MaxWindows bounds the sliding windows (addresses or keys with recent
	// failures) held in memory, about 150 bytes each: that many distinct
	// addresses all keep theirs; past it the least recent go, counted in
	// stockade_windows_overflow_total. Bans are never dropped. Default
	// DefaultMaxWindows; -1: no bound.
	MaxWindows int `yaml:"max_windows"`
	// HomeNet is the network the Suricata sensor protects; SuricataYAML,
	// a suricata.yaml whose HOME_NET joins it.
	HomeNet      []string `yaml:"home_net"`
	SuricataYAML string   `yaml:"suricata_yaml"`
	// AuditPerSecond is how many audit lines (bans, unbans, refusals) a
	// second writes one by one; past it a summary line a second counts
	// the rest. Default 50; -1: no limit.
	AuditPerSecond int `yaml:"audit_per_second"`
	// MemoryLimit is the Go runtime's soft memory limit: "300MiB", "1GiB",
	// "80%" (of the cgroup's memory.max/memory.high), "off". Default
	// DaemonMemoryLimit (scaled up with max_windows), kept under 90 % of
	// the cgroup's limit; GOMEMLIMIT in the environment wins.
	MemoryLimit string `yaml:"memory_limit"`

	// Path is the file it was read from: a reload reads it again.
	Path string
	// AllowFlags are --allow values given with the file: a reload, which
	// reads the allowlist from the file again, keeps them.
	AllowFlags []string

	at map[string]srcpos.Pos // where each top-level key is
}

// At is where the top-level key is written in the file (the file's start
// when it is not).
func (c *Daemon) At(key string) srcpos.Pos {
	if p, ok := c.at[key]; ok {
		return p
	}
	return srcpos.Pos{File: c.Path, Line: 1, Col: 1}
}

// DefaultMaxWindows is max_windows's default. Full, that is about 150 MB
// of live heap and a state of 40-60 MB (the bench's state row).
const DefaultMaxWindows = 1_000_000

// DaemonMemoryLimit is memory_limit:'s default for DefaultMaxWindows or
// fewer: 1,000,000 windows are about 140 MB of live heap and the rest of
// the daemon 40-60 MB, so a flood's garbage is collected before the heap
// doubles (GOGC=100 took it to 390 MB of RSS). On the bench's state row
// 224MiB held the RSS at 221-246 MB at the same CPU; 256MiB, 250-263 MB.
const DaemonMemoryLimit = 224 << 20

// MemoryDefault is the soft memory limit's default for these settings:
// DaemonMemoryLimit, grown in proportion past DefaultMaxWindows (a
// limit under the live heap costs CPU) and none when windows are not
// bounded (a cgroup's limit still bounds it, see memlimit.Resolve).
func (c *Daemon) MemoryDefault() int64 {
	switch w := c.MaxWindows; {
	case w < 0:
		return math.MaxInt64
	case w > DefaultMaxWindows:
		return int64(float64(DaemonMemoryLimit) * float64(w) / DefaultMaxWindows)
	}
	return DaemonMemoryLimit
}

// Memory is memory_limit: parsed (validated at load).
func (c *Daemon) Memory() memlimit.Setting {
	s, _ := memlimit.Parse(c.MemoryLimit)
	return s
}

// Load reads the daemon's configuration at path. Its error is a
// srcpos.Errors (every problem, file:line:col each) or the read's.
func Load(path string) (*Daemon, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse is Load on bytes already read; path names them in errors.
func Parse(path string, data []byte) (*Daemon, error) {
	var c Daemon
	root, d := decodeFile(path, data, &c, nil)
	if root != nil && !d.Exhausted() {
		c.validate(d, root)
	}
	d.Sort()
	if err := d.Errs.Err(); err != nil {
		return nil, err
	}
	c.Path = path
	return &c, nil
}

// syntaxLine is the position yaml.v3 writes into a syntax error's text,
// which the error's own position says already.
var syntaxLine = regexp.MustCompile(`^yaml: (line \d+: )?`)

// decodeFile parses data and decodes it into v, returning the document's
// top node (nil when it does not parse) and the decoder holding the
// problems found so far.
func decodeFile(path string, data []byte, v any, hints map[string]string) (*yaml.Node, *yamlnode.Decoder) {
	d := &yamlnode.Decoder{File: path, Errs: new(srcpos.Errors), Hints: hints}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		d.Errs.Add(yamlnode.ErrPos(path, err), "%s", syntaxLine.ReplaceAllString(err.Error(), ""))
		return nil, d
	}
	root := yamlnode.Resolve(&doc)
	if root.Kind == 0 { // an empty file: an empty mapping
		root = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: 1, Column: 1}
	}
	var more yaml.Node
	if err := dec.Decode(&more); err == nil {
		d.Add(&more, "", "a second document: the configuration is one (remove the ---)")
	}
	if root.Kind != yaml.MappingNode {
		d.Add(root, "", "want a mapping of settings at the top of the file, not %s", describeKind(root))
		return nil, d
	}
	d.Decode(root, "", v)
	return root, d
}

func describeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return "a single value"
	}
	return "this"
}

// validate adds the top level's problems; the sections validated
// themselves as they were decoded.
func (c *Daemon) validate(d *yamlnode.Decoder, root *yaml.Node) {
	c.at = map[string]srcpos.Pos{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		c.at[root.Content[i].Value] = d.Pos(root.Content[i+1])
	}
	ps := c.topProblems()
	if len(c.Sources) == 0 && !hasKey(root, "sources") {
		ps = append(ps[:0:0], ps...)
		for i := range ps {
			if ps[i].Key == "sources" {
				ps[i] = yamlnode.Problem{Msg: "no sources: name at least one under sources:"}
			}
		}
	}
	d.Report(root, "", ps.Err())
}

// Validate checks a configuration built in code (the one-line start,
// tests) as Load checks a file, without positions: each problem with its
// key.
func (c *Daemon) Validate() error {
	var ps yamlnode.Problems
	for i := range c.Sources {
		ps.Merge(yamlnode.Index("sources", i), entryProblems(&c.Sources[i], SourceKinds()))
	}
	for i := range c.Sinks {
		ps.Merge(yamlnode.Index("sinks", i), entryProblems(&c.Sinks[i], SinkKinds()))
	}
	ps = append(ps, c.topProblems()...)
	return ps.Err()
}

// entryProblems are those of an entry built in code: exactly one kind,
// and its section's own.
func entryProblems[E any](e *E, kinds []Kind[E]) error {
	var set []Kind[E]
	for _, k := range kinds {
		if k.Get(e) != nil {
			set = append(set, k)
		}
	}
	if len(set) != 1 {
		var ps yamlnode.Problems
		ps.Add("", "set exactly one of %s", KindNames(kinds))
		return ps
	}
	var ps yamlnode.Problems
	if v, ok := set[0].Get(e).(validator); ok {
		ps.Merge(set[0].Name, v.Validate())
	}
	if set[0].Inline {
		for i := range ps {
			ps[i].Key = strings.TrimPrefix(strings.TrimPrefix(ps[i].Key, set[0].Name), ".")
		}
	}
	return ps.Err()
}

// topProblems are the top level's problems; the sections' are their own.
func (c *Daemon) topProblems() yamlnode.Problems {
	var ps yamlnode.Problems
	if c.TZ != "" {
		if _, err := time.LoadLocation(c.TZ); err != nil {
			ps.Add("tz", "%q is not a time zone (Europe/Paris, UTC, ...)", c.TZ)
		}
	}
	if len(c.Sources) == 0 {
		ps.Add("sources", "no sources: name at least one")
	}
	if c.Metrics != "" {
		if _, _, err := net.SplitHostPort(c.Metrics); err != nil {
			ps.Add("metrics", "%q: want host:port (127.0.0.1:9477)", c.Metrics)
		}
	}
	ranges(&ps, "allow", c.Allow)
	ranges(&ps, "fleet", c.Fleet)
	if len(c.HomeNet) > 0 {
		if _, err := suricata.ParseHomeNet(strings.Join(c.HomeNet, ",")); err != nil {
			ps.Add("home_net", "%s", err)
		}
	}
	if c.SuricataYAML != "" {
		if _, err := suricata.LoadHomeNet(c.SuricataYAML); err != nil {
			ps.Add("suricata_yaml", "%s", err)
		}
	}
	if c.AuditPerSecond < -1 {
		ps.Add("audit_per_second", "%d: want a rate, 0 for the default (50) or -1 for no limit", c.AuditPerSecond)
	}
	if c.MaxWindows < -1 {
		ps.Add("max_windows", "%d: want a bound, 0 for the default (%d) or -1 for none", c.MaxWindows, DefaultMaxWindows)
	}
	if _, err := memlimit.Parse(c.MemoryLimit); err != nil {
		ps.Add("memory_limit", "%s", err)
	}
	if c.NATSServer != nil {
		ps.Merge("nats_server", c.NATSServer.Validate())
	}
	if c.FollowAcks != nil {
		ps.Merge("follow_acks", c.FollowAcks.Validate())
	}
	return ps
}

func hasKey(n *yaml.Node, key string) bool {
	return yamlnode.Find(n, key) != yamlnode.Resolve(n)
}

// EmitUnbans is whether the engine says when a ban runs out: unbans: when
// set, else true when an exec sink has an unban command (the firewall
// behind it cannot expire bans by itself).
func (c *Daemon) EmitUnbans() bool {
	if c.Unbans != nil {
		return *c.Unbans
	}
	for _, s := range c.Sinks {
		if s.Exec != nil && len(s.Exec.Unban) > 0 {
			return true
		}
	}
	return false
}

// Defaults fills in what the file left unset.
func (c *Daemon) Defaults() {
	if c.StateDir == "" {
		c.StateDir = "/var/lib/stockade"
	}
	if c.Socket == "" {
		c.Socket = c.StateDir + "/stockade.sock"
	}
	if c.Origin == "" {
		c.Origin, _ = os.Hostname()
	}
	switch {
	case c.MaxWindows == 0:
		c.MaxWindows = DefaultMaxWindows
	case c.MaxWindows < 0:
		c.MaxWindows = 0
	}
}
