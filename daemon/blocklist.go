package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/rules"
	"github.com/stockade-ids/stockade/sources/blocklist"
)

// BlocklistConfig is `sources: - blocklist: {path, every}`: a list of
// addresses and ranges (a plain list, a FireHOL netset, Spamhaus DROP)
// that a cron job or a package keeps current, read again every Every and
// applied as a whole: new entries are banned, entries gone from it are
// unbanned, the rest renewed. Its bans are under the rule list:NAME.
type BlocklistConfig struct {
	Path string `yaml:"path"`
	// Name names the list in its bans (list:NAME); default the file's
	// base name without extension.
	Name string `yaml:"name"`
	// Every is how often the file is read (default 1h).
	Every string `yaml:"every"`
	// For is how long a listed entry stays banned without a refresh
	// (default three times Every): a list that stops being updated lets
	// go of its bans, one that fails once does not.
	For string `yaml:"for"`
	// MaxEntries bounds the list (default 262144); entries past it are
	// skipped and counted.
	MaxEntries int `yaml:"max_entries"`
}

// settings are the list's name, period and ban length, with defaults.
func (c *BlocklistConfig) settings() (name string, every, dur time.Duration, err error) {
	name = c.Name
	if name == "" {
		name = strings.TrimSuffix(filepath.Base(c.Path), filepath.Ext(c.Path))
	}
	if err := checkListName(name); err != nil {
		return "", 0, 0, fmt.Errorf("name: %w", err)
	}
	every = time.Hour
	if c.Every != "" {
		if every, err = rules.ParseDuration(c.Every); err != nil || every < time.Second {
			return "", 0, 0, fmt.Errorf("every: want a duration such as 1h, not %q", c.Every)
		}
	}
	dur = 3 * every
	if c.For != "" {
		if dur, err = rules.ParseDuration(c.For); err != nil || dur < every {
			return "", 0, 0, fmt.Errorf("for: want a duration at least as long as every (%s), not %q", every, c.For)
		}
	}
	if c.Path == "" {
		return "", 0, 0, fmt.Errorf("path: the list file is required")
	}
	return name, every, dur, nil
}

// listUpdate is a list read by its source, on its way to the loop.
type listUpdate struct {
	l pipeline.ListImport
}

// blocklistSource reads a list file every period and hands it to the
// daemon's loop, which alone touches the engine.
type blocklistSource struct {
	cfg   BlocklistConfig
	name  string
	every time.Duration
	dur   time.Duration
	out   chan<- listUpdate
	d     *Daemon
}

func (b *blocklistSource) Run(ctx context.Context, _ chan<- pipeline.Event) error {
	t := time.NewTicker(b.every)
	defer t.Stop()
	for {
		b.read(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// read parses the file and sends it on. A list that cannot be read, or
// reads as empty, is not applied: its bans stay until their time runs
// out, rather than all going because a download was cut short.
func (b *blocklistSource) read(ctx context.Context) {
	f, err := os.Open(b.cfg.Path)
	if err != nil {
		b.d.log.Error("blocklist: cannot read the list; its bans stay until they run out", "list", b.name, "err", err)
		return
	}
	l, err := blocklist.Parse(f, blocklist.Limits{Entries: b.cfg.MaxEntries})
	f.Close()
	if err != nil {
		b.d.log.Error("blocklist: reading the list failed; its bans stay until they run out", "list", b.name, "err", err)
		return
	}
	if len(l.Skipped) > 0 {
		b.d.log.Warn("blocklist: lines skipped", "list", b.name, "skipped", l.Skipped, "first", strings.Join(l.Samples, "; "))
	}
	if len(l.Prefixes) == 0 {
		b.d.log.Error("blocklist: the list holds no entry; not applied, its bans stay until they run out", "list", b.name, "lines", l.Lines)
		return
	}
	u := listUpdate{pipeline.ListImport{Name: b.name, Targets: l.Prefixes, For: b.dur, Prune: true, Reason: "on the list " + b.name}}
	select {
	case b.out <- u:
	case <-ctx.Done():
	}
}

// applyList is the loop's side of a blocklist refresh.
func (d *Daemon) applyList(ctx context.Context, u listUpdate) {
	_, st := d.importList(ctx, u.l)
	d.log.Info("blocklist applied", "list", u.l.Name, "entries", len(u.l.Targets), "banned", st.Banned, "renewed", st.Renewed,
		"unchanged", st.Unchanged, "removed", st.Removed, "protected", st.Protected)
}
