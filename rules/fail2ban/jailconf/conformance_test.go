package jailconf

// The conformance test runs fail2ban's own annotated sample logs
// (fail2ban/tests/files/logs) through stockade's engine, with the filters
// of fail2ban's config/filter.d read by this package, and checks every
// annotation the way fail2ban's samplestestcase.py does: a line annotated
// `# failJSON: {...}` must (not) be a failure, with that host, user, time,
// number of lines (attempts), users; a line without an annotation must not
// be a failure; `# filterOptions:` re-runs the lines below with each set of
// options; `# fileOptions:` adds options to a whole file; `# addFILE:`
// appends another file to the test. Times assume the zone
// CET-01CEST-02,M3.5.0,M10.5.0 and the year of "now" = 1124013600.
//
// The matching is the engine's: each filter becomes a rule (FilterRule,
// the same YAML `stockade import fail2ban` writes) loaded by rules.Parse
// and judged by rules.Set, as replay judges lines.

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	_ "time/tzdata"

	"github.com/stockade-ids/stockade/internal/testcorpus"
	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/rules"
	"github.com/stockade-ids/stockade/rules/fail2ban/filter"
)

// testNow is fail2ban's MyTime in its tests.
const testNow = 1124013600

// mustAgree are the filters that must agree on every annotation.
var mustAgree = []string{"sshd", "sshd-journal", "apache-auth", "pam-generic", "dropbear", "recidive"}

func mustAgreeWith(name string) bool {
	return slices.Contains(mustAgree, name) || strings.HasPrefix(name, "nginx-")
}

// confRow is one sample file's tally.
type confRow struct {
	file        string
	checks      int
	plain       int // checks of lines without an annotation (must not be failures)
	agreed      int
	dns         int // agreed, and the failure names a host: stockade would not ban it
	disagreed   int
	unsupported map[string]int
	examples    []string
	missing     string // why the file could not be run
}

func (r *confRow) disagree(format string, args ...any) {
	r.disagreed++
	if len(r.examples) < maxExamples() {
		r.examples = append(r.examples, fmt.Sprintf(format, args...))
	}
}

var directive = regexp.MustCompile(`^#+ ?(failJSON|(?:file|filter)Options|addFILE):(.+)$`)

// sampleFilter is a filter read with one option set, and the engine that
// runs it.
type sampleFilter struct {
	set *rules.Set
	err error
}

type filterTest struct {
	name string
	flt  *sampleFilter
	opts map[string]any
}

func TestConformance(t *testing.T) {
	logs := testcorpus.Path(t, "fail2ban__fail2ban/fail2ban/tests/files/logs")
	confDir := testcorpus.Path(t, "fail2ban__fail2ban/config")
	loc, err := time.LoadLocation("Europe/Berlin") // CET-01CEST-02,M3.5.0,M10.5.0 for these years
	if err != nil {
		t.Fatal(err)
	}
	dir := Open(confDir)
	names, err := filepath.Glob(filepath.Join(confDir, "filter.d", "*.conf"))
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]*confRow{}
	var order []string
	row := func(file string) *confRow {
		if rows[file] == nil {
			rows[file] = &confRow{file: file, unsupported: map[string]int{}}
			order = append(order, file)
		}
		return rows[file]
	}
	for _, n := range names {
		name := strings.TrimSuffix(filepath.Base(n), ".conf")
		if strings.HasSuffix(name, "common") {
			continue
		}
		if _, err := os.Stat(filepath.Join(logs, name)); err != nil {
			row(name).missing = "no sample log"
			continue
		}
		runSampleTest(t, dir, logs, name, loc, row)
	}
	// Sample files whose filter is not in config/filter.d (fail2ban keeps
	// them in tests/config): listed, not run.
	entries, _ := os.ReadDir(logs)
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		if rows[e.Name()] == nil {
			row(e.Name()).missing = "filter not in config/filter.d (fail2ban's tests/config)"
		}
	}

	var b strings.Builder
	fmt.Fprintf(&b, "\n%-28s %6s %6s %6s %9s %5s  %s\n", "filter (sample file)", "checks", "plain", "agreed", "disagreed", "dns", "notes")
	var total, plain, agreed, dns int
	sort.Strings(order)
	for _, name := range order {
		r := rows[name]
		if r.missing != "" {
			fmt.Fprintf(&b, "%-28s %6s %6s %6s %9s %5s  not run: %s\n", name, "-", "-", "-", "-", "-", r.missing)
			continue
		}
		total += r.checks
		plain += r.plain
		agreed += r.agreed
		dns += r.dns
		var notes []string
		for k, n := range r.unsupported {
			notes = append(notes, fmt.Sprintf("unsupported %s: %d", k, n))
		}
		sort.Strings(notes)
		notes = append(notes, r.examples...)
		fmt.Fprintf(&b, "%-28s %6d %6d %6d %9d %5d  %s\n", name, r.checks, r.plain, r.agreed, r.disagreed, r.dns, strings.Join(notes, "; "))
		if mustAgreeWith(name) && r.agreed != r.checks {
			t.Errorf("%s: %d of %d annotations agree; this filter must agree on all", name, r.agreed, r.checks)
		}
	}
	pct := 100 * float64(agreed) / float64(max(total, 1))
	fmt.Fprintf(&b, "%-28s %6d %6d %6d %9d %5d  %.2f %% agreement\n", "TOTAL", total, plain, agreed, total-agreed, dns, pct)
	t.Log(b.String())
	if pct < 95 {
		t.Errorf("%.2f %% of all annotations agree; want at least 95 %%", pct)
	}
	if total < 1000 {
		t.Errorf("only %d annotations checked: the sample logs were not all read", total)
	}
}

// runSampleTest is samplestestcase.py's testFilter for one filter.
func runSampleTest(t *testing.T, dir *Dir, logs, name string, loc *time.Location, row func(string) *confRow) {
	filters := map[string]*sampleFilter{}
	filenames := []string{name}
	var tests []filterTest
	for i := 0; i < len(filenames); i++ {
		file := filenames[i]
		data, err := os.ReadFile(filepath.Join(logs, file))
		if err != nil {
			row(file).missing = err.Error()
			continue
		}
		r := row(file)
		commonOpts := map[string]any{}
		ignoreBlock := false
		lines := strings.Split(string(data), "\n")
		for ln := 0; ln < len(lines); ln++ {
			line := lines[ln]
			var faildata map[string]any
			if m := directive.FindStringSubmatch(strings.TrimRight(line, "\r")); m != nil {
				var v any
				if err := json.Unmarshal([]byte(m[2]), &v); err != nil {
					t.Errorf("%s:%d: bad JSON: %v", file, ln+1, err)
					continue
				}
				switch m[1] {
				case "fileOptions":
					commonOpts, _ = v.(map[string]any)
					continue
				case "filterOptions":
					tests, ignoreBlock = optionTests(r, v, commonOpts, dir, name, loc, filters)
					continue
				case "addFILE":
					if s, ok := v.(string); ok {
						filenames = append(filenames, s)
					}
					continue
				}
				faildata, _ = v.(map[string]any)
				ln++
				if ln >= len(lines) {
					break
				}
				line = lines[ln]
			} else if ignoreBlock || strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
				continue
			}
			if ignoreBlock {
				continue
			}
			if len(tests) == 0 {
				if filters[name] == nil {
					filters[name] = newSampleFilter(dir, name, map[string]string{}, loc)
				}
				tests = []filterTest{{name: name, flt: filters[name], opts: map[string]any{}}}
			}
			line = strings.TrimRight(line, "\r\n")
			for _, ft := range tests {
				if c, ok := faildata["constraint"].(string); ok && c != "" {
					res, known := evalCondition(c, name, ft.opts)
					if !known {
						r.checks++
						r.unsupported["constraint"]++
						r.disagree("%s:%d: constraint %q not understood", file, ln+1, c)
						continue
					}
					if !res {
						continue
					}
				}
				r.checks++
				if faildata == nil {
					r.plain++
				}
				checkLine(r, ft, file, ln+1, line, faildata, loc)
			}
		}
	}
}

// optionTests are the filter tests of a filterOptions directive, one per
// option set over the file's options (a filter loaded once per set), and
// whether the block that follows is skipped (its test.condition is false).
func optionTests(r *confRow, v any, commonOpts map[string]any, dir *Dir, name string, loc *time.Location, filters map[string]*sampleFilter) ([]filterTest, bool) {
	var tests []filterTest
	ignoreBlock := false
	list, ok := v.([]any)
	if !ok {
		list = []any{v}
	}
	for _, o := range list {
		opts := map[string]any{}
		for k, x := range commonOpts {
			opts[k] = x
		}
		om, _ := o.(map[string]any)
		for k, x := range om {
			opts[k] = x
		}
		if c, ok := opts["test.condition"].(string); ok && c != "" {
			res, known := evalCondition(c, name, opts)
			if !known {
				r.unsupported["test.condition "+c]++
			}
			ignoreBlock = !res
		}
		if ignoreBlock {
			continue
		}
		fo := filterOptions(opts)
		fname := name + optsKey(fo)
		if n, ok := opts["test.filter-name"].(string); ok && n != "" {
			fname = name + n
		}
		if filters[fname] == nil {
			filters[fname] = newSampleFilter(dir, name, fo, loc)
		}
		tests = append(tests, filterTest{name: fname, flt: filters[fname], opts: opts})
	}
	return tests, ignoreBlock
}

func filterOptions(opts map[string]any) map[string]string {
	out := map[string]string{}
	for k, v := range opts {
		if strings.HasPrefix(k, "test.") {
			continue
		}
		out[k] = fmt.Sprint(v)
	}
	return out
}

func optsKey(o map[string]string) string {
	if len(o) == 0 {
		return ""
	}
	keys := make([]string, 0, len(o))
	for k := range o {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+"="+o[k])
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// newSampleFilter reads a filter with options and loads it as a rule pack.
func newSampleFilter(dir *Dir, name string, opts map[string]string, loc *time.Location) *sampleFilter {
	sf := &sampleFilter{}
	f, err := dir.Filter(name, opts)
	if err != nil {
		sf.err = err
		return sf
	}
	data, err := FilterRule(f, "f")
	if err != nil {
		sf.err = err
		return sf
	}
	p, err := rules.Parse(name+".yaml", data)
	if err != nil {
		sf.err = err
		return sf
	}
	set, err := rules.NewSet(p)
	if err != nil {
		sf.err = err
		return sf
	}
	set.SetDates(func() time.Time { return time.Unix(testNow, 0) }, loc)
	sf.set = set
	return sf
}

// journalLine splits a line the way the journal gives it to stockade:
// host, program, pid and message apart (fail2ban's formatJournalEntry
// joins them again as "host program[pid]: message").
var journalLine = regexp.MustCompile(`^(\S+) ([^\s\[\]:]+)(?:\[(\d+)\])?: (.*)$`)

func checkLine(r *confRow, ft filterTest, file string, ln int, line string, faildata map[string]any, loc *time.Location) {
	where := fmt.Sprintf("%s:%d", file, ln)
	if ft.flt.err != nil {
		r.disagree("%s: filter does not load: %v", where, ft.flt.err)
		return
	}
	ev, line := sampleEvent(ft, line, loc)
	vs := ft.flt.set.Explain(&ev, nil)
	if len(vs) != 1 {
		r.disagree("%s: %d rules saw the line", where, len(vs))
		return
	}
	v := vs[0]
	found := v.Failure != nil && !v.Failure.Helper && (v.Verdict == rules.Hit || v.Verdict == rules.HostName || v.Verdict == rules.BadAddress)
	want, _ := faildata["match"].(bool)
	if !found {
		if want {
			r.disagree("%s: not a failure (%s), want one: %.80q", where, v.Verdict, line)
			return
		}
		r.agreed++
		return
	}
	if !want {
		r.disagree("%s: a failure of %s, want none: %.80q", where, v.Failure.ID, line)
		return
	}
	if !checkFailure(r, where, v.Failure, faildata, loc) {
		return
	}
	if v.Verdict == rules.HostName {
		r.dns++
	}
	r.agreed++
}

// sampleEvent is the event of a sample line: a syslog line, or under
// logtype journal the line (with its test.prefix-line) split as the
// journal gives it. It returns the line as the filter reads it.
func sampleEvent(ft filterTest, line string, loc *time.Location) (pipeline.Event, string) {
	ev := pipeline.Event{Format: pipeline.FormatSyslog, Source: ft.name, Line: line}
	if ft.opts["logtype"] != "journal" {
		return ev, line
	}
	if p, ok := ft.opts["test.prefix-line"].(string); ok {
		line = p + line
	}
	ev.Time = time.Unix(testNow, 0).In(loc)
	ev.Line, ev.Message = line, line
	if m := journalLine.FindStringSubmatch(line); m != nil {
		pid, _ := strconv.Atoi(m[3])
		if rebuilt := journalText(m[1], m[2], pid, m[4]); rebuilt == line {
			ev.Host, ev.Program, ev.PID, ev.Message, ev.Line = m[1], m[2], pid, m[4], m[4]
		}
	}
	return ev, line
}

// checkFailure compares a failure with the sample's annotation, field by
// field and then its time; false (and a disagreement) at the first
// difference.
func checkFailure(r *confRow, where string, f *filter.Failure, faildata map[string]any, loc *time.Location) bool {
	for k, x := range faildata {
		if msg := fieldDiffers(f, k, x); msg != "" {
			r.disagree("%s: %s", where, msg)
			return false
		}
	}
	ts, ok := faildata["time"].(string)
	if !ok {
		return true
	}
	want, err := parseLocal(ts, loc)
	if err != nil {
		r.unsupported["time "+ts]++
		r.disagree("%s: annotation time %q unreadable", where, ts)
		return false
	}
	if !f.Time.Equal(want) {
		r.disagree("%s: time %s, want %s", where, f.Time.UTC().Format(time.RFC3339Nano), want.UTC().Format(time.RFC3339Nano))
		return false
	}
	return true
}

// fieldDiffers says how a failure differs from the annotation's key k
// (value x), "" when it does not.
func fieldDiffers(f *filter.Failure, k string, x any) string {
	switch k {
	case "time", "match", "desc", "constraint":
		return ""
	case "host":
		if !sameHost(f.ID, x) {
			return fmt.Sprintf("host %q, want %v", f.ID, x)
		}
	case "attempts":
		n, _ := x.(float64)
		if len(f.Lines) != int(n) {
			return fmt.Sprintf("%d attempts, want %v", len(f.Lines), x)
		}
	case "users":
		want := toStrings(x)
		got := append([]string(nil), f.Users...)
		sort.Strings(want)
		sort.Strings(got)
		if !slices.Equal(want, got) {
			return fmt.Sprintf("users %v, want %v", got, want)
		}
	default:
		got, ok := f.Field(k)
		if x == nil {
			// null: the group must not be set (Python's None).
			if ok {
				return fmt.Sprintf("%s = %q, want none", k, got)
			}
			return ""
		}
		if !ok || fmt.Sprint(x) != got {
			return fmt.Sprintf("%s = %q (set %v), want %v", k, got, ok, x)
		}
	}
	return ""
}

func journalText(host, prog string, pid int, msg string) string {
	s := host + " " + prog
	if pid != 0 {
		s += "[" + strconv.Itoa(pid) + "]"
	}
	return s + ": " + msg
}

// sameHost compares as fail2ban's IPAddr does: addresses by value, other
// ids as text.
func sameHost(got string, want any) bool {
	w := fmt.Sprint(want)
	a, errA := netip.ParseAddr(got)
	b, errB := netip.ParseAddr(w)
	if errA == nil && errB == nil {
		return a.Unmap() == b.Unmap()
	}
	return got == w
}

func toStrings(v any) []string {
	var out []string
	if l, ok := v.([]any); ok {
		for _, x := range l {
			out = append(out, fmt.Sprint(x))
		}
	}
	return out
}

// parseLocal reads an annotation's time as Python's strptime and mktime
// do: a wall clock in the test's zone.
func parseLocal(s string, loc *time.Location) (time.Time, error) {
	// Python's %m, %d, %H, %M and %S take one digit as well as two.
	for _, layout := range []string{"2006-1-2T15:4:5", "2006-1-2T15:4:5.999999"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("bad time %q", s)
}

// evalCondition evaluates the few Python expressions the samples use:
// name == 'x', opts.get('k') == 'v', opts.get('k') != 'v'. known is
// false for anything else.
var (
	condName = regexp.MustCompile(`^name\s*==\s*'([^']*)'$`)
	condOpt  = regexp.MustCompile(`^opts\.get\('([^']*)'\)\s*(==|!=)\s*'([^']*)'$`)
)

func evalCondition(expr, name string, opts map[string]any) (result, known bool) {
	expr = strings.TrimSpace(expr)
	if m := condName.FindStringSubmatch(expr); m != nil {
		return name == m[1], true
	}
	if m := condOpt.FindStringSubmatch(expr); m != nil {
		v, ok := opts[m[1]]
		eq := ok && fmt.Sprint(v) == m[3]
		if m[2] == "==" {
			return eq, true
		}
		return !eq, true
	}
	return true, false
}

// maxExamples is how many disagreements a row shows ($CONFORMANCE_EXAMPLES,
// default 3).
func maxExamples() int {
	if n, err := strconv.Atoi(os.Getenv("CONFORMANCE_EXAMPLES")); err == nil {
		return n
	}
	return 3
}
