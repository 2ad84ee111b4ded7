package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Results is everything one run measured: results.json.
type Results struct {
	Date      string          `json:"date"`
	CPU       string          `json:"cpu"`
	Cores     int             `json:"cores"`
	GoVersion string          `json:"go_version"`
	Lines     int             `json:"lines_per_log"`
	Runs      int             `json:"runs"`
	F2BRuns   int             `json:"fail2ban_runs,omitempty"`
	Seed      uint64          `json:"seed"`
	Formats   []FormatResult  `json:"formats"`
	Parallel  *ParallelResult `json:"parallel,omitempty"`
	Flood     *FloodResult    `json:"flood,omitempty"`
	State     *StateResult    `json:"state,omitempty"`
	Live      []*LiveResult   `json:"live,omitempty"`
	Floor     *FloorResult    `json:"udp_floor,omitempty"`
	Notes     []string        `json:"notes,omitempty"`
	// NoFail2ban: fail2ban-regex was wanted but is not installed.
	NoFail2ban bool `json:"fail2ban_missing,omitempty"`
}

// Rate is a throughput and what it cost.
type Rate struct {
	Lines          int     `json:"lines"`
	Seconds        float64 `json:"seconds"`
	CPUSeconds     float64 `json:"cpu_seconds"`
	LinesPerSec    float64 `json:"lines_per_s"`
	LinesPerCPUSec float64 `json:"lines_per_cpu_s"`
	PeakRSSMB      float64 `json:"peak_rss_mb"`
	MinorFaults    int64   `json:"minor_faults"`
}

func (r *Rate) set(u usage, lines int) {
	r.Lines = lines
	r.Seconds = u.Wall.Seconds()
	r.CPUSeconds = u.CPU.Seconds()
	r.LinesPerSec = float64(lines) / u.Wall.Seconds()
	if u.CPU > 0 {
		r.LinesPerCPUSec = float64(lines) / u.CPU.Seconds()
	}
	r.PeakRSSMB = mb(u.MaxRSS)
	r.MinorFaults = u.Faults
}

// FormatResult is one log replayed alone on one core, and fail2ban on it.
type FormatResult struct {
	Log     string `json:"log"`
	Format  string `json:"format"`
	Comment string `json:"comment"`
	Rate
	Decisions int    `json:"decisions"`
	Digest    string `json:"decisions_sha256"`
	// Dialect is the fail2ban configuration whose sshd jail judged the
	// log ("": the built-in packs).
	Dialect string `json:"dialect,omitempty"`
	// Many is the same log alone on several cores (--workers N); nil for
	// the dialect.
	Many          *runRate        `json:"many_cores,omitempty"`
	Speedup       float64         `json:"speedup,omitempty"`
	SameDecisions bool            `json:"same_decisions,omitempty"`
	Fail2ban      *Fail2banResult `json:"fail2ban,omitempty"`
	Ratio         float64         `json:"ratio,omitempty"`     // stockade lines/s ÷ fail2ban's
	CPURatio      float64         `json:"cpu_ratio,omitempty"` // the same per CPU-second
}

// Fail2banResult is fail2ban-regex with a stock filter on the same file.
type Fail2banResult struct {
	Filter  string `json:"filter"`
	Version string `json:"version"`
	Command string `json:"command"`
	Matched int    `json:"matched"`
	Rate
}

// ParallelResult is every log replayed together on one core and on
// Workers cores.
type ParallelResult struct {
	Files         []string `json:"files"`
	Lines         int      `json:"lines"`
	Workers       int      `json:"workers"`
	One           runRate  `json:"one_core"`
	Many          runRate  `json:"many_cores"`
	Speedup       float64  `json:"speedup"`
	SameDecisions bool     `json:"same_decisions"`
	Digest        string   `json:"decisions_sha256"`
}

type runRate struct {
	Rate
	Decisions int `json:"decisions"`
}

// FloodResult is the memory of a million attackers tracked at once.
type FloodResult struct {
	Addresses int `json:"addresses"`
	Rate
	Decisions    int     `json:"decisions"`
	BaseRSSMB    float64 `json:"base_rss_mb"` // the same replay of a thousand lines
	BytesPerAddr float64 `json:"bytes_per_address"`
}

// LiveResult is the daemon taking syslog over loopback UDP.
type LiveResult struct {
	Attacks    bool    `json:"attacks"` // the mix with sshd failures from 20,000 attackers
	Rate       int     `json:"rate"`
	Seconds    float64 `json:"seconds"`
	Sent       uint64  `json:"sent"`
	Received   uint64  `json:"received"`
	Lost       uint64  `json:"lost"`
	SentPerSec float64 `json:"sent_per_s"`
	Decisions  uint64  `json:"decisions"`
	PeakRSSMB  float64 `json:"peak_rss_mb"`
	CPUSeconds float64 `json:"cpu_seconds"`
	// SysSeconds is the kernel's part of CPUSeconds: receiving the
	// datagrams, waking and parking threads.
	SysSeconds float64 `json:"sys_seconds"`
}

// Write saves results.md and results.json in dir.
func (r *Results) Write(dir, md string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "results.md"), []byte(md), 0o644)
}

// Markdown renders the results as the README's tables.
func (r *Results) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s lines per log, seed %d; %s, %d cores; %s; the best of %d runs (fail2ban-regex: of %d).\n\n",
		thousands(float64(r.Lines)), r.Seed, r.CPU, r.Cores, r.GoVersion, r.Runs, r.F2BRuns)
	r.formatsTable(&b)
	if p := r.Parallel; p != nil {
		fmt.Fprintf(&b, "\n| %s together (%s lines) | lines/s | lines/CPU-s | peak RSS | decisions |\n| --- | ---: | ---: | ---: | ---: |\n",
			strings.Join(p.Files, " + "), thousands(float64(p.Lines)))
		fmt.Fprintf(&b, "| 1 core, `--workers 1` | %s | %s | %.0f MB | %d |\n",
			thousands(p.One.LinesPerSec), thousands(p.One.LinesPerCPUSec), p.One.PeakRSSMB, p.One.Decisions)
		fmt.Fprintf(&b, "| %d cores, `--workers %d` | %s | %s | %.0f MB | %d |\n",
			p.Workers, p.Workers, thousands(p.Many.LinesPerSec), thousands(p.Many.LinesPerCPUSec), p.Many.PeakRSSMB, p.Many.Decisions)
		same := "identical"
		if !p.SameDecisions {
			same = "**different**"
		}
		fmt.Fprintf(&b, "| speed-up | **%.2f×** | | | decisions %s (sha256 %s…) |\n", p.Speedup, same, p.Digest)
	}
	if f := r.Flood; f != nil {
		fmt.Fprintf(&b, "\nFlood: %s distinct attackers tracked at once (2 failures each, `--max-windows 0`): peak RSS **%.0f MB** "+
			"(%.0f MB for a thousand lines), %.0f bytes per tracked address; %s lines/s.\n",
			thousands(float64(f.Addresses)), f.PeakRSSMB, f.BaseRSSMB, f.BytesPerAddr, thousands(f.LinesPerSec))
	}
	if s := r.State; s != nil {
		s.markdown(&b)
	}
	r.liveTable(&b)
	if f := r.Floor; f != nil {
		fmt.Fprintf(&b, "\nThe kernel's share: the same datagrams (no attacks) read and discarded by a process that does nothing else "+
			"(a blocking recvmmsg, 256 at a time, as the listener reads): %s received, %.1f CPU-s, **%s msgs/CPU-s**.\n",
			thousands(float64(f.Received)), f.CPUSeconds, thousands(f.PerCPUSec))
	}
	for _, f := range r.Formats {
		if f.Fail2ban != nil && f.Dialect == "" {
			fmt.Fprintf(&b, "\n%s: `%s` (fail2ban %s; %d of %d lines matched).",
				f.Log, f.Fail2ban.Command, f.Fail2ban.Version, f.Fail2ban.Matched, f.Fail2ban.Lines)
		}
	}
	for _, f := range r.Formats {
		if f.Dialect != "" {
			fmt.Fprintf(&b, "\nfail2ban dialect: `stockade replay --rules fail2ban:DIR auth.log`, DIR a copy of %s with `[sshd] enabled = true, backend = auto`.", f.Dialect)
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "\n%s", n)
	}
	b.WriteString("\n")
	return b.String()
}

// formatsTable writes the table of replay rows, one per log.
func (r *Results) formatsTable(b *strings.Builder) {
	b.WriteString("| log | rules | stockade, 1 core | lines/CPU-s | peak RSS | decisions | fail2ban-regex (filter) | ratio | 2 cores | speed-up |\n")
	b.WriteString("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, f := range r.Formats {
		f2b, ratio := "no stock filter", "—"
		if f.Fail2ban != nil {
			f2b = fmt.Sprintf("%s lines/s (%s)", thousands(f.Fail2ban.LinesPerSec), f.Fail2ban.Filter)
			ratio = fmt.Sprintf("**%.0f×**", f.Ratio)
		} else if r.NoFail2ban && (f.Log == "auth.log" || f.Log == "access.log") {
			f2b = "not installed"
		}
		rules, many, speedup := "built-in packs", "—", "—"
		if f.Dialect != "" {
			rules = "fail2ban dialect: sshd jail"
		}
		if f.Many != nil {
			many = thousands(f.Many.LinesPerSec) + " lines/s"
			same := "same decisions"
			if !f.SameDecisions {
				same = "**different decisions**"
			}
			speedup = fmt.Sprintf("**%.2f×**, %s", f.Speedup, same)
		}
		fmt.Fprintf(b, "| %s | %s | %s lines/s | %s | %.0f MB | %d | %s | %s | %s | %s |\n",
			f.Log, rules, thousands(f.LinesPerSec), thousands(f.LinesPerCPUSec), f.PeakRSSMB, f.Decisions, f2b, ratio, many, speedup)
	}
}

// liveTable writes the rows of `stockade run` fed over loopback UDP.
func (r *Results) liveTable(b *strings.Builder) {
	if len(r.Live) > 0 {
		b.WriteString("\n| `stockade run`, syslog over loopback UDP | sent | received | lost | decisions | CPU (kernel) | msgs/CPU-s | peak RSS |\n")
		b.WriteString("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
		for _, l := range r.Live {
			what := "a busy host's auth.log, no attacks"
			if l.Attacks {
				what = "the same under attack (20,000 attackers)"
			}
			perCPU := 0.0
			if l.CPUSeconds > 0 {
				perCPU = float64(l.Received) / l.CPUSeconds
			}
			rate := thousands(float64(l.Rate)) + " msgs/s"
			if l.SentPerSec < 0.95*float64(l.Rate) {
				// A loaded machine starves the sender: the daemon's cost a
				// message is higher at a lower rate (smaller batches), so
				// the row says what it had.
				rate = fmt.Sprintf("%s msgs/s asked, %s sent", thousands(float64(l.Rate)), thousands(l.SentPerSec))
			}
			fmt.Fprintf(b, "| %s: %s for %.0f s | %s | %s | **%s** | %d | %.1f s (%.1f s) | **%s** | %.0f MB |\n",
				what, rate, l.Seconds, thousands(float64(l.Sent)), thousands(float64(l.Received)),
				thousands(float64(l.Lost)), l.Decisions, l.CPUSeconds, l.SysSeconds, thousands(perCPU), l.PeakRSSMB)
		}
	}
}

// thousands formats n with thin separators: 1,234,567.
func thousands(n float64) string {
	s := fmt.Sprintf("%.0f", n)
	var out []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 && s[i-1] != '-' {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}
