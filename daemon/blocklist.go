package daemon

import (
	"context"
	"os"
	"strings"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/sources/blocklist"
)

// listUpdate is a list read by its source, on its way to the loop.
type listUpdate struct {
	l pipeline.ListImport
}

// blocklistSource reads a list file every period and hands it to the
// daemon's loop, which alone touches the engine.
type blocklistSource struct {
	cfg   blocklist.Config
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
