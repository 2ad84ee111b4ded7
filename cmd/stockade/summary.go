package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/rules"
	"github.com/stockade-ids/stockade/sources"
)

func printSummary(w io.Writer, files []*sources.File, eng *pipeline.Engine, bans int, elapsed time.Duration) {
	var lines uint64
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "file\tformat\tlines\tevents\tskipped\tbad\t")
	for _, f := range files {
		c := f.Counts()
		var bad uint64
		for _, n := range c.Bad {
			bad += n
		}
		lines += c.Lines
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t\n", f.Path, f.Format, c.Lines, c.Events, c.Skipped, bad)
	}
	tw.Flush()
	if set, ok := eng.Matcher().(*rules.Set); ok {
		for _, f := range files {
			if !set.Reads(f.Format, f.Path) {
				fmt.Fprintf(w, "  %s (%s) feeds no rule: no rule reads %s from a file of this name (see the rules' formats: and sources:)\n", f.Path, f.Format, f.Format)
			}
		}
	}
	for _, f := range files {
		for _, r := range f.Counts().BadLines() {
			fmt.Fprintf(w, "  bad line in %s: %s ×%d\n", f.Path, r.Reason, r.Count)
		}
		for _, s := range f.Warnings() {
			fmt.Fprintf(w, "  warning: %s\n", s)
		}
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "rule\tpack\tmatches\tallowlisted\tbans\talready banned\t")
	for _, s := range eng.Stats() {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t\n", s.Rule, s.Pack, s.Matches, s.Allowlisted, s.Bans, s.AlreadyBanned)
	}
	tw.Flush()
	if set, ok := eng.Matcher().(*rules.Set); ok {
		for _, u := range set.Unbanned() {
			fmt.Fprintf(w, "  %s: %d line(s) matched but not counted: %s\n", u.Rule, u.Lines, u.Reason)
		}
	}
	if eng.Duplicates > 0 {
		fmt.Fprintf(w, "\n%d alerts were logged twice (fast.log and eve.json) and counted once\n", eng.Duplicates)
	}
	if n := eng.Counter().Overflow; n > 0 {
		fmt.Fprintf(w, "\n%d windows were dropped to stay within --max-windows (the least recent first): raise it if bans are missing\n", n)
	}
	if eng.SkewedDuplicates > 0 {
		fmt.Fprintf(w, "warning: %d of them were logged 15 min or more apart: fast.log's zone is probably wrong (see --tz)\n", eng.SkewedDuplicates)
	}
	rate := float64(lines) / elapsed.Seconds()
	fmt.Fprintf(w, "\n%d lines in %s (%s lines/s), %d ban decisions, %d targets still banned at the end\n",
		lines, elapsed.Round(time.Millisecond), humanRate(rate), bans, eng.Ledger().Len())
}

func humanRate(r float64) string {
	switch {
	case r >= 1e6:
		return fmt.Sprintf("%.2fM", r/1e6)
	case r >= 1e3:
		return fmt.Sprintf("%.1fk", r/1e3)
	}
	return fmt.Sprintf("%.0f", r)
}

// isTerminal: w is a terminal, asked of the terminal driver itself. A
// character device is not enough: /dev/null is one, and a progress bar
// drawn into it is work for nothing.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// progressBar is one frame of the bar for read of size bytes. A file can
// grow while it is read, so the fraction is held within 0 and 1: a bar
// past its end panicked in strings.Repeat and ended a replay with its last
// decisions unwritten.
func progressBar(read, size int64, elapsed time.Duration) string {
	frac := 0.0
	if size > 0 {
		frac = min(max(float64(read)/float64(size), 0), 1)
	}
	const width = 30
	n := int(frac * width)
	return fmt.Sprintf("\r[%s%s] %3.0f%%  %s", strings.Repeat("=", n), strings.Repeat(" ", width-n),
		frac*100, elapsed.Round(time.Second))
}

// startProgress draws a progress bar over the bytes of all files until the
// returned func is called.
func startProgress(w io.Writer, files []*sources.File, start time.Time) func() {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				fmt.Fprint(w, "\r\033[K")
				return
			case <-t.C:
				var read, size int64
				for _, f := range files {
					r, s := f.Progress()
					read, size = read+r, size+s
				}
				fmt.Fprint(w, progressBar(read, size, time.Since(start)))
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}
