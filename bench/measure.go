package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// measureFormats replays each log alone on one core and on c.workers
// (the one file's work split over them: the decisions must not change),
// the auth.log once more through the sshd jail of a fail2ban
// configuration (the dialect), then gives each log to fail2ban-regex with
// its stock filter.
func measureFormats(ctx context.Context, c config, tmp string, corp *corpus, r *Results) error {
	f2b, f2bErr := exec.LookPath("fail2ban-regex")
	if !c.f2b {
		f2b = ""
	} else if f2bErr != nil {
		logf("fail2ban-regex is not installed (apt-get install fail2ban): measuring stockade alone")
		r.Notes = append(r.Notes, "fail2ban-regex was not installed: no comparison.")
		r.NoFail2ban = true
	}
	var specs []replaySpec
	for _, l := range corp.logs {
		specs = append(specs, replaySpec{procs: 1, workers: 1, files: []string{l.Path}},
			replaySpec{procs: c.workers, workers: c.workers, files: []string{l.Path}})
	}
	dialect, err := jailConfig(c.f2bConfig, tmp)
	if err != nil {
		return err
	}
	auth := corp.logs[0]
	if dialect != "" {
		specs = append(specs, replaySpec{procs: 1, workers: 1, files: []string{auth.Path}, extra: []string{"--rules", "fail2ban:" + dialect}, timed: true})
	} else {
		r.Notes = append(r.Notes, fmt.Sprintf("no fail2ban configuration at %q (-fail2ban-config): the dialect was not measured.", c.f2bConfig))
	}
	logf("replaying each log alone on one core and on %d, %d times", c.workers, c.runs)
	runs, err := interleavedNoting(ctx, c, specs, &r.Notes)
	if err != nil {
		return err
	}
	for i, l := range corp.logs {
		one, many := runs[2*i], runs[2*i+1]
		fr := FormatResult{Log: l.Name, Format: l.Format, Comment: l.Comment, Decisions: one.Decisions, Digest: one.Digest}
		fr.set(one.usage, l.Lines)
		fr.Many = &runRate{Decisions: many.Decisions}
		fr.Many.set(many.usage, l.Lines)
		fr.Speedup = fr.Many.LinesPerSec / fr.LinesPerSec
		fr.SameDecisions = one.Digest == many.Digest
		if !fr.SameDecisions {
			return fmt.Errorf("%s on %d cores decided differently (%d decisions, digest %s) from one core (%d, %s)",
				l.Name, c.workers, many.Decisions, many.Digest, one.Decisions, one.Digest)
		}
		if f2b != "" && l.Filter != "" {
			res, err := runFail2ban(ctx, f2b, c, l)
			if err != nil {
				return err
			}
			fr.compare(res)
		}
		r.Formats = append(r.Formats, fr)
	}
	if dialect != "" {
		d := runs[len(runs)-1]
		fr := FormatResult{Log: auth.Name, Format: auth.Format, Dialect: c.f2bConfig,
			Comment:   "the same auth.log through the sshd jail of " + c.f2bConfig + " (--rules fail2ban:DIR)",
			Decisions: d.Decisions, Digest: d.Digest}
		fr.set(d.usage, auth.Lines)
		fr.compare(r.Formats[0].Fail2ban)
		r.Formats = append(r.Formats, fr)
	}
	return nil
}

// compare sets fail2ban-regex's figures on the same file and the ratios.
func (fr *FormatResult) compare(res *Fail2banResult) {
	if res == nil {
		return
	}
	fr.Fail2ban = res
	fr.Ratio = fr.LinesPerSec / res.LinesPerSec
	fr.CPURatio = fr.LinesPerCPUSec / res.LinesPerCPUSec
}

// jailConfig makes a copy of the fail2ban configuration dir (symbolic
// links, in tmp) whose sshd jail is enabled and reads files (backend
// auto: Debian's default is the journal), as `stockade replay --rules
// fail2ban:DIR` reads an admin's own /etc/fail2ban. "" when dir holds no
// jail.conf.
func jailConfig(dir, tmp string) (string, error) {
	if dir == "" {
		return "", nil
	}
	if _, err := os.Stat(filepath.Join(dir, "jail.conf")); err != nil {
		return "", nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	out := filepath.Join(tmp, "fail2ban")
	if err := os.MkdirAll(filepath.Join(out, "jail.d"), 0o755); err != nil {
		return "", err
	}
	entries, err := os.ReadDir(abs)
	if err != nil {
		return "", err
	}
	for _, e := range entries {
		if e.Name() == "jail.d" {
			sub, _ := filepath.Glob(filepath.Join(abs, "jail.d", "*"))
			for _, f := range sub {
				if err := os.Symlink(f, filepath.Join(out, "jail.d", filepath.Base(f))); err != nil {
					return "", err
				}
			}
			continue
		}
		if err := os.Symlink(filepath.Join(abs, e.Name()), filepath.Join(out, e.Name())); err != nil {
			return "", err
		}
	}
	jail := "[sshd]\nenabled = true\nbackend = auto\n"
	return out, os.WriteFile(filepath.Join(out, "jail.d", "zz-stockade-bench.local"), []byte(jail), 0o644)
}

var f2bLinesRe = regexp.MustCompile(`Lines: (\d+) lines, (\d+) ignored, (\d+) matched, (\d+) missed`)

// runFail2ban runs fail2ban-regex as its users do, with the options that
// make it fastest and closest to the server's own filtering: stop at the
// first matching regex (--no-check-all), no DNS (--raw, stockade never
// resolves either), no listing of missed lines.
func runFail2ban(ctx context.Context, bin string, c config, l logFile) (*Fail2banResult, error) {
	filter := filepath.Join("/etc/fail2ban/filter.d", l.Filter+".conf")
	if _, err := os.Stat(filter); err != nil {
		logf("no fail2ban filter %s: skipped", filter)
		return nil, nil
	}
	path, lines := l.Path, l.Lines
	if c.f2bLines > 0 && c.f2bLines < l.Lines {
		path, lines = l.Path+".head", c.f2bLines
		if err := head(l.Path, path, lines); err != nil {
			return nil, err
		}
		defer os.Remove(path)
	}
	argv := []string{bin, "--no-check-all", "--raw", "--print-no-missed", "--print-no-ignored", path, filter}
	out := path + ".f2b"
	defer os.Remove(out)
	var (
		u       usage
		matched int
	)
	for i := 0; i < c.f2bRuns; i++ {
		logf("fail2ban-regex %s on %s (%d lines), run %d of %d", l.Filter, l.Name, lines, i+1, c.f2bRuns)
		run, _, err := measure(ctx, nil, out, argv...)
		if err != nil {
			return nil, err
		}
		b, err := os.ReadFile(out)
		if err != nil {
			return nil, err
		}
		m := f2bLinesRe.FindSubmatch(b)
		if m == nil {
			return nil, fmt.Errorf("fail2ban-regex: no summary in its output:\n%s", lastLines(string(b), 20))
		}
		read, _ := strconv.Atoi(string(m[1]))
		matched, _ = strconv.Atoi(string(m[3]))
		if read != lines {
			return nil, fmt.Errorf("fail2ban-regex read %d lines of %d", read, lines)
		}
		if i == 0 || run.Wall < u.Wall {
			u = run
		}
	}
	res := &Fail2banResult{Filter: l.Filter, Version: fail2banVersion(bin), Matched: matched,
		Command: "fail2ban-regex " + strings.Join(argv[1:len(argv)-2], " ") + " " + l.Name + " " + filter}
	res.set(u, lines)
	return res, nil
}

func fail2banVersion(bin string) string {
	out, err := exec.Command(bin, "-V").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

func head(src, dst string, n int) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	br, bw := bufio.NewReaderSize(in, 1<<20), bufio.NewWriterSize(out, 1<<20)
	for i := 0; i < n; i++ {
		line, err := br.ReadSlice('\n')
		if err != nil {
			break
		}
		bw.Write(line)
	}
	if err := bw.Flush(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// measureParallel replays every log together on one core with one worker,
// then on c.workers cores with as many workers, and checks that both wrote
// the same decisions.
func measureParallel(ctx context.Context, c config, corp *corpus, r *Results) error {
	var files []string
	lines := 0
	for _, l := range corp.logs {
		files = append(files, l.Path)
		lines += l.Lines
	}
	pr := &ParallelResult{Workers: c.workers, Lines: lines}
	for _, l := range corp.logs {
		pr.Files = append(pr.Files, l.Name)
	}
	logf("replaying the %d logs together on one core and on %d, taking turns", len(files), c.workers)
	runs, err := interleaved(ctx, c, []replaySpec{{procs: 1, workers: 1, files: files}, {procs: c.workers, workers: c.workers, files: files}})
	if err != nil {
		return err
	}
	one, many := runs[0], runs[1]
	pr.One.set(one.usage, lines)
	pr.Many.set(many.usage, lines)
	pr.One.Decisions, pr.Many.Decisions = one.Decisions, many.Decisions
	pr.Speedup = pr.Many.LinesPerSec / pr.One.LinesPerSec
	pr.SameDecisions = one.Digest == many.Digest
	pr.Digest = one.Digest
	r.Parallel = pr
	if !pr.SameDecisions {
		return fmt.Errorf("the parallel replay decided differently (%d decisions, digest %s) from the single-threaded one (%d, %s)",
			many.Decisions, many.Digest, one.Decisions, one.Digest)
	}
	return nil
}

// measureFlood tracks a million distinct attackers at once (two failures
// each, under sshd's threshold, all within its window) and reads the peak
// RSS, with the windows unbounded (--max-windows 0).
func measureFlood(ctx context.Context, c config, corp *corpus, r *Results) error {
	logf("replaying a flood of %d distinct attackers", corp.flood.Lines/2)
	extra := []string{"--max-windows", "0"}
	runs, err := interleaved(ctx, c, []replaySpec{{procs: 1, workers: 1, extra: extra, files: []string{corp.small.Path}}, {procs: 1, workers: 1, extra: extra, files: []string{corp.flood.Path}}})
	if err != nil {
		return err
	}
	base, flood := runs[0], runs[1]
	addrs := corp.flood.Lines / 2
	fr := &FloodResult{Addresses: addrs, Decisions: flood.Decisions, BaseRSSMB: mb(base.MaxRSS),
		BytesPerAddr: float64(flood.MaxRSS-base.MaxRSS) / float64(addrs)}
	fr.set(flood.usage, corp.flood.Lines)
	r.Flood = fr
	return nil
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }
