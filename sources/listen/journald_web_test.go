//go:build unix

package listen

import (
	"testing"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

// TestJournaldAccessLine: a web server that logs its access lines to
// stdout under systemd hands them to the journal; they are judged as
// access lines, with the journal's host and pid.
func TestJournaldAccessLine(t *testing.T) {
	f := newFakeJournal(t)
	f.set(t, "out1", `{"MESSAGE":"203.0.113.140 - - [08/Nov/2025:22:00:01 +0000] \"POST /wp-login.php HTTP/1.1\" 200 5423 \"-\" \"Mozilla/5.0\"","SYSLOG_IDENTIFIER":"caddy","_PID":"812","_HOSTNAME":"web1","__REALTIME_TIMESTAMP":"1762639201500000"}`+"\n"+
		`{"MESSAGE":"serving initial configuration","SYSLOG_IDENTIFIER":"caddy","_PID":"812","_HOSTNAME":"web1","__REALTIME_TIMESTAMP":"1762639202000000"}`+"\n")
	j := &Journald{Command: f.path, Loc: time.UTC}
	out, stop := runJournald(t, j)
	defer stop()
	evs := collect(t, out, 2)
	if ev := evs[0]; ev.Format != pipeline.FormatNginx || ev.Addr.String() != "203.0.113.140" || ev.Path != "/wp-login.php" ||
		ev.Status != 200 || ev.Program != "caddy" || ev.Host != "web1" || ev.PID != 812 {
		t.Errorf("access line: format %v addr %v path %q status %d program %q host %q pid %d", ev.Format, ev.Addr, ev.Path, ev.Status, ev.Program, ev.Host, ev.PID)
	}
	if ev := evs[1]; ev.Format != pipeline.FormatSyslog || ev.Message != "serving initial configuration" {
		t.Errorf("other line: format %v message %q", ev.Format, ev.Message)
	}
}
