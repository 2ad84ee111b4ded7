package daemon

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDaemonEveSocket: `sources: - eve_socket: PATH` (and its dgram form)
// takes Suricata's alerts from the socket, written as Suricata writes them,
// and bans by the suricata pack: a Priority 1 alert over TCP bans its
// source; a record that is not an alert is read and skipped.
func TestDaemonEveSocket(t *testing.T) {
	for _, tc := range []struct{ name, source, network string }{
		{"unix_stream", "eve_socket: %q", "unix"},
		{"unix_dgram", "eve_socket: {path: %q, type: dgram}", "unixgram"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			src, err := os.ReadFile(filepath.Join("..", "rules", "packs", "suricata.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(h.rules, "suricata.yaml"), src, 0o644)
			sock := filepath.Join(h.dir, "eve.sock")
			yml := fmt.Sprintf("state_dir: %q\nsocket: %q\norigin: test\nrules: [%q]\nsources:\n  - "+tc.source+"\nsinks: [{jsonl: %q}]\n",
				filepath.Join(h.dir, "state"), h.socket, h.rules, sock, h.out)
			cfg, err := parseConfig("stockade.yaml", []byte(yml))
			if err != nil {
				t.Fatal(err)
			}
			l := startLive(t, cfg, nil)
			var c net.Conn
			waitFor(t, 10*time.Second, "the eve socket", func() bool {
				c, err = net.Dial(tc.network, sock)
				return err == nil
			})
			defer c.Close()
			now := time.Now().UTC().Format("2006-01-02T15:04:05.000000-0700")
			for _, rec := range []string{
				`{"timestamp":"` + now + `","flow_id":1,"in_iface":"eth0","event_type":"flow","src_ip":"192.0.2.50","src_port":5000,"dest_ip":"192.0.2.10","dest_port":443,"proto":"TCP","flow":{"pkts_toserver":3,"pkts_toclient":2}}`,
				`{"timestamp":"` + now + `","flow_id":2,"in_iface":"eth0","event_type":"alert","src_ip":"203.0.113.30","dest_ip":"192.0.2.10","proto":"TCP","src_port":51000,"dest_port":80,"alert":{"action":"allowed","gid":1,"signature_id":2024897,"rev":3,"signature":"ET EXPLOIT Apache HTTP Server Path Traversal (CVE-2021-41773)","category":"Attempted Administrator Privilege Gain","severity":1}}`,
			} {
				if _, err := c.Write([]byte(rec + "\n")); err != nil {
					t.Fatal(err)
				}
			}
			waitFor(t, 10*time.Second, "the alert's ban", func() bool { return len(l.banned("suricata-p1")) > 0 })
			if got := l.banned("suricata-p1"); len(got) != 1 || got[0] != "203.0.113.30" {
				t.Errorf("banned %v, want 203.0.113.30", got)
			}
			if n := l.metric(`stockade_lines_total{format="eve"}`); n != 2 {
				t.Errorf("eve lines %v, want 2 (the flow record read and skipped, the alert)", n)
			}
			fi, err := os.Lstat(sock)
			if err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("socket: %v, mode %v, want 0600", err, fi.Mode())
			}
		})
	}
}

// TestConfigEveSocket: a bad eve_socket is refused at start with every
// mistake at its key's position; a mistyped key is named.
func TestConfigEveSocket(t *testing.T) {
	_, err := parseConfig("s.yaml", []byte("sources:\n  - eve_socket: {path: rel.sock, type: tcp, mode: \"0666\"}\n  - eve_socket: {path: /run/x.sock, writer: [suricata]}\n"))
	for _, want := range []string{
		`s.yaml:2:24: sources[0].eve_socket.path: want the socket's absolute path, not "rel.sock"`,
		`s.yaml:2:40: sources[0].eve_socket.type: want stream or dgram`,
		`s.yaml:2:51: sources[0].eve_socket.mode: want 0600 or 0660, not "0666"`,
		`s.yaml:3:37: sources[1].eve_socket.writer: unknown key; did you mean writers?`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: want %q", err, want)
		}
	}
}
