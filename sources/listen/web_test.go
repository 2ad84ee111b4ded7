//go:build unix

package listen

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

// webLayout is a custom access-log layout (a vhost first, the forwarded-for
// before the request), as a proxy's nginx might be told to write it.
const webLayout = `$host $remote_addr "$http_x_forwarded_for" [$time_local] "$request" $status`

// webLines are three access lines in webLayout: from a trusted proxy
// (10.0.0.2) naming its client, from an untrusted peer naming a victim in
// its own X-Forwarded-For, and an error-log line.
var webLines = []string{
	`example.org 10.0.0.2 "198.51.100.7" [08/Nov/2025:22:00:01 +0000] "POST /wp-login.php HTTP/1.1" 200`,
	`example.org 203.0.113.9 "192.0.2.77" [08/Nov/2025:22:00:02 +0000] "POST /wp-login.php HTTP/1.1" 200`,
	`2025/11/08 22:00:03 [error] 812#812: *1 open() "/srv/x" failed (2: No such file or directory)`,
}

// checkWebEvents: the first two are access events whose client is the
// proxy's client and the untrusted peer itself; the third stays syslog.
func checkWebEvents(t *testing.T, evs []pipeline.Event) {
	t.Helper()
	for i, want := range []string{"198.51.100.7", "203.0.113.9"} {
		ev := evs[i]
		if ev.Format != pipeline.FormatNginx || ev.Addr.String() != want || ev.Path != "/wp-login.php" || ev.Status != 200 ||
			ev.Program != "nginx" || ev.Host != "web1" || ev.PID != 812 {
			t.Errorf("line %d: format %v addr %v (want %s) path %q status %d program %q host %q pid %d",
				i+1, ev.Format, ev.Addr, want, ev.Path, ev.Status, ev.Program, ev.Host, ev.PID)
		}
	}
	if ev := evs[2]; ev.Format != pipeline.FormatSyslog || ev.Addr.IsValid() {
		t.Errorf("error line: format %v addr %v, want a syslog event", ev.Format, ev.Addr)
	}
}

// TestSyslogAccessLayout: a syslog listener's log_format and real_ip_from
// apply to the access lines web servers send through it, as they would to
// the access log: the custom layout reads, X-Forwarded-For is believed from
// the trusted proxy only. Without them, the layout is no access line.
func TestSyslogAccessLayout(t *testing.T) {
	send := func(t *testing.T, sc SyslogConfig) []pipeline.Event {
		sc.UDP = "127.0.0.1:0"
		cfg, err := sc.Listen()
		if err != nil {
			t.Fatal(err)
		}
		s, out := startSyslog(t, cfg)
		addr, _ := s.Addrs()
		c := dial(t, "udp", addr)
		for _, l := range webLines {
			write(t, c, "<190>Nov  8 22:00:01 web1 nginx[812]: "+l)
		}
		return collect(t, out, len(webLines))
	}
	t.Run("log_format and real_ip_from", func(t *testing.T) {
		checkWebEvents(t, send(t, SyslogConfig{WebConfig: WebConfig{LogFormat: webLayout, RealIPFrom: []string{"10.0.0.0/8"}}}))
	})
	t.Run("none: the combined layout", func(t *testing.T) {
		for i, ev := range send(t, SyslogConfig{}) {
			if ev.Format != pipeline.FormatSyslog || ev.Addr.IsValid() {
				t.Errorf("line %d: format %v addr %v, want a syslog event", i+1, ev.Format, ev.Addr)
			}
		}
	})
	t.Run("log_format alone: no proxy trusted", func(t *testing.T) {
		evs := send(t, SyslogConfig{WebConfig: WebConfig{LogFormat: webLayout}})
		if ev := evs[0]; ev.Format != pipeline.FormatNginx || ev.Addr.String() != "10.0.0.2" {
			t.Errorf("format %v addr %v, want the peer 10.0.0.2", ev.Format, ev.Addr)
		}
	})
}

// TestJournaldAccessLayout: the same through the journal.
func TestJournaldAccessLayout(t *testing.T) {
	f := newFakeJournal(t)
	var recs string
	for i, l := range webLines {
		msg, _ := json.Marshal(l)
		recs += `{"MESSAGE":` + string(msg) + `,"SYSLOG_IDENTIFIER":"nginx","_EXE":"/usr/sbin/nginx","_UID":"0","_PID":"812","_HOSTNAME":"web1","__REALTIME_TIMESTAMP":"17626392` + string(rune('0'+i)) + `1500000"}` + "\n"
	}
	f.set(t, "out1", recs)
	jc := JournaldConfig{WebConfig: WebConfig{LogFormat: webLayout, RealIPFrom: []string{"10.0.0.0/8"}}}
	if err := jc.Validate(); err != nil {
		t.Fatal(err)
	}
	web, err := jc.Web()
	if err != nil {
		t.Fatal(err)
	}
	j := &Journald{Command: f.path, Loc: time.UTC, Web: web}
	out, stop := runJournald(t, j)
	defer stop()
	checkWebEvents(t, collect(t, out, len(webLines)))
}

// TestWebConfigProblems: a bad layout or proxy is refused under its key.
func TestWebConfigProblems(t *testing.T) {
	for _, tc := range []struct {
		err error
		key string
	}{
		{SyslogConfig{UDP: ":514", WebConfig: WebConfig{LogFormat: "$status"}}.Validate(), "log_format"},
		{SyslogConfig{UDP: ":514", WebConfig: WebConfig{RealIPFrom: []string{"proxy.example"}}}.Validate(), "real_ip_from"},
		{JournaldConfig{WebConfig: WebConfig{LogFormat: "$status"}}.Validate(), "log_format"},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.key) {
			t.Errorf("err %v, want one under %s", tc.err, tc.key)
		}
	}
}
