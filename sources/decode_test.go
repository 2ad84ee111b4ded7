package sources

import (
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

var ref = time.Date(2025, 11, 9, 0, 0, 0, 0, time.UTC)

const alert = `{"timestamp":"2025-11-08T22:00:01.000000+0000","event_type":"alert","src_ip":"203.0.113.7","dest_ip":"192.0.2.1","alert":{"gid":1,"signature_id":2001,"rev":1,"signature":"x","severity":1}}`

// TestDecoder: each line is an event, a skip or a bad line with its
// reason, and the counts add up to the lines decoded.
func TestDecoder(t *testing.T) {
	dec := NewDecoder(pipeline.FormatEve, ref, time.UTC, nil)
	for _, tc := range []struct {
		name, line string
		want       Outcome
		reason     string
	}{
		{"alert", alert, Event, ""},
		{"not an alert", `{"timestamp":"2025-11-08T22:00:01.000000+0000","event_type":"flow"}`, Skip, ""},
		{"not json", `this is not eve`, Bad, ""},
		{"too long", strings.Repeat("x", MaxLine+1), Bad, ReasonTooLong},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ev pipeline.Event
			o, reason := dec.Decode([]byte(tc.line), &ev)
			if o != tc.want || (tc.reason != "" && reason != tc.reason) || (o == Bad) != (reason != "") {
				t.Errorf("Decode = %v %q, want %v %q", o, reason, tc.want, tc.reason)
			}
		})
	}
	c := dec.Counter().Counts()
	var bad uint64
	for _, n := range c.Bad {
		bad += n
	}
	if c.Lines != 4 || c.Events != 1 || c.Skipped != 1 || bad != 2 || c.Bad[ReasonTooLong] != 1 {
		t.Errorf("counts %+v, want 4 lines: 1 event, 1 skip, 2 bad (one too long)", c)
	}

	var ev pipeline.Event
	refuse := func(*pipeline.Event) error { return pipeline.Bad("refused") }
	if o, reason := dec.DecodeChecked([]byte(alert), &ev, refuse); o != Bad || reason != "refused" {
		t.Errorf("a refused event: %v %q, want a bad line, refused", o, reason)
	}
	if got := dec.Counter().Counts().Bad["refused"]; got != 1 {
		t.Errorf("refusals counted %d, want 1", got)
	}
}

// TestSniffer: fed line by line, the sniffer reaches Detect's verdict, and
// stops voting after DetectLines.
func TestSniffer(t *testing.T) {
	for _, path := range []string{"../testdata/replay/auth.log", "../testdata/replay/eve.json", "../testdata/replay/fast.log", "../testdata/replay/access.log"} {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var s Sniffer
		lines := 0
		for line := range bytes.Lines(data) {
			if len(bytes.TrimSpace(line)) > 0 {
				lines++
			}
			s.Line(bytes.TrimSuffix(line, []byte("\n")))
		}
		if got, want := s.Format(), Detect(data); got != want || got == pipeline.FormatUnknown {
			t.Errorf("%s: sniffer %v, Detect %v", path, got, want)
		}
		if want := min(lines, DetectLines); s.Lines() != want || s.Full() != (want == DetectLines) {
			t.Errorf("%s: %d lines voted (full %v), want %d", path, s.Lines(), s.Full(), want)
		}
	}
	var s Sniffer
	if s.Line([]byte(" \r")) || s.Lines() != 0 {
		t.Error("a blank line voted")
	}
}

// TestOpenReader: a gzipped log reads as the plain one, and a log whose
// format cannot be told is refused with why.
func TestOpenReader(t *testing.T) {
	plain, err := os.ReadFile("../testdata/replay/auth.log")
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write(plain)
	w.Close()
	for name, in := range map[string][]byte{"plain": plain, "gzip": gz.Bytes()} {
		r, err := OpenReader(bytes.NewReader(in), pipeline.FormatUnknown)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var got bytes.Buffer
		got.ReadFrom(r)
		r.Close()
		if r.Format != pipeline.FormatSyslog || !bytes.Equal(got.Bytes(), plain) {
			t.Errorf("%s: format %v, %d bytes, want syslog and %d", name, r.Format, got.Len(), len(plain))
		}
	}
	for in, want := range map[string]error{"": ErrEmpty, "\n \n": ErrEmpty, "one\ntwo\nthree\n": ErrUndetectable} {
		if _, err := OpenReader(strings.NewReader(in), pipeline.FormatUnknown); !errors.Is(err, want) {
			t.Errorf("%q: %v, want %v", in, err, want)
		}
	}
	if r, err := OpenReader(strings.NewReader("one\n"), pipeline.FormatPlain); err != nil || r.Format != pipeline.FormatPlain {
		t.Errorf("a given format: %v %v", r, err)
	}
}

// BenchmarkDecode: decoding adds no allocation to the parser's.
func BenchmarkDecode(b *testing.B) {
	line := []byte("2025-11-08T22:00:01.000000+00:00 web1 sshd[4150]: Failed password for root from 203.0.113.7 port 50000 ssh2")
	dec := NewDecoder(pipeline.FormatSyslog, ref, time.UTC, nil)
	ev := new(pipeline.Event)
	b.ReportAllocs()
	for b.Loop() {
		*ev = pipeline.Event{}
		if o, _ := dec.Decode(line, ev); o != Event {
			b.Fatal(o)
		}
	}
}

// TestSnifferPlainIsTheFallback: every timestamped line votes for plain,
// so an access log of Nginx Proxy Manager with error lines in it has more
// plain votes than access ones; it is still an access log.
func TestSnifferPlainIsTheFallback(t *testing.T) {
	var s Sniffer
	for i := range 6 {
		s.Line([]byte(`[08/Nov/2025:22:00:0` + string(rune('0'+i)) + ` +0000] - 200 200 - GET https h "/" [Client 203.0.113.60] [Length 1] [Gzip -] [Sent-to x] "x" "-"`))
	}
	for range 4 {
		s.Line([]byte(`2025/11/08 22:00:07 [error] 371#371: *90 open() "/x" failed (2: No such file or directory), client: 198.51.100.15`))
	}
	if got := s.Format(); got != pipeline.FormatNginx {
		t.Errorf("format %v, want nginx", got)
	}
	var p Sniffer
	p.Write([]byte("2025/11/08 22:00:07 [error] one\n2025/11/08 22:00:08 [error] two\n"))
	if got := p.Format(); got != pipeline.FormatPlain {
		t.Errorf("error log: format %v, want plain", got)
	}
}

// TestDetectMySQLErrorLog: MySQL's error log (5.7 and 8) is plain
// timestamped text, not syslog with a host "12" and a program "Note": its
// events carry the time and the whole text after it, and no header.
func TestDetectMySQLErrorLog(t *testing.T) {
	log := "2025-11-08T22:00:00.000000Z 0 [System] [MY-010931] [Server] /usr/sbin/mysqld: ready for connections. Version: '8.0.40'  socket: '/var/run/mysqld/mysqld.sock'  port: 3306  MySQL Community Server - GPL.\n" +
		"2025-11-08T22:00:01.123456Z 12 [Note] [MY-010926] [Server] Access denied for user 'root'@'203.0.113.7' (using password: YES)\n" +
		"2025-11-08T23:00:02.5+01:00 13 [Warning] Access denied for user 'root'@'203.0.113.7' (using password: NO)\n"
	if got := Detect([]byte(log)); got != pipeline.FormatPlain {
		t.Fatalf("detected %v, want plain", got)
	}
	d := NewDecoder(pipeline.FormatPlain, time.Now(), time.UTC, nil)
	var ev pipeline.Event
	line := []byte("2025-11-08T22:00:01.123456Z 12 [Note] [MY-010926] [Server] Access denied for user 'root'@'203.0.113.7' (using password: YES)")
	if out, why := d.Decode(line, &ev); out != Event {
		t.Fatalf("decoded as %v (%s)", out, why)
	}
	want := time.Date(2025, 11, 8, 22, 0, 1, 123456000, time.UTC)
	if !ev.Time.Equal(want) || ev.Host != "" || ev.Program != "" ||
		ev.Message != "12 [Note] [MY-010926] [Server] Access denied for user 'root'@'203.0.113.7' (using password: YES)" {
		t.Fatalf("event time %v host %q program %q message %q", ev.Time, ev.Host, ev.Program, ev.Message)
	}
}

// TestWebProgramsLiftAccess: a syslog line from each web server carrying
// an access-log line becomes an access event; the same line from a
// program whose name is only near one stays syslog.
func TestWebProgramsLiftAccess(t *testing.T) {
	const access = `203.0.113.9 - - [08/Nov/2025:22:00:01 +0000] "GET /.env HTTP/1.1" 404 153 "-" "x"`
	cases := map[string]bool{
		"nginx": true, "apache2": true, "httpd": true, "openresty": true, "caddy": true, "traefik": true,
		"sshd": false, "ngin": false, "nginxx": false, "Nginx": false, "apache": false, "": false,
	}
	for prog, lifted := range cases {
		line := "2025-11-08T22:00:01.000000+00:00 web1 " + prog + "[7]: " + access
		if prog == "" {
			line = "2025-11-08T22:00:01.000000+00:00 web1 " + access
		}
		dec := NewDecoder(pipeline.FormatSyslog, ref, time.UTC, nil)
		var ev pipeline.Event
		if o, why := dec.Decode([]byte(line), &ev); o != Event {
			t.Fatalf("%q: %v %s", prog, o, why)
		}
		if got := ev.Format == pipeline.FormatNginx; got != lifted {
			t.Errorf("%q: lifted %v (format %v), want %v", prog, got, ev.Format, lifted)
		}
	}
}
