package suricata

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stockade-ids/stockade/internal/testcorpus"
)

func TestSniff(t *testing.T) {
	cases := []struct {
		name      string
		line      string
		fast, eve bool
	}{
		{"fast.log", fastSSH, true, false},
		{"fast.log drop", "11/08/2025-22:00:01.123456  [Drop] [**] [1:2:3] x [**] [Priority: 1] {TCP} 1.2.3.4:1 -> 5.6.7.8:2", true, false},
		{"fast.log decoder event", "11/08/2025-22:00:01.123456  [**] [1:2200003:2] SURICATA IPv4 truncated packet [**] [Classification: Generic Protocol Command Decode] [Priority: 3] [**] [Raw pkt: 00 ]", true, false},
		{"eve alert", eveSSH, false, true},
		{"eve stats, event_type last", `{"timestamp":"2025-11-08T22:00:01.123456+0100","stats":{"uptime":1},"event_type":"stats"}`, false, true},
		{"eve without event_type", `{"timestamp":"2025-11-08T22:00:01.123456+0100","flow_id":1}`, false, true},
		{"other JSON", `{"time":"2025-11-08T22:00:01Z","level":"info","msg":"event_type"}`, false, false},
		{"JSON with a nested event_type", `{"x":{"event_type":"alert"}}`, false, false},
		{"RFC 3164", "Nov  8 22:00:01 host sshd[123]: Failed password for root from 198.51.100.9 port 4711 ssh2", false, false},
		{"RFC 5424", "<34>1 2025-11-08T22:00:01.123Z host sshd 123 - - Failed password", false, false},
		{"ISO syslog", "2025-11-08T22:00:01.123456+01:00 host sshd[123]: Failed password", false, false},
		{"nginx", `198.51.100.9 - - [08/Nov/2025:22:00:01 +0100] "GET / HTTP/1.1" 200 612 "-" "curl/8.5.0"`, false, false},
		{"fail2ban", "2025-11-08 22:00:01,123 fail2ban.actions        [1234]: NOTICE  [sshd] Ban 198.51.100.9", false, false},
		{"date-like but no alert", "11/08/2025-22:00:01.123456  hello [world]", false, false},
		{"empty", "", false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := SniffFast([]byte(c.line)); got != c.fast {
				t.Errorf("SniffFast = %v", got)
			}
			if got := SniffEve([]byte(c.line)); got != c.eve {
				t.Errorf("SniffEve = %v", got)
			}
		})
	}
}

// Every line of Suricata's own output is recognised, and no line of the
// other formats in the corpus is taken for it.
func TestSniffCorpus(t *testing.T) {
	own := map[string]struct{ fast, eve bool }{
		"testdata/fast.log": {true, false},
		"testdata/eve.json": {false, true},
	}
	for _, c := range corpusFast {
		own[testcorpus.Path(t, c.rel)] = struct{ fast, eve bool }{true, false}
	}
	for _, c := range corpusEve[:2] { // eve_broken.json is broken on purpose
		own[testcorpus.Path(t, c.rel)] = struct{ fast, eve bool }{false, true}
	}
	for _, rel := range []string{
		"elastic__beats/filebeat/module/nginx/access/test",
		"elastic__beats/filebeat/module/system/auth/test",
		"fail2ban__fail2ban/fail2ban/tests/files/logs",
	} {
		dir := testcorpus.Path(t, rel)
		files, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if !f.IsDir() {
				own[filepath.Join(dir, f.Name())] = struct{ fast, eve bool }{false, false}
			}
		}
	}
	for path, w := range own {
		for i, line := range readLines(t, path) {
			if len(line) == 0 {
				continue
			}
			if got := SniffFast(line); got != w.fast {
				t.Errorf("%s:%d: SniffFast = %v: %s", path, i+1, got, line)
			}
			if got := SniffEve(line); got != w.eve {
				t.Errorf("%s:%d: SniffEve = %v: %s", path, i+1, got, line)
			}
		}
	}
}
