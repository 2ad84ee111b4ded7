package daemon

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stockade-ids/stockade/pipeline"
)

// TestDaemonFarOffTimestamps: lines dated 2099 and 1990 reach a running
// daemon. The 2099 line must not drag the event clock: the active ban stays,
// later bans last their ten minutes (not until 2099), and the line itself
// is judged as of now. The 1990 lines move nothing back: they decide a ban
// that ran out decades ago, which is not sent, and they do not count
// toward a fresh window.
func TestDaemonFarOffTimestamps(t *testing.T) {
	h := newHarness(t)
	l := startLive(t, fileConfig(h), nil)
	const x, y, z = "203.0.113.10", "203.0.113.11", "203.0.113.12"

	for i := range 5 {
		appendFile(t, h.log, sshdLine(time.Now(), x, i))
	}
	waitFor(t, 15*time.Second, "the ban of "+x, func() bool { return h.bans(x) == 1 })

	future := time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)
	appendFile(t, h.log, sshdLine(future, y, 0))
	appendFile(t, h.log, future.Format("2006-01-02T15:04:05.000000-07:00")+" web1 cron[7]: (root) CMD (true)\n")
	waitFor(t, 15*time.Second, "the two future lines counted", func() bool { return l.metric("stockade_future_lines_total") == 2 })
	st := l.status()
	if limit := time.Now().Add(maxAhead); st.Clock.After(limit) {
		t.Fatalf("event clock at %v after a line from 2099: dragged past the wall clock", st.Clock)
	}
	if got := l.banned("sshd"); len(got) != 1 || got[0] != x {
		t.Fatalf("banned after the 2099 line: %v, want [%s]", got, x)
	}
	// The 2099 failure counted as of now: four more ban y for ten minutes.
	for i := 1; i < 5; i++ {
		appendFile(t, h.log, sshdLine(time.Now(), y, i))
	}
	waitFor(t, 15*time.Second, "the ban of "+y, func() bool { return h.bans(y) == 1 })

	past := time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC)
	before := l.status().Clock
	for i := range 5 {
		appendFile(t, h.log, sshdLine(past.Add(time.Duration(i)*time.Second), z, i))
	}
	waitFor(t, 15*time.Second, "the 1990 ban judged stale", func() bool { return l.metric("stockade_stale_decisions_total") == 1 })
	if after := l.status().Clock; after.Before(before) {
		t.Fatalf("event clock moved back from %v to %v", before, after)
	}
	for i := 5; i < 9; i++ {
		appendFile(t, h.log, sshdLine(time.Now(), z, i))
	}
	time.Sleep(500 * time.Millisecond)
	if n := h.bans(z); n != 0 {
		t.Fatalf("%s banned after four fresh failures: the 1990 lines counted toward them", z)
	}
	appendFile(t, h.log, sshdLine(time.Now(), z, 9))
	waitFor(t, 15*time.Second, "the ban of "+z+" at its fifth fresh failure", func() bool { return h.bans(z) == 1 })

	got := l.banned("sshd")
	if strings.Join(got, " ") != strings.Join([]string{x, y, z}, " ") {
		t.Fatalf("banned at the end: %v", got)
	}
	now := time.Now()
	for _, d := range h.decisions() {
		if d.Action != pipeline.ActionBan {
			continue
		}
		if d.At.Before(now.Add(-time.Minute)) || d.At.After(now.Add(maxAhead)) || d.Expires.After(now.Add(time.Hour)) {
			t.Errorf("decision %s for %s at %v until %v: not in the present", d.ID, d.Target, d.At, d.Expires)
		}
	}
	if !strings.Contains(l.logs.String(), "dated in the future") {
		t.Error("the future-dated lines were not reported in the log")
	}
}

// TestDaemonHostileLines feeds a running daemon, through a followed file
// and its TCP and UDP syslog listeners, a 10 MB line, binary garbage,
// invalid UTF-8 and NUL bytes, with attacks among them. Every attack is
// still banned, the bad lines are counted by reason and skipped, the 10 MB
// line is never held in memory, and the decisions written stay valid
// UTF-8 JSON.
func TestDaemonHostileLines(t *testing.T) {
	h := newHarness(t)
	cfg := fileConfig(h)
	cfg.Sources = append(cfg.Sources, SourceConfig{Syslog: &SyslogConfig{UDP: "127.0.0.1:0", TCP: "127.0.0.1:0"}})
	l := startLive(t, cfg, nil)
	var udpAddr, tcpAddr string
	waitFor(t, 10*time.Second, "the listeners", func() bool {
		for _, a := range l.status().Listeners {
			if s, ok := strings.CutPrefix(a, "udp://"); ok {
				udpAddr = s
			}
			if s, ok := strings.CutPrefix(a, "tcp://"); ok {
				tcpAddr = s
			}
		}
		return udpAddr != "" && tcpAddr != ""
	})
	rng := rand.New(rand.NewPCG(9, 9))
	garbage := func() []byte {
		b := make([]byte, 1+rng.IntN(300))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		return b
	}
	stamp := func() string { return time.Now().UTC().Format("2006-01-02T15:04:05.000000-07:00") }

	// The file: a 10 MB line, garbage, then the attacks.
	long := strings.Repeat("A", 10<<20) + "\n" + stamp() + " web1 cron[7]: (root) CMD (true)\n"
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	appendFile(t, h.log, long)
	waitFor(t, 15*time.Second, "the 10 MB line counted", func() bool {
		return l.metric(`stockade_bad_lines_total{reason="line too long"}`) == 1
	})
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 4<<20 {
		t.Errorf("reading the 10 MB line allocated %d MB: it was held in memory", grew>>20)
	}
	var file strings.Builder
	for range 200 {
		file.Write(bytes.ReplaceAll(garbage(), []byte("\n"), nil))
		file.WriteByte('\n')
	}
	file.WriteString(stamp() + " web1 sshd[1]: \xff\xfe\xfd invalid UTF-8\n")
	file.WriteString(stamp() + " web1 sshd[1]: \x00\x00\x00\n")
	for i := range 5 {
		file.WriteString(sshdLine(time.Now(), "203.0.113.30", i))
		file.WriteString(fmt.Sprintf("%s web1 sshd[%d]: Failed password for \xff\x00ev\x00il\xc3 from 203.0.113.31 port %d ssh2\n", stamp(), 10+i, 40000+i))
		file.Write(garbage())
		file.WriteByte('\n')
	}
	appendFile(t, h.log, file.String())

	// TCP: a 10 MB message, then attacks on the same connection.
	conn, err := net.Dial("tcp", tcpAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	if _, err := conn.Write([]byte("<38>" + stamp() + " web1 sshd[1]: " + strings.Repeat("B", 10<<20) + "\n")); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := conn.Write(append(garbage(), '\n')); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Write([]byte("<38>" + sshdLine(time.Now(), "203.0.113.32", i))); err != nil {
			t.Fatal(err)
		}
	}
	// UDP: garbage datagrams and attacks.
	uc, err := net.Dial("udp", udpAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	for i := range 5 {
		for range 20 {
			uc.Write(garbage())
		}
		uc.Write([]byte("<38>" + strings.TrimSuffix(sshdLine(time.Now(), "203.0.113.33", i), "\n")))
	}

	for _, a := range []string{"203.0.113.30", "203.0.113.31", "203.0.113.32", "203.0.113.33"} {
		waitFor(t, 20*time.Second, "the ban of "+a, func() bool { return h.bans(a) == 1 })
	}
	m := l.metrics()
	if n := metricValue(m, `stockade_bad_lines_total{reason="message too long"}`); n != 1 {
		t.Errorf("TCP messages too long: %v, want 1", n)
	}
	out, err := os.ReadFile(h.out)
	if err != nil {
		t.Fatal(err)
	}
	if !utf8.Valid(out) {
		t.Error("the decisions file is not valid UTF-8")
	}
	for line := range bytes.Lines(out) {
		var d pipeline.Decision
		if err := json.Unmarshal(line, &d); err != nil {
			t.Errorf("decision line %q: %v", line, err)
		}
	}
	if len(h.decisions()) != 4 {
		t.Errorf("%d decisions, want 4: %v", len(h.decisions()), h.decisions())
	}
}

// TestDaemonLinesMetricAcrossRotation: after a rename rotation, until the
// new file's format is known, the lines counter keeps its format's label
// and value (it used to drop to zero under format="unknown": a counter
// reset to Prometheus, and a soak that looked a whole run behind).
func TestDaemonLinesMetricAcrossRotation(t *testing.T) {
	h := newHarness(t)
	l := startLive(t, fileConfig(h), nil)
	for i := range 3 {
		appendFile(t, h.log, sshdLine(time.Now(), "203.0.113.95", i))
	}
	const series = `stockade_lines_total{format="syslog"}`
	// Not through the metrics: the first read of them must come after the
	// rotation.
	waitFor(t, 10*time.Second, "3 lines read", func() bool {
		st := l.status()
		return len(st.Files) == 1 && st.Files[0].Lines == 3
	})
	if err := os.Rename(h.log, h.log+".1"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, h.log, "") // a new, empty file: its format is not known yet
	waitFor(t, 10*time.Second, "the new file followed", func() bool {
		for _, f := range l.status().Files {
			if f.Path == h.log && f.Offset == 0 && f.Format == "unknown" {
				return true
			}
		}
		return false
	})
	if n := l.metric(series); n != 3 {
		t.Fatalf("%s = %v right after the rotation, want 3", series, n)
	}
	appendFile(t, h.log, sshdLine(time.Now(), "203.0.113.95", 3))
	waitFor(t, 10*time.Second, "4 lines counted", func() bool { return l.metric(series) == 4 })
}
