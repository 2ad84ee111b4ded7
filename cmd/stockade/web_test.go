package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReplayWebOptions: --log-format reads Nginx Proxy Manager's proxy log,
// which no detection knows, and --real-ip-from takes the client a trusted
// proxy names, from the right of the list (a forged entry on its left is
// not banned).
func TestReplayWebOptions(t *testing.T) {
	dir := t.TempDir()
	npm := filepath.Join(dir, "proxy-host-1_access.log")
	apache := filepath.Join(dir, "access.log")
	var n, a strings.Builder
	for i := range 5 {
		fmt.Fprintf(&n, `[08/Nov/2025:22:0%d:00 +0000] - 200 200 - POST https blog.example.org "/wp-login.php" [Client 203.0.113.60] [Length 4521] [Gzip -] [Sent-to 172.17.0.3] "Mozilla/5.0" "-"`+"\n", i)
		fmt.Fprintf(&a, `10.0.0.2 - - [08/Nov/2025:22:0%d:00 +0000] "POST /wp-login.php HTTP/1.1" 200 4521 "-" "Mozilla/5.0" "192.0.2.99, 198.51.100.7"`+"\n", i)
	}
	os.WriteFile(npm, []byte(n.String()), 0o644)
	os.WriteFile(apache, []byte(a.String()), 0o644)
	targets := func(args ...string) string {
		t.Helper()
		ds, summary, err := replay(t, args...)
		if err != nil {
			t.Fatalf("replay %v: %v\n%s", args, err, summary)
		}
		var out []string
		for _, d := range ds {
			out = append(out, d.Target.String()+" "+d.Rule)
		}
		return strings.Join(out, ", ")
	}
	npmFormat := `[$time_local] $upstream_cache_status $upstream_status $status - $request_method $scheme $host "$request_uri" [Client $remote_addr] [Length $body_bytes_sent] [Gzip $gzip_ratio] [Sent-to $server] "$http_user_agent" "$http_referer"`
	if got, want := targets("--log-format", npmFormat, npm), "203.0.113.60 nginx-wordpress"; got != want {
		t.Errorf("NPM with --log-format: bans %q, want %q", got, want)
	}
	// Its layouts are also known without it.
	if got, want := targets(npm), "203.0.113.60 nginx-wordpress"; got != want {
		t.Errorf("NPM without --log-format: bans %q, want %q", got, want)
	}
	// A custom layout that opens with a time, unknown, passes for a plain
	// log, which no access rule reads: --log-format reads it.
	custom := filepath.Join(dir, "custom.log")
	os.WriteFile(custom, []byte(strings.ReplaceAll(n.String(), "[Client ", "[Peer ")), 0o644)
	if got := targets(custom); got != "" {
		t.Errorf("custom layout without --log-format: bans %q, want none", got)
	}
	if got, want := targets("--log-format", strings.ReplaceAll(npmFormat, "[Client ", "[Peer "), custom), "203.0.113.60 nginx-wordpress"; got != want {
		t.Errorf("custom layout with --log-format: bans %q, want %q", got, want)
	}
	apacheFormat := `%h %l %u %t \"%r\" %>s %O \"%{Referer}i\" \"%{User-Agent}i\" \"%{X-Forwarded-For}i\"`
	if got, want := targets("--log-format", apacheFormat, "--real-ip-from", "10.0.0.0/8", apache), "198.51.100.7 nginx-wordpress"; got != want {
		t.Errorf("behind a trusted proxy: bans %q, want %q", got, want)
	}
	if got, want := targets("--log-format", apacheFormat, apache), "10.0.0.2 nginx-wordpress"; got != want {
		t.Errorf("no proxy trusted: bans %q, want %q (the peer)", got, want)
	}
	if _, _, err := replay(t, "--log-format", "$remote_user [$time_local]", apache); err == nil || !strings.Contains(err.Error(), "log_format") {
		t.Errorf("a log format with no client: %v, want refused", err)
	}
}

// TestReplayForgedForwardedFor: a client that sends `X-Forwarded-For:
// VICTIM -` to a server logging the header before $remote_addr used to get
// VICTIM banned; the line reads two ways and bans nobody, and with the
// server's log_format the client itself is banned.
func TestReplayForgedForwardedFor(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "access.log")
	var b strings.Builder
	for i := range 6 { // visitors without the header, for detection
		fmt.Fprintf(&b, `- 192.0.2.1%d - - [08/Nov/2025:21:5%d:00 +0000] "GET / HTTP/1.1" 200 612 "-" "Mozilla/5.0"`+"\n", i, i)
	}
	for i := range 5 {
		fmt.Fprintf(&b, `198.51.100.77 - 203.0.113.9 - - [08/Nov/2025:22:0%d:00 +0000] "POST /wp-login.php HTTP/1.1" 200 4521 "-" "Mozilla/5.0"`+"\n", i)
	}
	os.WriteFile(log, []byte(b.String()), 0o644)
	ds, summary, err := replay(t, log)
	if err != nil {
		t.Fatalf("replay: %v\n%s", err, summary)
	}
	for _, d := range ds {
		t.Errorf("detected layout: banned %s by %s, want nobody", d.Target, d.Rule)
	}
	ds, summary, err = replay(t, "--log-format", `$http_x_forwarded_for $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"`, log)
	if err != nil {
		t.Fatalf("replay: %v\n%s", err, summary)
	}
	if len(ds) != 1 || ds[0].Target.String() != "203.0.113.9" {
		t.Errorf("with log_format: %v, want 203.0.113.9 banned", ds)
	}
}

// TestReplayDockerLog: a container's json-file log replays as the access
// log it wraps, dated by the records.
func TestReplayDockerLog(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "0123abcd-json.log")
	var b strings.Builder
	b.WriteString(`{"log":"/docker-entrypoint.sh: Configuration complete; ready for start up\n","stream":"stdout","time":"2025-11-08T21:59:58.101522731Z"}` + "\n")
	for i := range 5 {
		fmt.Fprintf(&b, `{"log":"203.0.113.30 - - [08/Nov/2025:22:0%d:00 +0000] \"POST /wp-login.php HTTP/1.1\" 200 5423 \"-\" \"Mozilla/5.0\" \"-\"\n","stream":"stdout","time":"2025-11-08T22:0%d:00.5Z"}`+"\n", i, i)
	}
	os.WriteFile(log, []byte(b.String()), 0o644)
	ds, summary, err := replay(t, log)
	if err != nil {
		t.Fatalf("replay: %v\n%s", err, summary)
	}
	if len(ds) != 1 || ds[0].Target.String() != "203.0.113.30" || ds[0].Rule != "nginx-wordpress" {
		t.Fatalf("decisions %v, want 203.0.113.30 banned by nginx-wordpress", ds)
	}
}
