package listen

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/sources"
	"github.com/stockade-ids/stockade/sources/suricata"
)

const (
	authLine  = "Nov  8 22:00:01 bastion sshd[2738]: Failed password for invalid user admin from 203.0.113.45 port 51022 ssh2"
	nginxLine = `203.0.113.9 - - [08/Nov/2025:22:00:01 +0000] "GET /wp-login.php HTTP/1.1" 404 153 "-" "curl/8.0"`
)

// runStdin reads in to its end and returns the events and counts.
func runStdin(t *testing.T, r io.Reader, format pipeline.Format) ([]pipeline.Event, Counts, error) {
	t.Helper()
	out := make(chan pipeline.Event, 10000)
	st, err := Stdin(t.Context(), r, format, time.UTC, out)
	close(out)
	var evs []pipeline.Event
	for ev := range out {
		evs = append(evs, ev)
	}
	return evs, st, err
}

func lines(n int, f func(i int) string) string {
	var b strings.Builder
	for i := range n {
		b.WriteString(f(i))
		b.WriteByte('\n')
	}
	return b.String()
}

func TestStdin(t *testing.T) {
	auth := lines(30, func(i int) string { return fmt.Sprintf("Nov  8 22:00:%02d bastion sshd[%d]: message %d", i, i, i) })
	tests := []struct {
		name   string
		in     string
		format pipeline.Format
		events int
		want   pipeline.Format // of the events
		bad    map[string]uint64
		err    string
	}{
		{name: "detect syslog", in: auth, events: 30, want: pipeline.FormatSyslog},
		{name: "detect from fewer than 20 lines", in: authLine + "\n" + authLine + "\n", events: 2, want: pipeline.FormatSyslog},
		{name: "detect nginx", in: lines(25, func(int) string { return nginxLine }), events: 25, want: pipeline.FormatNginx},
		{name: "no final newline", in: authLine + "\n" + authLine, events: 2, want: pipeline.FormatSyslog},
		{name: "crlf and blank lines", in: "\r\n\n" + authLine + "\r\n\n" + authLine + "\r\n", events: 2, want: pipeline.FormatSyslog},
		{name: "bad lines after detection are counted", in: auth + "garbage\n", events: 30, want: pipeline.FormatSyslog,
			bad: map[string]uint64{"no timestamp": 1}},
		{name: "forced format", in: nginxLine + "\n" + authLine + "\n", format: pipeline.FormatSyslog, events: 1, want: pipeline.FormatSyslog,
			bad: map[string]uint64{"no timestamp": 1}},
		{name: "long line", in: authLine + "\n" + strings.Repeat("x", MaxLine+10) + "\n" + authLine + "\n", events: 2, want: pipeline.FormatSyslog,
			bad: map[string]uint64{"line too long": 1}},
		{name: "long last line", in: authLine + "\n" + strings.Repeat("x", 3*MaxLine), events: 1, want: pipeline.FormatSyslog,
			bad: map[string]uint64{"line too long": 1}},
		{name: "line of exactly MaxLine", in: authLine + "\n" + "Nov  8 22:00:01 h p: " + strings.Repeat("x", MaxLine-21) + "\r\n", events: 2, want: pipeline.FormatSyslog},
		{name: "undetectable", in: lines(5, func(int) string { return "what is this" }), err: "cannot detect"},
		{name: "empty", in: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, r := range []struct {
				name string
				r    io.Reader
			}{
				{"whole", strings.NewReader(tt.in)},
				{"split", iotest.HalfReader(iotest.OneByteReader(strings.NewReader(tt.in)))},
				{"halves", iotest.HalfReader(strings.NewReader(tt.in))},
			} {
				evs, st, err := runStdin(t, r.r, tt.format)
				if tt.err != "" {
					if err == nil || !strings.Contains(err.Error(), tt.err) {
						t.Errorf("%s: err = %v, want %q", r.name, err, tt.err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%s: %v", r.name, err)
				}
				if len(evs) != tt.events || st.Events != uint64(tt.events) {
					t.Errorf("%s: %d events (counted %d), want %d", r.name, len(evs), st.Events, tt.events)
				}
				for _, ev := range evs {
					if ev.Format != tt.want || ev.Source != StdinSource {
						t.Errorf("%s: event format %v source %q, want %v %q", r.name, ev.Format, ev.Source, tt.want, StdinSource)
						break
					}
				}
				if fmt.Sprint(st.Bad) != fmt.Sprint(orEmpty(tt.bad)) {
					t.Errorf("%s: bad = %v, want %v", r.name, st.Bad, tt.bad)
				}
				var bad uint64
				for _, n := range st.Bad {
					bad += n
				}
				if st.Received != st.Events+st.Skipped+bad {
					t.Errorf("%s: received %d != events %d + skipped %d + bad %d", r.name, st.Received, st.Events, st.Skipped, bad)
				}
			}
		})
	}
}

func orEmpty(m map[string]uint64) map[string]uint64 {
	if m == nil {
		return map[string]uint64{}
	}
	return m
}

func TestStdinEventsOwnMemory(t *testing.T) {
	in := lines(3000, func(i int) string { return fmt.Sprintf("Nov  8 22:00:01 host%d app[%d]: message %d", i, i, i) })
	evs, _, err := runStdin(t, iotest.HalfReader(strings.NewReader(in)), pipeline.FormatUnknown)
	if err != nil {
		t.Fatal(err)
	}
	for i, ev := range evs {
		if ev.Host != fmt.Sprintf("host%d", i) || ev.PID != i || ev.Message != fmt.Sprintf("message %d", i) {
			t.Fatalf("event %d = %q %d %q", i, ev.Host, ev.PID, ev.Message)
		}
	}
	if len(evs) != 3000 {
		t.Fatalf("%d events, want 3000", len(evs))
	}
}

// A live pipe that writes a few lines and goes quiet is detected after the
// wait, not after 20 lines or the end of input.
func TestStdinDetectsAQuietPipe(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	out := make(chan pipeline.Event, 10)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := readStdin(ctx, pr, sources.Options{Loc: time.UTC}, out, 20*time.Millisecond)
		done <- err
	}()
	io.WriteString(pw, authLine+"\n"+authLine+"\n")
	collect(t, out, 2)
	io.WriteString(pw, authLine+"\n")
	collect(t, out, 1)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Stdin did not return after cancel")
	}
}

// Cancel returns at once even though the read it is waiting on never ends,
// and even with a consumer that does not read.
func TestStdinCancel(t *testing.T) {
	for _, name := range []string{"blocked read", "blocked send"} {
		t.Run(name, func(t *testing.T) {
			pr, pw := io.Pipe()
			defer pw.Close()
			out := make(chan pipeline.Event)
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() {
				_, err := Stdin(ctx, pr, pipeline.FormatSyslog, time.UTC, out)
				done <- err
			}()
			if name == "blocked send" {
				io.WriteString(pw, authLine+"\n"+authLine+"\n")
			}
			time.Sleep(20 * time.Millisecond)
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(2 * time.Second):
				t.Fatal("Stdin did not return after cancel")
			}
		})
	}
}

func TestStdinReadError(t *testing.T) {
	r := io.MultiReader(strings.NewReader(authLine+"\n"), iotest.ErrReader(io.ErrClosedPipe))
	evs, _, err := runStdin(t, r, pipeline.FormatSyslog)
	if err == nil || !strings.Contains(err.Error(), io.ErrClosedPipe.Error()) {
		t.Errorf("err = %v, want the read error", err)
	}
	if len(evs) != 1 {
		t.Errorf("%d events before the error, want 1", len(evs))
	}
}

// TestStdinHomeNet: a log piped in chooses a Suricata alert's side with the
// home net as a file does. An internal host's outbound alert names it as
// the source; with the home net it is never the target, the outside side is.
func TestStdinHomeNet(t *testing.T) {
	const line = "11/08/2025-22:30:00.000000  [**] [1:2001219:20] ET SCAN Potential SSH Scan OUTBOUND [**] [Classification: Attempted Information Leak] [Priority: 2] {TCP} 192.168.0.60:51000 -> 203.0.113.90:22\n"
	home, err := suricata.ParseHomeNet("192.168.0.0/16")
	if err != nil {
		t.Fatal(err)
	}
	target := func(opt sources.Options) netip.Addr {
		t.Helper()
		out := make(chan pipeline.Event, 4)
		if _, err := StdinWith(t.Context(), strings.NewReader(line), opt, out); err != nil {
			t.Fatal(err)
		}
		close(out)
		var evs []pipeline.Event
		for ev := range out {
			evs = append(evs, ev)
		}
		if len(evs) != 1 {
			t.Fatalf("%d events, want 1", len(evs))
		}
		return evs[0].Addr
	}
	if got := target(sources.Options{Loc: time.UTC}); got != netip.MustParseAddr("192.168.0.60") {
		t.Fatalf("without a home net the scan's source is the target: got %v", got)
	}
	if got := target(sources.Options{Loc: time.UTC, HomeNet: home}); got != netip.MustParseAddr("203.0.113.90") {
		t.Errorf("with home net 192.168.0.0/16: target %v, want 203.0.113.90 (the home address is never one)", got)
	}
	// The same line in a file, for comparison: the same answer.
	p := t.TempDir() + "/fast.log"
	if err := os.WriteFile(p, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := sources.Open(p, sources.Options{Loc: time.UTC, HomeNet: home})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ev pipeline.Event
	if err := f.Next(&ev); err != nil || ev.Addr != netip.MustParseAddr("203.0.113.90") {
		t.Errorf("file: target %v (%v), want 203.0.113.90", ev.Addr, err)
	}
}
