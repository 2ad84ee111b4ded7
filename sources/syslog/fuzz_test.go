package syslog

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/internal/testcorpus"
	"github.com/stockade-ids/stockade/pipeline"
)

// fuzzSeeds are shapes the testdata files do not show.
var fuzzSeeds = []string{
	"Nov  8 22:00:01.123456 bastion sshd[2738]: Failed password for root from 2001:db8::1 port 1786 ssh2\r",
	"Feb 29 00:00:00 h kernel: x",
	"Dec 31 23:59:60 h x",
	"<38>Nov 8 22:00:01 sshd[1]: x",
	"<86>2025-11-08T22:00:01.123+00:00 bastion sshd[1]: x",
	"2025-11-08T22:00:01-0330 h pam_unix(sshd:auth): x",
	"2019-06-14T10:40:20.912134 localhost sudo: x",
	`<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog 1234 ID47 [exampleSDID@32473 iut="3" eventSource="Application"] An application event`,
	`<13>1 2025-11-08T22:00:01Z h app 1 - [a@1 x="say \"hi\" \] ok" y="\\"] msg`,
	"<13>1 2025-11-08T22:00:01Z - - - - - \xEF\xBB\xBFhello",
	"<13>1 - - - - - - x",
	"Mar  3 00:17:22 [sshd]: User root",
	"2025-11-08 22:00:01,123 fail2ban.actions [1]: NOTICE [sshd] Ban 1.2.3.4",
}

func FuzzParse(f *testing.F) {
	const refSec = int64(1767355200) // ref
	for _, s := range fuzzSeeds {
		f.Add([]byte(s), refSec, false)
	}
	for _, line := range readLines(f, filepath.Join("testdata", "auth.log")) {
		f.Add(line, refSec, true)
	}
	if root := testcorpus.Root(); root != "" {
		for _, rel := range []string{
			"elastic__beats/filebeat/module/system/auth/test/test.log",
			"elastic__beats/filebeat/module/system/auth/test/timestamp.log",
			"fail2ban__fail2ban/fail2ban/tests/files/logs/sshd",
		} {
			data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
			if err != nil {
				continue
			}
			for line := range bytes.SplitSeq(data, []byte("\n")) {
				if len(line) > 0 && line[0] != '#' {
					f.Add(line, fail2banNow.Unix(), false)
				}
			}
		}
	}
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		ny = time.FixedZone("EST", -5*3600)
	}

	f.Fuzz(func(t *testing.T, line []byte, refSec int64, zoned bool) {
		// Keep the reference within a few centuries of now, where the
		// calendar arithmetic cannot overflow.
		r := time.Unix(1_000_000_000+refSec%10_000_000_000, 0)
		loc := time.UTC
		if zoned {
			loc = ny
		}
		p := New(r, loc)
		orig := bytes.Clone(line)
		sniffed := Sniff(line)
		var ev pipeline.Event
		err := p.Parse(line, &ev)
		if !bytes.Equal(line, orig) {
			t.Fatal("Parse modified its input")
		}
		if err != nil {
			if _, ok := err.(*pipeline.BadLine); !ok {
				t.Fatalf("error %v is not a *pipeline.BadLine", err)
			}
			if !reflect.DeepEqual(ev, pipeline.Event{}) {
				t.Fatalf("ev changed on error: %+v", ev)
			}
			return
		}
		trimmed := string(bytes.TrimSuffix(line, []byte("\r")))
		switch {
		case ev.Line != trimmed:
			t.Fatalf("Line = %q, want %q", ev.Line, trimmed)
		case !strings.HasSuffix(ev.Line, ev.Message):
			t.Fatalf("Message %q is not a suffix of the line", ev.Message)
		case !strings.Contains(ev.Line, ev.Host), !strings.Contains(ev.Line, ev.Program):
			t.Fatalf("Host %q or Program %q not from the line", ev.Host, ev.Program)
		case strings.Contains(ev.Host, " "), strings.Contains(ev.Program, " "):
			t.Fatalf("Host %q or Program %q holds a space", ev.Host, ev.Program)
		case ev.Time.IsZero():
			t.Fatal("Time is zero")
		case ev.Time.Location() != loc:
			t.Fatalf("Time location = %v, want %v", ev.Time.Location(), loc)
		case ev.PID < 0:
			t.Fatalf("PID = %d", ev.PID)
		case ev.Format != pipeline.FormatSyslog:
			t.Fatalf("Format = %v", ev.Format)
		case !sniffed:
			t.Fatal("Parse accepts a line Sniff rejects")
		}
		checkTime(t, trimmed, ev.Time, r, loc)
	})
}

// checkTime compares the time Parse found with what the time package makes
// of the same timestamp, wherever the time package reads it at all.
func checkTime(t *testing.T, line string, got, r time.Time, loc *time.Location) {
	s := line
	if strings.HasPrefix(s, "<") {
		s = s[strings.IndexByte(s, '>')+1:]
		if len(s) > 2 && s[1] == ' ' || len(s) > 3 && s[2] == ' ' { // RFC 5424 VERSION
			s = s[strings.IndexByte(s, ' ')+1:]
		}
	}
	if s == "" {
		return
	}
	if isDigit(s[0]) {
		stamp, _, _ := strings.Cut(s, " ")
		want, err := time.Parse(time.RFC3339Nano, stamp)
		if err != nil {
			want, err = time.ParseInLocation("2006-01-02T15:04:05.999999999", stamp, loc)
		}
		if err == nil && !got.Equal(want) {
			t.Fatalf("%q: time %v, time.Parse gives %v", line, got, want)
		}
		return
	}
	// Lines without a year must never land after ref + 24h, and must land
	// in the latest year that satisfies that.
	if got.After(r.Add(24 * time.Hour)) {
		t.Fatalf("%q: time %v is after ref %v + 24h", line, got, r)
	}
	colon := strings.IndexByte(s, ':')
	if colon < 0 {
		t.Fatalf("%q: no clock", line)
	}
	end := strings.IndexByte(s[colon:], ' ')
	if end < 0 {
		end = len(s) - colon
	}
	c, err := time.Parse("Jan _2 15:04:05", s[:colon+end])
	if err != nil {
		return
	}
	want := referenceYear(r, loc, int(c.Month()), c.Day(), c.Hour()*3600+c.Minute()*60+c.Second())
	if !got.Equal(want.Add(time.Duration(c.Nanosecond()))) {
		t.Fatalf("%q: time %v, want %v", line, got, want)
	}
}

// FuzzStampRecall: a line read after another, whose timestamp the parser
// remembers, gives what it gives to a parser new to it.
func FuzzStampRecall(f *testing.F) {
	f.Add([]byte("Nov  8 22:00:01 h sshd[1]: a"), []byte("Nov  8 22:00:01.5 h sshd[1]: b"))
	f.Add([]byte("Nov  8 22:00:01 h sshd[1]: a"), []byte("Nov  8 22:00:01 h sshd[1]: b"))
	f.Add([]byte("Feb 29 10:00:00 h x: a"), []byte("Feb 29 10:00:00x h x: b"))
	f.Fuzz(func(t *testing.T, first, second []byte) {
		run := New(ref, time.UTC)
		var before, a, b pipeline.Event
		run.Parse(first, &before)
		errA := run.Parse(second, &a)
		errB := New(ref, time.UTC).Parse(second, &b)
		if fmt.Sprint(errA) != fmt.Sprint(errB) || !reflect.DeepEqual(a, b) {
			t.Fatalf("%q after %q: %+v (%v); alone %+v (%v)", second, first, a, errA, b, errB)
		}
	})
}
