package tail

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/sources"
	"github.com/stockade-ids/stockade/sources/nginx"
)

// dockerLine is accessLine(i) as Docker's json-file driver writes it.
func dockerLine(i int) string {
	inner := strings.TrimSuffix(accessLine(i), "\n")
	inner = strings.ReplaceAll(inner, `"`, `\"`)
	return fmt.Sprintf(`{"log":"%s\n","stream":"stdout","time":"2025-11-08T22:00:%02d.123456789Z"}`+"\n", inner, i%60)
}

// TestDockerFollowed: a followed container log is unwrapped, detected or
// given, and its events dated by the records.
func TestDockerFollowed(t *testing.T) {
	for _, format := range []pipeline.Format{pipeline.FormatUnknown, pipeline.FormatNginx} {
		t.Run(format.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "0123abcd-json.log")
			writeFile(t, path, dockerLine(0)+dockerLine(1))
			h := start(t, Config{Globs: []string{path}, Format: format})
			h.wait(2)
			appendFile(t, path, dockerLine(2))
			evs := h.wait(3)
			for i, ev := range evs {
				want := time.Date(2025, 11, 8, 22, 0, i, 123456789, time.UTC)
				if ev.Format != pipeline.FormatNginx || !ev.Time.Equal(want) || ev.Addr.String() != fmt.Sprintf("198.51.100.%d", i+1) {
					t.Errorf("event %d: format %v time %v addr %v", i, ev.Format, ev.Time, ev.Addr)
				}
			}
		})
	}
}

// TestLogFormatFollowed: a log_format makes the files access logs read by
// it, without detection.
func TestLogFormatFollowed(t *testing.T) {
	l, err := nginx.Compile(`$msec $remote_addr "$request" $status`)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "access.log")
	writeFile(t, path, "1762639201.000 203.0.113.5 \"POST /wp-login.php HTTP/1.1\" 200\n")
	h := start(t, Config{Globs: []string{path}, Web: sources.Web{Layout: l}})
	evs := h.wait(1)
	if ev := evs[0]; ev.Addr.String() != "203.0.113.5" || ev.Path != "/wp-login.php" || ev.Status != 200 {
		t.Errorf("event %+v", ev)
	}
}
