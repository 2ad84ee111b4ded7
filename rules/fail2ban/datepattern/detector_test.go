package datepattern

import (
	"strings"
	"sync"
	"testing"
	"time"
	_ "time/tzdata"
)

func TestDateDetector(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1124013600, 0) // 2005-08-14 12:00 CEST
	cases := []struct {
		name     string
		patterns []string // datepattern lines; none: fail2ban's defaults
		line     string
		date     string // the text cut out; "" = none found
		want     string // RFC 3339, or "" when the date does not read
	}{
		{"syslog", nil, "Jan 23 21:59:59 host sshd[1]: x", "Jan 23 21:59:59", "2005-01-23T21:59:59+01:00"},
		{"syslog one-digit day", nil, "Feb  7 16:01:07 linux sshd[5]: x", "Feb  7 16:01:07", "2005-02-07T16:01:07+01:00"},
		{"syslog last year", nil, "Dec 31 23:00:00 host x", "Dec 31 23:00:00", "2004-12-31T23:00:00+01:00"},
		{"iso with zone", nil, "2005-01-23T21:59:59.981746+00:00 host x", "2005-01-23T21:59:59.981746+00:00", "2005-01-23T21:59:59Z"},
		{"apache access", nil, `192.0.2.1 - - [31/Oct/2006:09:22:55 -0000] "GET / HTTP/1.1"`, "31/Oct/2006:09:22:55 -0000", "2006-10-31T09:22:55Z"},
		{"apache error", nil, "[Sun Jul 14 12:00:01 2013] [error] x", "Sun Jul 14 12:00:01 2013", "2013-07-14T12:00:01+02:00"},
		{"no date", nil, "no date on this line", "", ""},
		{"line begin only", []string{"{^LN-BEG}"}, "x Jan 23 21:59:59 host", "", ""},
		{"custom pattern", []string{"^%b-%d-%Exy %H:%M:%S"}, "Apr-27-13 02:33:06 [1] x", "Apr-27-13 02:33:06", "2013-04-27T02:33:06+02:00"},
		{"custom with date placeholder", []string{`^[^\[]*\[({DATE})`}, `192.0.2.1 - - [31/Oct/2006:09:22:55 +0100] "GET"`, "31/Oct/2006:09:22:55 +0100", "2006-10-31T08:22:55Z"},
		{"epoch", []string{"EPOCH"}, "1138000000 x", "1138000000", "2006-01-23T08:06:40+01:00"},
		{"tai64n", []string{"{^LN-BEG}TAI64N"}, "@400000004c1e2f6b1b0c9c0c dovecot: x", "@400000004c1e2f6b1b0c9c0c", "2010-06-20T17:10:35+02:00"},
		{"two patterns, second wins", []string{"^%Y/%m/%d %H:%M:%S", "{^LN-BEG}"}, "Jan 23 21:59:59 x", "Jan 23 21:59:59", "2005-01-23T21:59:59+01:00"},
		{"no day for this month", []string{"^%Y-%m-%d %H:%M:%S"}, "2005-02-30 10:00:00 x", "2005-02-30 10:00:00", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := New(c.patterns)
			if err != nil {
				t.Fatal(err)
			}
			m, ok := d.Find(c.line, NewState())
			if !ok {
				if c.date != "" {
					t.Fatalf("no date found in %q, want %q", c.line, c.date)
				}
				return
			}
			if got := c.line[m.start:m.end]; got != c.date {
				t.Fatalf("date %q found in %q, want %q", got, c.line, c.date)
			}
			tm, ok := m.date(c.line, now, berlin)
			if c.want == "" {
				if ok {
					t.Fatalf("%q read as %v, want no date", c.date, tm)
				}
				return
			}
			want, _ := time.Parse(time.RFC3339, c.want)
			if !ok || !tm.Equal(want) {
				t.Fatalf("%q read as %v (%v), want %v", c.date, tm, ok, want)
			}
		})
	}
}

func TestDatePatternRefused(t *testing.T) {
	for _, p := range []string{"^%Q", "%Y 100%", "^(%H"} {
		if _, err := New([]string{p}); err == nil {
			t.Errorf("datepattern %q accepted", p)
		}
	}
	if _, err := New([]string{"^%H:%M", "^%H:%M"}); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("a pattern given twice: %v", err)
	}
}

// Most of the default templates run on RE2: fail2ban's word boundaries
// are rewritten, not left to a backtracking engine.
func TestDefaultTemplatesMostlyRE2(t *testing.T) {
	d, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	d = d.resolved()
	re2 := 0
	for _, tm := range d.templates {
		if tm.ready().re.Kind() == "re2" {
			re2++
		}
	}
	if re2*3 < len(d.templates)*2 {
		t.Errorf("%d of %d default templates on RE2, want two thirds at least", re2, len(d.templates))
	}
}

func BenchmarkDateDetectorSyslog(b *testing.B) {
	d, err := New([]string{"{^LN-BEG}"})
	if err != nil {
		b.Fatal(err)
	}
	st := NewState()
	line := "Nov  8 22:00:01 web1 sshd[4198]: Failed password for root from 203.0.113.10 port 41000 ssh2"
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := d.Find(line, st); !ok {
			b.Fatal("no date")
		}
	}
}

// BenchmarkDateDetectorSeconds: a line a second, as a quiet server's log
// is read live (each line a new stamp), found and read.
func BenchmarkDateDetectorSeconds(b *testing.B) {
	d, err := New([]string{"{^LN-BEG}"})
	if err != nil {
		b.Fatal(err)
	}
	st := NewState()
	at := time.Date(2025, 11, 8, 22, 0, 0, 0, time.UTC)
	var lines []string
	for i := range 3600 {
		lines = append(lines, at.Add(time.Duration(i)*time.Second).Format(time.Stamp)+" web1 sshd[4198]: Failed password for root from 203.0.113.10 port 41000 ssh2")
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		line := lines[i%len(lines)]
		dm, ok := d.Find(line, st)
		if !ok {
			b.Fatal("no date")
		}
		if _, ok := st.Date(&dm, line, at.Add(time.Duration(i%len(lines))*time.Second), time.UTC); !ok {
			b.Fatal("no time")
		}
		i++
	}
}

// TestDefaultTemplatesCompile: fail2ban's default templates are compiled
// at their first search, where an error is a panic: each compiles.
func TestDefaultTemplatesCompile(t *testing.T) {
	d := compileDefaults(newCompiler())
	if d.err != nil {
		t.Fatal(d.err)
	}
	for _, tm := range d.templates {
		if tm.re != nil || tm.build == nil {
			t.Fatalf("%s: compiled before its first search", tm.name)
		}
		if err := tm.build(); err != nil {
			t.Errorf("%s: %v", tm.name, err)
		}
	}
}

// TestDefaultsShared: the detectors of datepatterns that use fail2ban's
// defaults hold the templates compiled once for the process, in the
// order and with the names and bounds freshly compiled ones have, and a
// compiler whose years differ (a daemon that lived into the next decade)
// gets its own.
func TestDefaultsShared(t *testing.T) {
	fresh := compileDefaults(newCompiler())
	if fresh.err != nil {
		t.Fatal(fresh.err)
	}
	cases := []struct {
		patterns []string
		own      int // templates compiled for the datepattern itself
	}{{nil, 0}, {[]string{"{DEFAULT}"}, 0}, {[]string{"{^LN-BEG}"}, 0}, {[]string{"^%Y/%m/%d %H:%M:%S", "{^LN-BEG}"}, 1}}
	for _, c := range cases {
		patterns := c.patterns
		a, err := New(patterns)
		if err != nil {
			t.Fatal(err)
		}
		b, err := New(patterns)
		if err != nil {
			t.Fatal(err)
		}
		a, b = a.resolved(), b.resolved()
		if len(a.templates) != len(b.templates) || a.stamp != b.stamp || a.stamp < 0 {
			t.Fatalf("%q: detectors differ: %d templates (stamp %d) and %d (stamp %d)", patterns, len(a.templates), a.stamp, len(b.templates), b.stamp)
		}
		shared := 0
		for i, tm := range a.templates {
			if tm == b.templates[i] {
				shared++
			}
		}
		if shared != len(a.templates)-c.own {
			t.Errorf("%q: %d of %d templates shared by two detectors", patterns, shared, len(a.templates))
		}
	}
	d, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	d = d.resolved()
	if len(d.templates) != len(fresh.templates) {
		t.Fatalf("%d default templates, %d freshly compiled", len(d.templates), len(fresh.templates))
	}
	for i, tm := range d.templates {
		f := fresh.templates[i]
		tm.ready()
		f.ready()
		if tm.name != f.name || tm.flags != f.flags || tm.kind != f.kind || tm.grp != f.grp ||
			tm.prefixChar != f.prefixChar || tm.suffixGroup != f.suffixGroup || tm.re.Kind() != f.re.Kind() {
			t.Errorf("template %d: shared %s (flags %d, kind %d, group %d, prefix %v, suffix %d, %s), fresh %s (flags %d, kind %d, group %d, prefix %v, suffix %d, %s)", i,
				tm.name, tm.flags, tm.kind, tm.grp, tm.prefixChar, tm.suffixGroup, tm.re.Kind(), f.name, f.flags, f.kind, f.grp, f.prefixChar, f.suffixGroup, f.re.Kind())
		}
	}
	later := &compiler{exY: yearRE(time.Date(2097, 1, 1, 0, 0, 0, 0, time.UTC))}
	if defaultsFor(later) == sharedDefaults() {
		t.Error("a compiler of other years got the shared defaults")
	}
	if got := defaultsFor(newCompiler()); got != sharedDefaults() {
		t.Error("a compiler of this year did not get the shared defaults")
	}
}

// TestDetectorLazy: a datepattern of defaults only compiles nothing at
// New and its detector finds, from several goroutines at once on its
// first lines, what one built at once finds; a pattern of its own is
// compiled (and so refused) at New.
func TestDetectorLazy(t *testing.T) {
	for _, patterns := range [][]string{nil, {"{default}"}, {"{^LN-BEG}"}, {"", "{^LN-BEG}", "{DEFAULT}"}} {
		d, err := New(patterns)
		if err != nil {
			t.Fatal(err)
		}
		if d.lazy == nil || d.templates != nil {
			t.Fatalf("%q: compiled at New", patterns)
		}
		eager, err := build(patterns)
		if err != nil {
			t.Fatal(err)
		}
		lines := []string{
			"Nov  8 22:00:01 web1 sshd[4198]: Failed password for root from 203.0.113.10 port 41000 ssh2",
			`192.0.2.1 - - [31/Oct/2006:09:22:55 -0000] "GET / HTTP/1.1"`,
			"2005-01-23T21:59:59.981746+00:00 host x",
			"no date on this line",
		}
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				st, est := NewState(), NewState()
				for _, l := range lines {
					m, ok := d.Find(l, st)
					em, eok := eager.Find(l, est)
					if ok != eok || m.start != em.start || m.end != em.end || m.idx != em.idx || (ok && m.t.name != em.t.name) {
						t.Errorf("%q: %q: lazy found %v %d:%d, built at once %v %d:%d", patterns, l, ok, m.start, m.end, eok, em.start, em.end)
					}
				}
			})
		}
		wg.Wait()
	}
	d, err := New([]string{"^%Y/%m/%d %H:%M:%S", "{^LN-BEG}"})
	if err != nil {
		t.Fatal(err)
	}
	if d.lazy != nil || len(d.templates) == 0 {
		t.Error("a datepattern of its own was not compiled at New")
	}
}
