package daemon

import (
	"context"
	"fmt"
	"net/netip"
	"runtime/metrics"
	"slices"
	"sort"
	"time"

	"github.com/stockade-ids/stockade/control"
	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/rules"
)

// handle runs in the daemon loop: it alone touches the engine.
func (d *Daemon) handle(ctx context.Context, req control.Request) control.Reply {
	switch req.Op {
	case "ping":
		return control.Reply{OK: true, Message: "pong"}
	case "status":
		st := d.status(req.Rule)
		if req.Rule != "" && len(st.Rules) == 0 {
			return control.Reply{Error: fmt.Sprintf("no rule %q", req.Rule)}
		}
		return control.Reply{OK: true, Status: st}
	case "ban":
		return d.opBan(ctx, req)
	case "unban":
		return d.opUnban(ctx, req)
	case "bans":
		return d.opBans(req)
	case "history":
		return d.opHistory(req)
	case "import":
		return d.opImport(ctx, req)
	case "allow":
		return d.opAllow(ctx, req)
	case "reload":
		msg, err := d.reloadLogged(ctx, "control socket")
		if err != nil {
			return control.Reply{Error: err.Error()}
		}
		return control.Reply{OK: true, Message: msg}
	case "metrics":
		return control.Reply{OK: true, Metrics: d.metricsText()}
	}
	return control.Reply{Error: fmt.Sprintf("unknown op %q", req.Op)}
}

func (d *Daemon) status(only string) *control.Status {
	now := d.now()
	st := &control.Status{Since: d.started, Clock: d.eng.Now(), ActiveBans: d.eng.Ledger().Len(), Windows: d.eng.Counter().Len(), Bad: map[string]int{},
		Memory: d.memory.Now(), HeapBytes: heapBytes()}
	formats := map[string]string{}
	for _, t := range d.tailers {
		for _, fs := range t.Stats() {
			st.Files = append(st.Files, control.FileStatus{Path: fs.Path, Format: fs.Format.String(), Lines: fs.Lines, Offset: fs.Offset})
			formats[fs.Path] = fs.Format.String()
			for r, n := range fs.Bad {
				st.Bad[r] += int(n)
			}
		}
	}
	for _, s := range d.syslogs {
		u, t := s.Addrs()
		if u != nil {
			st.Listeners = append(st.Listeners, "udp://"+u.String())
		}
		if t != nil {
			st.Listeners = append(st.Listeners, "tcp://"+t.String())
		}
	}
	failing := d.eng.Counter().Failing(now)
	stats := d.eng.Stats()
	type ruleBans struct {
		list []string
		left map[string]int64
	}
	// The rules the reply lists only: a list's bans (list:NAME, no rule
	// of the matcher) are counted above and not written out.
	byRule := map[string]*ruleBans{}
	for _, p := range d.eng.Matcher().Policies() {
		if only == "" || p.Name == only {
			byRule[p.Name] = &ruleBans{list: []string{}, left: map[string]int64{}}
		}
	}
	d.eng.Ledger().EachActive(now, func(t netip.Prefix, rule string, expires time.Time) {
		rb := byRule[rule]
		if rb == nil {
			return
		}
		s, _ := pipeline.TargetString(t)
		rb.list = append(rb.list, s)
		rb.left[s] = int64(left(expires, now) / time.Second)
	})
	set, _ := d.eng.Matcher().(*rules.Set)
	for i, p := range d.eng.Matcher().Policies() {
		if only != "" && p.Name != only {
			continue
		}
		rs := control.RuleStatus{Rule: p.Name, Pack: p.Pack, CurrentlyFailing: failing[p.ID],
			TotalFailed: stats[i].Matches, TotalBanned: stats[i].Bans, FilesWatched: []string{}, BannedList: []string{}}
		if set != nil {
			// Each path has one format: a rule of several formats meets
			// it once at most (a search of the list for it was quadratic
			// in the files, 1.5 s of the daemon's loop for 5,000).
			for _, f := range set.Rules()[i].Formats {
				for path, pf := range formats {
					if pf == f.String() {
						rs.FilesWatched = append(rs.FilesWatched, path)
					}
				}
			}
			sort.Strings(rs.FilesWatched)
			rs.FilesWatched = slices.Compact(rs.FilesWatched)
		}
		rs.Left = map[string]int64{}
		if rb := byRule[p.Name]; rb != nil {
			rs.BannedList, rs.Left = rb.list, rb.left
		}
		sort.Strings(rs.BannedList)
		rs.CurrentlyBanned = len(rs.BannedList)
		st.Rules = append(st.Rules, rs)
	}
	return st
}

// heapBytes is the heap's objects now, live or not yet collected: read
// from runtime/metrics, which does not stop the world as ReadMemStats does.
func heapBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}
