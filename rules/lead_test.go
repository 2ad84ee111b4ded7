package rules

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/internal/testcorpus"
	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/sources"
)

// allPacksSet is the built-in packs with every rule that is off by
// default turned on.
func allPacksSet(t *testing.T) *Set {
	t.Helper()
	s, err := NewSet(DefaultPacksAllOn(t)...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestLeadKeepsEveryHit: a Set whose failregexes are ruled out by a
// line's first byte (see regex.LeadOf) judges every line of the corpus's
// logs (fail2ban's filter samples, the CrowdSec hub's tests) as one that
// tries them all does: the same hits, targets and captures.
func TestLeadKeepsEveryHit(t *testing.T) {
	var logs []string
	for _, dir := range []string{"fail2ban__fail2ban/fail2ban/tests/files/logs", "crowdsecurity__hub/tests"} {
		root := testcorpus.Path(t, dir)
		filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() && filepath.Ext(p) != ".yaml" && filepath.Ext(p) != ".md" {
				logs = append(logs, p)
			}
			return nil
		})
	}
	led, all := allPacksSet(t), allPacksSet(t)
	anchored := 0
	for _, r := range all.rules {
		if m, ok := r.m.(*nativeMatcher); ok {
			if m.lead != nil {
				anchored++
			}
			m.lead = nil
		}
	}
	if anchored == 0 {
		t.Fatal("no built-in rule has an anchored failregex: the test compares nothing")
	}
	// Every program a rule listens to, to judge each syslog message as
	// if each had written it: every failregex meets every message.
	var programs []string
	for _, r := range all.rules {
		for _, p := range r.Programs {
			if !slices.Contains(programs, p) && !strings.ContainsAny(p, "*?[") {
				programs = append(programs, p)
			}
		}
	}
	lines, hits := 0, 0
	same := func(log string, ev *pipeline.Event) {
		a := slices.Clone(led.Match(ev, nil))
		b := all.Match(ev, nil)
		if !slices.EqualFunc(a, b, sameHit) {
			t.Fatalf("%s: %s: %q: with the lead sets %+v, trying every failregex %+v", log, ev.Program, ev.Line, a, b)
		}
		hits += len(a)
	}
	// Each log as its format is detected, and as syslog (fail2ban's
	// samples start with comments, which detection reads as no format).
	for _, log := range logs {
		for _, format := range []pipeline.Format{pipeline.FormatUnknown, pipeline.FormatSyslog} {
			f, err := sources.Open(log, sources.Options{Loc: time.UTC, Format: format})
			if err != nil {
				continue // not a log the sources read
			}
			var ev pipeline.Event
			for {
				ev.Reset()
				err := f.Next(&ev)
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					continue
				}
				lines++
				same(log, &ev)
				if ev.Format == pipeline.FormatSyslog {
					for _, p := range programs {
						ev.Program = p
						same(log, &ev)
					}
				}
			}
			f.Close()
		}
	}
	t.Logf("%d lines of %d logs (syslog ones as each of %d programs), %d hits, the same either way (%d rules with anchored failregexes)",
		lines, len(logs), len(programs), hits, anchored)
	if lines < 3_000 || hits < 3_000 {
		t.Errorf("only %d lines and %d hits compared", lines, hits)
	}
}

func sameHit(a, b pipeline.Hit) bool {
	return a.Policy.Name == b.Policy.Name && a.Target == b.Target && a.Key == b.Key && a.Weight == b.Weight &&
		slices.Equal(a.Captures, b.Captures)
}
