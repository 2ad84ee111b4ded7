package syslog

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/internal/golden"
	"github.com/stockade-ids/stockade/internal/testcorpus"
	"github.com/stockade-ids/stockade/pipeline"
)

// fail2banNow is the clock fail2ban's own tests run at (2005-08-14 10:00
// UTC); with it the years we infer can be checked against theirs.
var fail2banNow = time.Unix(1124013600, 0)

type goldenEvent struct {
	N       int    `json:"n"`
	Time    string `json:"time"`
	Host    string `json:"host"`
	Program string `json:"program"`
	PID     int    `json:"pid"`
	Message string `json:"message"`
}

type goldenBad struct {
	N   int    `json:"n"`
	Bad string `json:"bad"`
}

func TestGolden(t *testing.T) {
	filebeat := time.Date(2019, 6, 15, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		corpus string // relative to the shared corpus; empty for testdata
		path   string // under testdata when corpus is empty
		ref    time.Time
	}{
		{name: "auth", path: "auth.log", ref: ref},
		// Header variants of other syslogs, written for stockade.
		{name: "variants", path: "variants.log", ref: ref},
		{name: "secure-rhel7", corpus: "elastic__beats/filebeat/module/system/auth/test/secure-rhel7.log", ref: filebeat},
		{name: "filebeat-test", corpus: "elastic__beats/filebeat/module/system/auth/test/test.log", ref: filebeat},
		{name: "filebeat-timestamp", corpus: "elastic__beats/filebeat/module/system/auth/test/timestamp.log", ref: filebeat},
		{name: "fail2ban-sshd", corpus: "fail2ban__fail2ban/fail2ban/tests/files/logs/sshd", ref: fail2banNow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join("testdata", tt.path)
			if tt.corpus != "" {
				path = testcorpus.Path(t, tt.corpus)
			}
			got, bad := goldenLines(t, path, tt.ref)
			if len(bad) > 0 {
				t.Logf("%s: bad lines by reason: %v", tt.name, bad)
			}
			golden.Check(t, filepath.Join("testdata", tt.name+".golden.jsonl"), got)
		})
	}
}

// goldenLines parses every line of path, except the '#' comments and blank
// lines that fail2ban's samples interleave, and renders one JSON line each.
func goldenLines(t *testing.T, path string, ref time.Time) (out []byte, bad map[string]int) {
	t.Helper()
	lines := readLines(t, path)
	bad = map[string]int{}
	p := New(ref, time.UTC)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for i, line := range lines {
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		var ev pipeline.Event
		var rec any
		if err := p.Parse(line, &ev); err != nil {
			var b *pipeline.BadLine
			if !errors.As(err, &b) {
				t.Fatalf("%s:%d: %v is not a *pipeline.BadLine", path, i+1, err)
			}
			bad[b.Reason]++
			rec = goldenBad{N: i + 1, Bad: b.Reason}
		} else {
			rec = goldenEvent{N: i + 1, Time: ev.Time.Format(time.RFC3339Nano), Host: ev.Host, Program: ev.Program, PID: ev.PID, Message: ev.Message}
		}
		if err := enc.Encode(rec); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes(), bad
}

func readLines(t testing.TB, path string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data = bytes.TrimSuffix(data, []byte("\n"))
	return bytes.Split(data, []byte("\n"))
}

// fail2ban annotates its sample lines with the time it expects
// ("# failJSON: { "time": "2005-06-21T16:47:48", ... }"). Its year
// inference and ours must agree on every RFC 3164 line.
func TestFail2banTimes(t *testing.T) {
	path := testcorpus.Path(t, "fail2ban__fail2ban/fail2ban/tests/files/logs/sshd")
	p := New(fail2banNow, time.UTC)
	var expect string
	checked := 0
	for i, line := range readLines(t, path) {
		if j := bytes.Index(line, []byte("failJSON:")); len(line) > 0 && line[0] == '#' && j >= 0 {
			var fj struct{ Time string }
			if err := json.Unmarshal(line[j+len("failJSON:"):], &fj); err != nil {
				t.Fatalf("line %d: %v", i+1, err)
			}
			expect = fj.Time
			continue
		}
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		want := expect
		expect = ""
		if want == "" || len(line) < 3 || month(line[0], line[1], line[2]) == 0 {
			continue
		}
		var ev pipeline.Event
		if err := p.Parse(line, &ev); err != nil {
			t.Errorf("line %d %q: %v", i+1, line, err)
			continue
		}
		if got := ev.Time.Format("2006-01-02T15:04:05"); !strings.HasPrefix(want, got) {
			t.Errorf("line %d %q: time %s, fail2ban expects %s", i+1, line, got, want)
		}
		checked++
	}
	if checked == 0 {
		t.Fatal("no annotated RFC 3164 lines found")
	}
	t.Logf("%d annotated lines agree with fail2ban", checked)
}
