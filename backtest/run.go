// Package backtest replays logs through one or two rule sets and says what
// each decided: the record a report is drawn from, and the difference
// between an old and a new set of packs (`stockade replay --compare`).
package backtest

import (
	"cmp"
	"context"
	"errors"
	"io"
	"maps"
	"slices"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/sources"
)

// Side is what one rule set decided over the logs.
type Side struct {
	Name  string               // "old", "new", or "replay"
	Rules string               // the pack set, as given: "default", "mypacks/", "fail2ban:/etc/fail2ban"
	Stats []pipeline.RuleStats // per rule, in rule order
	Bans  []pipeline.Decision  // ban decisions, in the order they were made
	// Unbans counts the unban decisions (bans that ran out, with --unbans).
	Unbans int
}

// Source is one log replayed, with its bad lines by reason.
type Source struct {
	Path    string
	Format  string
	Lines   uint64
	Events  uint64
	Skipped uint64
	Bad     []sources.Reason
	// Warnings are what the replay could not do with the file (it shrank
	// while it was read, or it is a gzip archive cut short: see
	// sources.File.Warnings).
	Warnings []string
}

// Record is a replay or a comparison: its sources and one side per rule
// set. A report is drawn from it.
type Record struct {
	Sources []Source
	Sides   []*Side
	// Diff is set for a comparison of two sides.
	Diff *Diff
}

// Recorder is a sink that keeps the decisions it passes on (to Next, when
// set), for a report of a plain replay: the replay keeps its workers.
type Recorder struct {
	Next pipeline.Sink
	Side *Side
}

// Write keeps ds and passes them on.
func (r *Recorder) Write(ctx context.Context, ds []pipeline.Decision) error {
	r.Side.add(ds)
	if r.Next == nil {
		return nil
	}
	return r.Next.Write(ctx, ds)
}

// Close closes Next.
func (r *Recorder) Close(ctx context.Context) error {
	if r.Next == nil {
		return nil
	}
	return r.Next.Close(ctx)
}

func (s *Side) add(ds []pipeline.Decision) {
	for _, d := range ds {
		if d.Action == pipeline.ActionBan {
			s.Bans = append(s.Bans, d)
		} else {
			s.Unbans++
		}
	}
}

// SourcesOf gives the counts of files read to their end.
func SourcesOf(files []*sources.File) []Source {
	out := make([]Source, 0, len(files))
	for _, f := range files {
		c := f.Counts()
		bad := c.BadLines()
		slices.SortFunc(bad, func(a, b sources.Reason) int {
			return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Reason, b.Reason))
		})
		s := Source{Path: f.Path, Format: f.Format.String(), Lines: c.Lines, Events: c.Events, Skipped: c.Skipped, Bad: bad}
		s.Warnings = append(s.Warnings, f.Warnings()...)
		out = append(out, s)
	}
	return out
}

// Compare replays its once: each event is parsed once and judged by both
// engines (each on its own copy, since a matcher writes its captures into
// the event), on one goroutine, so both decide exactly what a replay with
// --workers 1 of their rules alone decides. It returns the two sides.
func Compare(ctx context.Context, old, new *pipeline.Engine, its []pipeline.Iterator) (*Side, *Side, error) {
	sides := []*Side{{Name: "old"}, {Name: "new"}}
	engines := []*pipeline.Engine{old, new}
	m, err := pipeline.NewMerge(its)
	if err != nil {
		return nil, nil, err
	}
	var own [2]pipeline.Event
	for n := 1; ; n++ {
		if n&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, nil, err
			}
		}
		ev, _, err := m.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		for i, e := range engines {
			copyEvent(&own[i], ev)
			sides[i].add(e.Process(&own[i]))
		}
	}
	for i, e := range engines {
		sides[i].add(e.Tick(e.Now()))
		sides[i].Stats = e.Stats()
	}
	return sides[0], sides[1], nil
}

// copyEvent makes dst a copy of src that a matcher may write into, reusing
// dst's captures map.
func copyEvent(dst, src *pipeline.Event) {
	c := dst.Captures
	clear(c)
	*dst = *src
	dst.Captures = nil
	if len(src.Captures) > 0 {
		if c == nil {
			c = make(map[string]string, len(src.Captures))
		}
		maps.Copy(c, src.Captures)
		dst.Captures = c
	}
	if dst.Captures == nil && c != nil {
		dst.Captures = c
	}
}
