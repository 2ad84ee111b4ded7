package syslog

import (
	"testing"

	"github.com/stockade-ids/stockade/internal/testcorpus"
)

func TestSniff(t *testing.T) {
	tests := []struct {
		name string
		line string
		want bool
	}{
		{"bsd padded", "Nov  8 22:00:01 bastion sshd[1]: x", true},
		{"bsd unpadded", "Nov 8 22:00:01 bastion sshd[1]: x", true},
		{"bsd no tag", "Nov  8 22:00:01 bastion last message repeated 3 times", true},
		{"bsd PRI", "<38>Nov  8 22:00:01 bastion sshd[1]: x", true},
		{"bsd CRLF", "Nov  8 22:00:01 bastion sshd[1]: x\r", true},
		{"rsyslog", "2025-11-08T22:00:01.123456+01:00 bastion sshd[1]: x", true},
		{"rsyslog Z", "2025-11-08T22:00:01Z bastion sshd[1]: x", true},
		{"rsyslog PRI", "<86>2025-11-08T22:00:01+01:00 bastion sshd[1]: x", true},
		{"5424", `<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3"] x`, true},
		{"5424 NIL timestamp", "<165>1 - mymachine evntslog - - - x", true},

		{"empty", "", false},
		{"timestamp only", "Nov  8 22:00:01", false},
		{"timestamp and space", "Nov  8 22:00:01 ", false},
		{"prose", "November rain", false},
		{"bad PRI", "<1234>Nov  8 22:00:01 bastion sshd[1]: x", false},
		{"fail2ban", "2025-11-08 22:00:01,123 fail2ban.actions [1]: NOTICE [sshd] Ban 1.2.3.4", false},
		{"nginx access", `77.179.66.156 - - [25/Oct/2016:14:49:33 +0200] "GET / HTTP/1.1" 200 612 "-" "curl/8.5.0"`, false},
		{"nginx error", `2012/04/09 11:53:29 [error] 2865#0: *66647 user "xyz" was not found`, false},
		{"apache error", "[Sat Nov 08 22:00:01.123456 2025] [core:error] [pid 1] x", false},
		{"fast.log", "07/13/2016-22:42:07.573103  [**] [1:2100498:7] GPL ATTACK_RESPONSE id check returned root [**]", false},
		{"eve.json", `{"timestamp":"2017-01-30T16:12:26.985026+0100","event_type":"alert"}`, false},
		{"mysql 8 error log", "2025-11-08T22:00:01.123456Z 12 [Note] [MY-010926] [Server] Access denied for user 'root'@'203.0.113.7' (using password: YES)", false},
		{"mysql 8 system", "2025-11-08T22:00:01.123456+01:00 0 [System] [MY-010931] [Server] /usr/sbin/mysqld: ready for connections.", false},
		{"mysql 5.7 error log", "2025-11-08T22:00:01.123456Z 344 [Warning] Access denied for user 'root'@'203.0.113.7' (using password: NO)", false},
		{"mysql 8 ERROR", "2025-11-08T22:00:01.123456Z 0 [ERROR] [MY-010119] [Server] Aborting", false},
		// Near misses stay syslog: a host of digits with another tag, a
		// level-like tag after a named host.
		{"numeric host, other tag", "2025-11-08T22:00:01Z 12 sshd[1]: x", true},
		{"named host, bracket tag", "2025-11-08T22:00:01Z db12 [Note] x", true},
		{"numeric host, unknown level", "2025-11-08T22:00:01Z 12 [Notice] x", true},
		{"suricata.log", "8/11/2025 -- 22:00:01 - <Info> - This is Suricata version 7.0.0", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Sniff([]byte(tt.line)); got != tt.want {
				t.Errorf("Sniff(%q) = %v, want %v", tt.line, got, tt.want)
			}
		})
	}
}

// Sniff must claim every line of real syslog samples and no line of the
// other formats stockade reads.
func TestSniffCorpus(t *testing.T) {
	tests := []struct {
		path string
		want bool
	}{
		{"elastic__beats/filebeat/module/system/auth/test/secure-rhel7.log", true},
		{"elastic__beats/filebeat/module/system/auth/test/test.log", true},
		{"elastic__beats/filebeat/module/system/auth/test/timestamp.log", true},
		{"fail2ban__fail2ban/fail2ban/tests/files/logs/sshd", true},
		{"elastic__beats/filebeat/module/nginx/access/test/access.log", false},
		{"fail2ban__fail2ban/fail2ban/tests/files/logs/nginx-http-auth", false},
		{"OISF__suricata-verify/tests/lua/lua-fastlog/expected/fast.log", false},
		{"rhaist__surevego/testdata/eve.json", false},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			path := testcorpus.Path(t, tt.path)
			n := 0
			for i, line := range readLines(t, path) {
				if len(line) == 0 || line[0] == '#' {
					continue
				}
				n++
				if got := Sniff(line); got != tt.want {
					t.Errorf("line %d: Sniff(%q) = %v, want %v", i+1, line, got, tt.want)
				}
			}
			if n == 0 {
				t.Fatal("no lines")
			}
		})
	}
}
