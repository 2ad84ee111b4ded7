package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/internal/golden"
	"github.com/stockade-ids/stockade/pipeline"
)

var corpus = []string{"auth.log", "access.log", "fast.log", "eve.json", "fail2ban.log"}

func corpusPaths() []string {
	var out []string
	for _, f := range corpus {
		out = append(out, filepath.Join("..", "..", "testdata", "replay", f))
	}
	return out
}

func replay(t *testing.T, args ...string) ([]pipeline.Decision, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(t.Context(), append([]string{"replay", "--origin", "test"}, args...), &stdout, &stderr)
	var ds []pipeline.Decision
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		var d pipeline.Decision
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			t.Fatalf("decision is not JSON: %v: %s", err, sc.Text())
		}
		ds = append(ds, d)
	}
	return ds, stderr.String(), err
}

// TestReplayCorpus replays the multi-format corpus in testdata/replay: every
// attacker banned once (a returning one twice, escalated), nobody else.
func TestReplayCorpus(t *testing.T) {
	ds, summary, err := replay(t, append([]string{"--allow", "10.0.0.0/8"}, corpusPaths()...)...)
	if err != nil {
		t.Fatalf("replay: %v\n%s", err, summary)
	}
	type ban struct {
		target, rule string
		offense      int
		duration     int64
	}
	want := []ban{
		{"203.0.113.10", "sshd", 1, 600},
		{"203.0.113.10", "sshd", 2, 1200},     // returning after the ban ran out: doubled
		{"2001:db8:bad::/64", "sshd", 1, 600}, // IPv6 failures count, and ban, by /64
		{"203.0.113.11", "sshd", 1, 600},      // ::ffff:203.0.113.11 and 203.0.113.11 are one target
		{"203.0.113.12", "sshd", 1, 600},      // the address in the user name is not
		{"203.0.113.14", "sshd", 1, 600},      // PAM failures alone count
		{"203.0.113.20", "nginx-wordpress", 1, 3600},
		// A zgrab scanner: its user agent bans at once, its .env and .git
		// probes, its admin pages and its twentieth miss each ban longer.
		// IPv6 bans cover the /64, which sshd banned first: offenses 2-5.
		{"2001:db8:bad::/64", "web-scanner-ua", 2, 7200},
		{"2001:db8:bad::/64", "web-sensitive-files", 3, 14400},
		{"2001:db8:bad::/64", "web-admin-probe", 4, 28800},
		{"2001:db8:bad::/64", "nginx-scan", 5, 57600},
		{"203.0.113.30", "suricata-p1", 1, 3600}, // in fast.log and eve.json: banned once
		// 2001:db8:bad::3's priority 2 alerts come while the nginx-scan ban
		// of its /64 covers it: already banned.
		{"203.0.113.33", "suricata-p1", 1, 3600}, // response alert: the client, not the server
		{"203.0.113.34", "suricata-p1", 1, 3600}, // alert.source names the attacker
		{"203.0.113.40", "recidive", 1, 7 * 24 * 3600},
	}
	var got []ban
	for _, d := range ds {
		if d.Action != pipeline.ActionBan {
			t.Errorf("unexpected %s decision for %s", d.Action, d.Target)
			continue
		}
		got = append(got, ban{d.Target.String(), d.Rule, d.Offense, d.Duration})
		if d.Origin != "test" || d.ID == "" || len(d.Evidence) == 0 || d.Source == "" {
			t.Errorf("incomplete decision: %+v", d)
		}
		if !d.Expires.Equal(d.At.Add(time.Duration(d.Duration) * time.Second)) {
			t.Errorf("%s: expires %v != at %v + %ds", d.Target, d.Expires, d.At, d.Duration)
		}
	}
	key := func(b ban) string { return b.target + "/" + b.rule + "/" + string(rune('0'+b.offense)) }
	sortBans := func(bs []ban) {
		slices.SortFunc(bs, func(a, b ban) int { return strings.Compare(key(a), key(b)) })
	}
	sortBans(want)
	sortBans(got)
	if !slices.Equal(got, want) {
		t.Errorf("bans:\n got  %v\n want %v\nsummary:\n%s", got, want, summary)
	}
	for _, innocent := range []string{"192.0.2.51", "198.51.100.9", "198.51.100.20", "192.0.2.50", "198.51.100.30", "10.0.0.5",
		"192.0.2.60", "198.51.100.40", "10.0.0.7", "203.0.113.31", "198.51.100.50", "192.0.2.10", "10.0.0.9", "198.51.100.60",
		// One priority 1 ICMPv6 ping: any source can be forged into it, so
		// alone it only counts (the suricata pack's spoofable choice).
		"2001:db8:bad::4",
		// Four attempts, then an authenticating user's bare close: no
		// failure by default (fail2ban's normal mode), so below the
		// threshold.
		"203.0.113.13"} {
		for _, d := range ds {
			if d.Target.String() == innocent {
				t.Errorf("innocent %s banned: %+v", innocent, d)
			}
		}
	}
	for _, w := range []string{"auth.log", "sshd", "lines/s"} {
		if !strings.Contains(summary, w) {
			t.Errorf("summary lacks %q:\n%s", w, summary)
		}
	}
}

// TestReplayGolden pins the exact decisions (ids, reasons, evidence): the
// output is deterministic, so any change to it is a change of contract.
func TestReplayGolden(t *testing.T) {
	args := append([]string{"--allow", "10.0.0.0/8"}, corpusPaths()...)
	var out1, out2, errb bytes.Buffer
	if err := run(t.Context(), append([]string{"replay", "--origin", "test", "--quiet"}, args...), &out1, &errb); err != nil {
		t.Fatal(err, errb.String())
	}
	if err := run(t.Context(), append([]string{"replay", "--origin", "test", "--quiet"}, args...), &out2, &errb); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out1.Bytes(), out2.Bytes()) {
		t.Fatal("two replays of the same logs differ")
	}
	golden.Check(t, filepath.Join("..", "..", "testdata", "replay", "decisions.golden.jsonl"), out1.Bytes())
}

// TestReplayGzipAndClassicSyslog replays a gzipped RFC 3164 auth.log whose
// year comes from the file's modification time, across New Year.
func TestReplayGzipAndClassicSyslog(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	// Dec 31 23:58 … Jan 1 00:02: five failures straddling New Year.
	stamps := []string{"Dec 31 23:58:00", "Dec 31 23:59:00", "Dec 31 23:59:59", "Jan  1 00:00:30", "Jan  1 00:01:00"}
	for i, s := range stamps {
		b.WriteString(s + " bastion sshd[77]: Failed password for root from 203.0.113.99 port " + string(rune('0'+i)) + "2 ssh2\n")
	}
	b.WriteString("Jan  1 00:02:00 bastion logger[1]: Failed password for root from 198.51.100.99 port 1 ssh2\n")
	path := filepath.Join(dir, "auth.log.2.gz")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	zw.Write([]byte(b.String()))
	zw.Close()
	f.Close()
	mtime := time.Date(2026, 1, 1, 6, 25, 0, 0, time.UTC)
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	ds, summary, err := replay(t, "--tz", "UTC", path)
	if err != nil {
		t.Fatal(err, summary)
	}
	if len(ds) != 1 || ds[0].Target.String() != "203.0.113.99" {
		t.Fatalf("decisions %+v\n%s", ds, summary)
	}
	if want := time.Date(2026, 1, 1, 0, 1, 0, 0, time.UTC); !ds[0].At.Equal(want) {
		t.Errorf("ban at %v, want %v (year inferred across New Year)", ds[0].At, want)
	}
}

func TestReplayRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("pack: bad\nrules:\n  - name: x\n    formats: [nginx]\n    when: status = 404\n    ban: 1h\n  - name: y\n    formats: [nginx]\n    ban: 1h\n    threshold: 0\n"), 0o644)
	_, _, err := replay(t, "--rules", bad, corpusPaths()[0])
	ee, ok := err.(*exitError)
	if !ok || ee.code != 2 || !strings.Contains(err.Error(), bad+":5:") || !strings.Contains(err.Error(), bad+":10:16") {
		t.Errorf("bad pack: %v", err)
	}
	_, _, err = replay(t, filepath.Join(dir, "missing.log"))
	if ee, ok := err.(*exitError); !ok || ee.code != 2 || !strings.Contains(err.Error(), "missing.log") {
		t.Errorf("missing file: %v", err)
	}
	garbage := filepath.Join(dir, "garbage.log")
	os.WriteFile(garbage, []byte("hello\nworld\n\x00\x01\x02\n"), 0o644)
	_, _, err = replay(t, garbage)
	if err == nil || !strings.Contains(err.Error(), "--type") {
		t.Errorf("undetectable file: %v", err)
	}
}

// TestReplayCountsBadLines: bad lines are counted by reason and skipped,
// never fatal, and the good lines around them still count.
func TestReplayCountsBadLines(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	var b strings.Builder
	for i := range 20 {
		b.WriteString(`203.0.113.77 - - [08/Nov/2025:22:00:0` + string(rune('0'+i%10)) + ` +0000] "GET /x HTTP/1.1" 404 1 "-" "-"` + "\n")
		if i%4 == 0 {
			b.WriteString("\x00\xff garbage line\n")
			b.WriteString(strings.Repeat("A", 200<<10) + "\n")
		}
	}
	os.WriteFile(path, []byte(b.String()), 0o644)
	ds, summary, err := replay(t, "--type", "nginx", path)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 1 || ds[0].Target.String() != "203.0.113.77" {
		t.Fatalf("decisions %+v\n%s", ds, summary)
	}
	if !strings.Contains(summary, "line too long ×5") {
		t.Errorf("summary does not count long lines:\n%s", summary)
	}
}

func TestReplayDirectory(t *testing.T) {
	byFiles, _, err := replay(t, append([]string{"--allow", "10.0.0.0/8"}, corpusPaths()...)...)
	if err != nil {
		t.Fatal(err)
	}
	byDir, summary, err := replay(t, "--allow", "10.0.0.0/8", filepath.Join("..", "..", "testdata", "replay"))
	if err != nil {
		t.Fatal(err, summary)
	}
	// The golden decisions file beside the logs is not a log: skipped, said.
	if !strings.Contains(summary, "skipping") || !strings.Contains(summary, "decisions.golden.jsonl") {
		t.Errorf("no warning for the non-log file:\n%s", summary)
	}
	if len(byDir) != len(byFiles) {
		t.Fatalf("directory replay: %d decisions, files: %d", len(byDir), len(byFiles))
	}
	for i := range byDir {
		if byDir[i].ID != byFiles[i].ID {
			t.Errorf("decision %d differs: %s vs %s", i, byDir[i].Target, byFiles[i].Target)
		}
	}
}

// TestReplayQuietSaysWhatItLeftUnread: --quiet silences the summary and
// the notes of files in a directory that are no logs, not that a log
// was left unread. A broken gzip archive among the rotated logs (a copy
// cut short, a disk error) was skipped without a word, and the replay
// ended as if every log had been judged; so was a log compressed by xz
// or zstd, taken for a file that is no log.
func TestReplayQuietSaysWhatItLeftUnread(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	at := time.Date(2025, 11, 8, 10, 0, 0, 0, time.UTC)
	for i := range 6 {
		b.WriteString(sshdLine(at.Add(time.Duration(i)*time.Second), "203.0.113.77", i))
	}
	writeLog(t, dir, "auth.log", b.String())
	if err := os.WriteFile(filepath.Join(dir, "auth.log.2.gz"), []byte("\x1f\x8b\x09garbage, not a gzip stream"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "wtmp"), []byte("\x00\x00\x00\x07\x01binary records, no log lines\x00\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Rotated by a logrotate whose compresscmd is xz or zstd: logs, not
	// read (only gzip is), which was "cannot detect the format", silent.
	for name, magic := range map[string]string{"auth.log.3.xz": "\xfd7zXZ\x00", "auth.log.4.zst": "\x28\xb5\x2f\xfd"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(magic+"compressed bytes"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ds, stderr, err := replay(t, "--quiet", "--tz", "UTC", dir)
	if err != nil {
		t.Fatal(err, stderr)
	}
	if len(ds) != 1 {
		t.Fatalf("%d decisions, want the one of auth.log", len(ds))
	}
	for _, name := range []string{"auth.log.2.gz", "auth.log.3.xz", "auth.log.4.zst"} {
		if !strings.Contains(stderr, "skipping") || !strings.Contains(stderr, name) {
			t.Errorf("--quiet said nothing of %s, which it could not read:\n%s", name, stderr)
		}
	}
	if !strings.Contains(stderr, "xz-compressed") || !strings.Contains(stderr, "zstd-compressed") {
		t.Errorf("the notes do not say why the archives were not read:\n%s", stderr)
	}
	if strings.Contains(stderr, "wtmp") {
		t.Errorf("--quiet spoke of a file that is no log:\n%s", stderr)
	}
}

// TestReplayArchiveCutShort: a rotated log compressed while the disk
// filled, or copied in part, ends before its gzip stream does. One such
// archive among the logs stopped the whole replay ("unexpected EOF") on
// one worker, and on two its last, cut line was judged as if whole (a cut
// address is another address). Now its whole lines are judged, the cut
// one is counted as bad, the replay goes on with the other logs, the same
// on one worker and two, and it says so even under --quiet.
func TestReplayArchiveCutShort(t *testing.T) {
	dir := t.TempDir()
	at := time.Date(2025, 11, 8, 10, 0, 0, 0, time.UTC)
	var b strings.Builder
	for i := range 6 {
		b.WriteString(sshdLine(at.Add(time.Duration(i)*time.Second), "203.0.113.77", i))
	}
	for i := range 20000 { // filler past the cut: another address, once a minute
		b.WriteString(sshdLine(at.Add(time.Minute+time.Duration(i)*time.Minute), fmt.Sprintf("198.51.100.%d", i%200+1), i))
	}
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	zw.Write([]byte(b.String()))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(dir, "auth.log.2.gz")
	if err := os.WriteFile(cut, zb.Bytes()[:zb.Len()/2], 0o644); err != nil {
		t.Fatal(err)
	}
	var o strings.Builder
	for i := range 6 {
		o.WriteString(sshdLine(at.Add(30*24*time.Hour+time.Duration(i)*time.Second), "192.0.2.200", i))
	}
	other := writeLog(t, dir, "auth.log", o.String())

	// The two logs, each on a goroutine of its own with two workers; the
	// archive alone, read in chunks by both workers with two.
	for _, files := range [][]string{{cut, other}, {cut}} {
		var first []pipeline.Decision
		for _, workers := range []string{"1", "2"} {
			ds, stderr, err := replay(t, append([]string{"--quiet", "--tz", "UTC", "--workers", workers}, files...)...)
			if err != nil {
				t.Fatalf("--workers %s %d logs: %v\n%s", workers, len(files), err, stderr)
			}
			var targets []string
			for _, d := range ds {
				targets = append(targets, d.Target.String())
			}
			if !slices.Contains(targets, "203.0.113.77") || (len(files) == 2 && !slices.Contains(targets, "192.0.2.200")) {
				t.Fatalf("--workers %s %d logs: bans %v, want the cut archive's attacker and the other log's", workers, len(files), targets)
			}
			for _, tg := range targets {
				if tg != "203.0.113.77" && tg != "192.0.2.200" && !strings.HasPrefix(tg, "198.51.100.") {
					t.Errorf("--workers %s %d logs: a ban of %s, an address no whole line holds", workers, len(files), tg)
				}
			}
			if !strings.Contains(stderr, "auth.log.2.gz") || !strings.Contains(stderr, "cut short") {
				t.Errorf("--workers %s %d logs: nothing said of the archive cut short:\n%s", workers, len(files), stderr)
			}
			if first == nil {
				first = ds
				continue
			}
			if len(ds) != len(first) {
				t.Fatalf("--workers 2 %d logs: %d decisions, --workers 1: %d", len(files), len(ds), len(first))
			}
			for i := range ds {
				if ds[i].ID != first[i].ID {
					t.Fatalf("--workers 2 %d logs: decision %d is %s, --workers 1's %s", len(files), i, ds[i].Target, first[i].Target)
				}
			}
		}
	}
}

// TestReplayCompilesWhatItReads: a replay compiles only the built-in
// rules that read its files' formats, and judges each file exactly as the
// whole packs do (--report loads them whole: its record lists every
// rule), a syslog log's web-server lines by the access-log rules too; a
// pack of one's own is refused for an error in a rule of another format
// all the same.
func TestReplayCompilesWhatItReads(t *testing.T) {
	// The access log's lines as nginx's syslog lines: access events
	// (sources/access.go), which only the access-log rules read.
	access, err := os.ReadFile(filepath.Join("..", "..", "testdata", "replay", "access.log"))
	if err != nil {
		t.Fatal(err)
	}
	lifted := filepath.Join(t.TempDir(), "web.log")
	var b strings.Builder
	for line := range strings.Lines(string(access)) {
		b.WriteString("Nov  8 22:00:00 web1 nginx: " + line)
	}
	if err := os.WriteFile(lifted, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := map[string]bool{lifted: true} // path: a syslog log
	for _, f := range corpus {
		logs[filepath.Join("..", "..", "testdata", "replay", f)] = f == "auth.log"
	}
	for path, syslog := range logs {
		f := filepath.Base(path)
		var part, whole, partErr, wholeErr bytes.Buffer
		if err := run(t.Context(), []string{"replay", "--origin", "test", "--allow", "10.0.0.0/8", path}, &part, &partErr); err != nil {
			t.Fatal(f, err, partErr.String())
		}
		report := filepath.Join(t.TempDir(), "report.json")
		if err := run(t.Context(), []string{"replay", "--origin", "test", "--allow", "10.0.0.0/8", "--report", report, path}, &whole, &wholeErr); err != nil {
			t.Fatal(f, err, wholeErr.String())
		}
		if part.Len() == 0 || !bytes.Equal(part.Bytes(), whole.Bytes()) {
			t.Errorf("%s: %d bytes of decisions with the rules that read it, %d with every rule, or they differ", f, part.Len(), whole.Len())
		}
		// The summary's table lists the set's rules: sshd's only where
		// syslog lines are read.
		listed := func(summary string) bool {
			for line := range strings.Lines(summary) {
				if fs := strings.Fields(line); len(fs) > 1 && fs[0] == "sshd" && fs[1] == "sshd" {
					return true
				}
			}
			return false
		}
		if got := listed(partErr.String()); got != syslog {
			t.Errorf("%s: sshd's rule in the set: %v\n%s", f, got, partErr.String())
		}
		if !listed(wholeErr.String()) {
			t.Errorf("%s with --report: sshd's rule not in the set\n%s", f, wholeErr.String())
		}
	}
	dir := t.TempDir()
	pack := filepath.Join(dir, "own.yaml")
	if err := os.WriteFile(pack, []byte("pack: own\nrules:\n  - name: own-ssh\n    formats: [syslog]\n    failregex: ['^bad (<HOST>']\n    ban: 1h\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, summary, err := replay(t, "--rules", pack, "--rules", "default", filepath.Join("..", "..", "testdata", "replay", "eve.json"))
	if err == nil || !strings.Contains(err.Error()+summary, "own.yaml:5:") {
		t.Errorf("a pack with a broken syslog rule, given an eve.json: %v\n%s", err, summary)
	}
}
