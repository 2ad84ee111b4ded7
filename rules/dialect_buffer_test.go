package rules

import (
	"strings"
	"testing"

	"github.com/stockade-ids/stockade/pipeline"
)

// TestFail2banLinesOutliveTheirBuffer: a source's event is valid only
// until it reads its next line (File hands out views of its read buffer,
// which the next read overwrites), yet a fail2ban filter searches the
// last maxlines lines together and dates a dateless line by the last
// date's text. What the session keeps of a line must be its own: here
// every line is read into one buffer that is scribbled over after each
// Match, as a refill of the reader would.
func TestFail2banLinesOutliveTheirBuffer(t *testing.T) {
	buf := make([]byte, 256)
	match := func(s *Set, line string) []pipeline.Hit {
		n := copy(buf, line)
		ev := pipeline.Event{Format: pipeline.FormatSyslog, Source: "log", Line: pipeline.UnsafeString(buf[:n])}
		hits := s.Match(&ev, nil)
		for i := range buf {
			buf[i] = 'X'
		}
		return hits
	}
	s, _ := fail2banSet(t, "    maxlines: 2\n    failregex: ['^\\s*user (?P<u>bob)\\n.*from <HOST>$']\n")
	match(s, "Aug 14 11:00:00 user bob")
	if hits := match(s, "Aug 14 11:00:01 login from 192.0.2.3"); len(hits) != 1 || hits[0].Target.String() != "192.0.2.3" {
		t.Errorf("two lines searched together, the first read into a buffer since overwritten: hits %+v, want 192.0.2.3", hits)
	}
}

// TestFail2banLastDateOutlivesItsBuffer: a dateless line within a
// minute of a dated one is dated, and quoted, with the last date's text,
// which came from a line the source has since read past.
func TestFail2banLastDateOutlivesItsBuffer(t *testing.T) {
	buf := make([]byte, 256)
	explain := func(s *Set, line string) RuleVerdict {
		n := copy(buf, line)
		ev := pipeline.Event{Format: pipeline.FormatSyslog, Source: "log", Line: pipeline.UnsafeString(buf[:n])}
		v := s.Explain(&ev, nil)[0]
		for i := range buf {
			buf[i] = 'X'
		}
		return v
	}
	s, _ := fail2banSet(t, "    failregex: ['^\\s*fail <HOST>$']\n")
	explain(s, "Aug 14 11:00:00 fail 192.0.2.1")
	v := explain(s, "fail 192.0.2.2")
	if v.Verdict != Hit || v.Failure == nil || len(v.Failure.Lines) != 1 || !strings.HasPrefix(v.Failure.Lines[0], "Aug 14 11:00:00") {
		t.Fatalf("a dateless line after a dated one, read into a buffer since overwritten: %s %+v, want a hit quoted with the last date", v.Verdict, v.Failure)
	}
}
