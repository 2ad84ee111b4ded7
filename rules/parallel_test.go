package rules

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/sources"
)

// writesSink keeps every write apart, so that the writes themselves are
// compared, not only the decisions.
type writesSink struct{ writes [][]pipeline.Decision }

func (s *writesSink) Write(_ context.Context, ds []pipeline.Decision) error {
	s.writes = append(s.writes, append([]pipeline.Decision(nil), ds...))
	return nil
}
func (s *writesSink) Close(context.Context) error { return nil }

// distinctLogs writes an access log and an auth.log of a few MB each
// (several of a file's 1 MB chunks) into dir: scanners probing
// WordPress folders (web-wp-scan bans at four distinct paths in ten
// minutes), some too slowly, some only for static files, among ordinary
// requests; and sshd sprays (distinct user names) among other lines.
func distinctLogs(t *testing.T, dir string) (access, auth string) {
	r := rand.New(rand.NewPCG(19, 2))
	addr := func(n int) string { return fmt.Sprintf("198.51.%d.%d", n/250, 1+n%250) }
	var a, s strings.Builder
	at := time.Date(2025, 11, 8, 0, 0, 0, 0, time.UTC)
	for i := range 60_000 {
		at = at.Add(time.Duration(r.IntN(300)) * time.Millisecond)
		n := min(r.IntN(2000), r.IntN(2000))
		path, status := fmt.Sprintf("/page/%d", r.IntN(50)), 200
		switch r.IntN(20) {
		case 0:
			// One of 60 scanners, a probe every three minutes or so.
			n = r.IntN(60)
			path, status = fmt.Sprintf("/wp-%s/plugins/p%d/readme.txt", []string{"content", "admin", "includes"}[r.IntN(3)], r.IntN(12)), 404
		case 1:
			path, status = fmt.Sprintf("/wp-includes/js/x%d.js", r.IntN(9)), 404
		}
		fmt.Fprintf(&a, "%s - - [%s] \"GET %s HTTP/1.1\" %d %d \"-\" \"Mozilla/5.0 (X11; Linux x86_64) line %d\"\n",
			addr(n), at.Format("02/Jan/2006:15:04:05 -0700"), path, status, 100+r.IntN(5000), i)
		if i%4 == 0 {
			msg := fmt.Sprintf("Invalid user u%d from %s port %d", r.IntN(6), addr(n), 1024+r.IntN(60000))
			if r.IntN(3) == 0 {
				msg = fmt.Sprintf("Accepted publickey for deploy from %s port %d ssh2: ED25519 SHA256:abc", addr(n), 1024+r.IntN(60000))
			}
			fmt.Fprintf(&s, "%s web1 sshd[%d]: %s\n", at.Format(time.Stamp), 1000+r.IntN(50), msg)
		}
	}
	access, auth = filepath.Join(dir, "access.log"), filepath.Join(dir, "auth.log")
	for name, text := range map[string]string{access: a.String(), auth: s.String()} {
		if err := os.WriteFile(name, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return access, auth
}

// TestParallelDistinctDecidesAsOne: the built-in packs (web-wp-scan's
// distinct()) and a rule counting distinct user names decide the same,
// in the same writes, with the same rule statistics, whether the logs
// replay on one goroutine or in parallel: each log alone, read in chunks
// matched side by side, and both together; the events whose regex such a
// rule matched are judged in order by the merge.
func TestParallelDistinctDecidesAsOne(t *testing.T) {
	packs, err := DefaultPacks()
	if err != nil {
		t.Fatal(err)
	}
	spray, err := Parse("spray.yaml", []byte(strings.Replace(sprayPack, "name: spray", "name: spray-users", 1)))
	if err != nil {
		t.Fatal(err)
	}
	access, auth := distinctLogs(t, t.TempDir())
	replay := func(workers int, paths ...string) ([][]pipeline.Decision, []pipeline.RuleStats) {
		t.Helper()
		set, err := NewSet(append(packs, spray)...)
		if err != nil {
			t.Fatal(err)
		}
		var (
			its     []pipeline.Iterator
			formats []pipeline.Format
		)
		for _, p := range paths {
			f, err := sources.Open(p, sources.Options{Loc: time.UTC, Ref: time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { f.Close() })
			its, formats = append(its, f), append(formats, f.Format)
		}
		if workers > 1 && (set.Concurrent(formats) || !set.ConcurrentApart(formats)) {
			t.Fatalf("%v: Concurrent %v, ConcurrentApart %v: want the distinct() rules judged apart, in order",
				formats, set.Concurrent(formats), set.ConcurrentApart(formats))
		}
		e := pipeline.NewEngine(set, pipeline.Config{Origin: "t", EmitUnbans: true})
		sink := &writesSink{}
		if err := pipeline.ReplayWith(t.Context(), e, its, sink, pipeline.ReplayOptions{Workers: workers, Formats: formats}); err != nil {
			t.Fatal(err)
		}
		return sink.writes, e.Stats()
	}
	for _, paths := range [][]string{{access}, {auth}, {access, auth}} {
		want, wantStats := replay(1, paths...)
		bans := map[string]int{}
		for _, w := range want {
			for _, d := range w {
				bans[d.Rule]++
			}
		}
		if slices.Contains(paths, access) && bans["web-wp-scan"] == 0 || slices.Contains(paths, auth) && bans["spray-users"] == 0 {
			t.Fatalf("%v: no rule reading distinct() banned (%v): the test tests nothing", paths, bans)
		}
		t.Logf("%v: decisions by rule %v", paths, bans)
		for _, workers := range []int{2, 4} {
			got, gotStats := replay(workers, paths...)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%v, %d workers: the writes differ from one goroutine's: %d writes, want %d", paths, workers, len(got), len(want))
			}
			if !reflect.DeepEqual(gotStats, wantStats) {
				t.Errorf("%v, %d workers: rule statistics differ", paths, workers)
			}
		}
	}
}

// TestForkDefersWhatReachesState: a fork judges a state-reading
// predicate's conjuncts before the first one that reads state, and
// defers only the events for which they all hold: web-wp-scan's 404 for
// a plugin's readme is deferred; an asset, a 200 or a verified crawler
// is judged on the fork (no hit, as in order: distinct() is never
// reached); a predicate that reads state first, or under ||, defers
// every event its regex matched.
func TestForkDefersWhatReachesState(t *testing.T) {
	packs, err := DefaultPacks()
	if err != nil {
		t.Fatal(err)
	}
	extra, err := Parse("x.yaml", []byte(`pack: x
rules:
  - name: first
    formats: [syslog]
    programs: [sshd]
    failregex: ['^Invalid user <F-USER>\S+</F-USER> from <HOST> port \d+$']
    when: 'distinct(user, addr, "10m") >= 3 && user != "root"'
    ban: 1h
  - name: either
    formats: [syslog]
    programs: [sshd]
    failregex: ['^Failed password for <F-USER>\S+</F-USER> from <HOST> port \d+ ssh2$']
    when: 'user == "root" || distinct(user, addr, "10m") >= 3'
    ban: 1h
`))
	if err != nil {
		t.Fatal(err)
	}
	set, err := NewSet(append(packs, extra)...)
	if err != nil {
		t.Fatal(err)
	}
	fork := set.Fork().(*Set)
	web := func(req, status, ua string) *pipeline.Event {
		line := fmt.Sprintf(`198.51.100.7 - - [08/Nov/2025:22:00:00 +0000] "GET %s HTTP/1.1" %s 153 "-" "%s"`, req, status, ua)
		f, err := sources.OpenStream("access.log", strings.NewReader(line+"\n"), sources.Options{Loc: time.UTC})
		if err != nil {
			t.Fatal(err)
		}
		var ev pipeline.Event
		if err := f.Next(&ev); err != nil {
			t.Fatal(err)
		}
		c := ev.Clone()
		return &c
	}
	for _, tc := range []struct {
		name   string
		ev     *pipeline.Event
		defers bool
	}{
		{"a plugin's readme, 404", web("/wp-content/plugins/akismet/readme.txt", "404", "curl/8"), true},
		{"a stylesheet, 404", web("/wp-content/themes/t/style.css", "404", "curl/8"), false},
		{"a plugin's readme, 200", web("/wp-content/plugins/akismet/readme.txt", "200", "curl/8"), false},
		{"an upload, 404", web("/wp-content/uploads/2025/x.php", "404", "curl/8"), false},
		{"no wp- folder", web("/index.php", "404", "curl/8"), false},
		{"state first", sshLine(0, "Invalid user admin from 203.0.113.9 port 22"), true},
		{"state under ||", sshLine(0, "Failed password for admin from 203.0.113.9 port 22 ssh2"), true},
	} {
		hits := fork.Match(tc.ev, nil)
		if fork.Deferred() != tc.defers {
			t.Errorf("%s: deferred %v, want %v", tc.name, fork.Deferred(), tc.defers)
		}
		if tc.defers && len(hits) > 0 {
			t.Errorf("%s: deferred with hits %+v", tc.name, hits)
		}
		if set.Match(tc.ev, nil); set.Deferred() {
			t.Errorf("%s: the engine's own set deferred", tc.name)
		}
	}
}

// TestStatefulByFormat: of the built-in packs, a rule that keeps state
// between lines sees syslog; none sees an access log, an eve.json or a
// fast.log, whose parallel replays then ask Sequential of no line. A
// syslog source counts as an access one too (its web-server lines are
// lifted to access events), and formats not all known as any.
func TestStatefulByFormat(t *testing.T) {
	set, err := NewSet(DefaultPacksAllOn(t)...)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		formats []pipeline.Format
		want    bool
	}{
		{[]pipeline.Format{pipeline.FormatSyslog}, true},
		{[]pipeline.Format{pipeline.FormatNginx}, false},
		{[]pipeline.Format{pipeline.FormatEve}, false},
		{[]pipeline.Format{pipeline.FormatFastLog}, false},
		{[]pipeline.Format{pipeline.FormatNginx, pipeline.FormatEve}, false},
		{[]pipeline.Format{pipeline.FormatEve, pipeline.FormatSyslog}, true},
		{nil, true},
	} {
		if got := set.Stateful(tc.formats); got != tc.want {
			t.Errorf("Stateful(%v) = %v, want %v", tc.formats, got, tc.want)
		}
	}

	// A set whose only rule that keeps state is an access one: a syslog
	// source may carry its events.
	var access []*Rule
	for _, r := range set.rules {
		if !r.m.stateful() && slices.Contains(r.Formats, pipeline.FormatNginx) {
			access = append(access, r)
			break
		}
	}
	if len(access) == 0 {
		t.Fatal("no access rule to test with")
	}
	r := *access[0]
	r.m = &fail2banMatcher{}
	r.Formats = []pipeline.Format{pipeline.FormatNginx}
	lone := &Set{rules: []*Rule{&r}}
	if !lone.Stateful([]pipeline.Format{pipeline.FormatSyslog}) || lone.Stateful([]pipeline.Format{pipeline.FormatEve}) {
		t.Errorf("an access rule that keeps state: Stateful(syslog) %v, Stateful(eve) %v, want true, false",
			lone.Stateful([]pipeline.Format{pipeline.FormatSyslog}), lone.Stateful([]pipeline.Format{pipeline.FormatEve}))
	}
}

// TestParallelLiftedAccessInOrder: a syslog log whose nginx lines are
// access lines (lifted to access events) and a fail2ban rule of the
// access format that joins two lines (maxlines: 2): Stateful counts the
// syslog source as an access one, so a parallel replay of the log read
// in chunks judges those lines in order, and decides as one goroutine.
func TestParallelLiftedAccessInOrder(t *testing.T) {
	pack, err := Parse("t.yaml", []byte(`pack: t
rules:
  - name: two-step
    dialect: fail2ban
    formats: [nginx]
    maxlines: 2
    threshold: 2
    window: 10m
    ban: 1m
    failregex: ['^<HOST> \S+ \S+ \[[^\]]*\] "GET /step1 [^\n]*\n[^\n]*"GET /step2 ']
`))
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(19, 7))
	var s strings.Builder
	at := time.Date(2025, 11, 8, 0, 0, 0, 0, time.UTC)
	for i := 0; s.Len() < 3<<20; i++ {
		at = at.Add(time.Duration(r.IntN(200)) * time.Millisecond)
		path := []string{"/step1", "/step2", "/page"}[r.IntN(3)]
		fmt.Fprintf(&s, "%s web1 nginx[%d]: 198.51.100.%d - - [%s] \"GET %s HTTP/1.1\" 404 10 \"-\" \"x %d\"\n",
			at.Format(time.Stamp), 100+r.IntN(9), 1+r.IntN(40), at.Format("02/Jan/2006:15:04:05 -0700"), path, i)
	}
	replaysAsOne(t, pack, "syslog", s.String(), pipeline.FormatSyslog)
}

// TestParallelErrorLinesInOrder: an access log's nginx error lines are
// plain events (the Decoder reads them so, sources/mixed.go), so a
// fail2ban rule of the plain format that joins two lines sees them in an
// access log too, and a parallel replay judges them in order: the same
// writes as one goroutine.
func TestParallelErrorLinesInOrder(t *testing.T) {
	pack, err := Parse("t.yaml", []byte(`pack: t
rules:
  - name: two-step
    dialect: fail2ban
    formats: [plain]
    maxlines: 2
    threshold: 2
    window: 10m
    ban: 1m
    failregex: ['client: <HOST>, server: x, request: "GET /step1 [^\n]*\n[^\n]*"GET /step2 ']
`))
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(23, 5))
	var s strings.Builder
	at := time.Date(2025, 11, 8, 0, 0, 0, 0, time.UTC)
	for i := 0; s.Len() < 3<<20; i++ {
		at = at.Add(time.Duration(r.IntN(200)) * time.Millisecond)
		ip := fmt.Sprintf("198.51.100.%d", 1+r.IntN(40))
		if i < 20 || r.IntN(2) == 0 {
			fmt.Fprintf(&s, "%s - - [%s] \"GET /page HTTP/1.1\" 200 10 \"-\" \"x %d\"\n", ip, at.Format("02/Jan/2006:15:04:05 -0700"), i)
			continue
		}
		path := []string{"/step1", "/step2"}[r.IntN(2)]
		fmt.Fprintf(&s, "%s [error] 7#7: *%d access forbidden by rule, client: %s, server: x, request: \"GET %s HTTP/1.1\"\n",
			at.Format("2006/01/02 15:04:05"), i, ip, path)
	}
	replaysAsOne(t, pack, "access.log", s.String(), pipeline.FormatNginx)
}

// TestConcurrentCountsLiftedAccess: an access rule that reads what the
// workers count (banned()) forbids a parallel replay of a syslog log too,
// whose nginx lines are access events; of an eve.json it does not.
func TestConcurrentCountsLiftedAccess(t *testing.T) {
	pack, err := Parse("t.yaml", []byte(`pack: t
rules:
  - name: first-404
    formats: [nginx]
    when: 'status == 404 && !banned(addr)'
    ban: 1m
`))
	if err != nil {
		t.Fatal(err)
	}
	set, err := NewSet(pack)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		formats []pipeline.Format
		want    bool
	}{
		{[]pipeline.Format{pipeline.FormatSyslog}, false},
		{[]pipeline.Format{pipeline.FormatNginx}, false},
		{[]pipeline.Format{pipeline.FormatEve}, true},
	} {
		if got := set.ConcurrentApart(tc.formats); got != tc.want {
			t.Errorf("ConcurrentApart(%v) = %v, want %v", tc.formats, got, tc.want)
		}
		if got := set.Concurrent(tc.formats); got != tc.want {
			t.Errorf("Concurrent(%v) = %v, want %v", tc.formats, got, tc.want)
		}
	}
}

// replaysAsOne replays the log, written to a file of that name, whose
// format is detected as format, through pack on 1, 2 and 4 workers: the
// writes of each must be one goroutine's, and there must be some.
func replaysAsOne(t *testing.T, pack *Pack, name, log string, format pipeline.Format) {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(log), 0o600); err != nil {
		t.Fatal(err)
	}
	replay := func(workers int) [][]pipeline.Decision {
		set, err := NewSet(pack)
		if err != nil {
			t.Fatal(err)
		}
		f, err := sources.Open(path, sources.Options{Loc: time.UTC, Ref: time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC)})
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if f.Format != format {
			t.Fatalf("format %v, want %v", f.Format, format)
		}
		e := pipeline.NewEngine(set, pipeline.Config{Origin: "t", EmitUnbans: true})
		sink := &writesSink{}
		formats := []pipeline.Format{f.Format}
		if err := pipeline.ReplayWith(t.Context(), e, []pipeline.Iterator{f}, sink, pipeline.ReplayOptions{Workers: workers, Formats: formats}); err != nil {
			t.Fatal(err)
		}
		return sink.writes
	}
	want := replay(1)
	if len(want) == 0 {
		t.Fatal("no decision: the test tests nothing")
	}
	for _, workers := range []int{2, 4} {
		if got := replay(workers); !reflect.DeepEqual(got, want) {
			t.Errorf("%d workers: the writes differ from one goroutine's: %d writes, want %d", workers, len(got), len(want))
		}
	}
}
