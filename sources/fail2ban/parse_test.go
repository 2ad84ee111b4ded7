package fail2ban

import (
	"errors"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

// cet stands in for the zone of the host that wrote the log.
var cet = time.FixedZone("CET", 3600)

type want struct {
	skip    bool
	bad     string
	time    string // RFC 3339 with fraction
	program string
	pid     int
	level   string
	jail    string
	verb    string
	addr    string
	message string
}

var parseCases = []struct {
	name string
	line string
	want want
}{
	{
		name: "1.x ban",
		line: "2025-11-08 22:00:01,123 fail2ban.actions        [1234]: NOTICE  [sshd] Ban 198.51.100.9",
		want: want{time: "2025-11-08T22:00:01.123+01:00", program: "fail2ban.actions", pid: 1234, level: "NOTICE", jail: "sshd", verb: "Ban", addr: "198.51.100.9", message: "[sshd] Ban 198.51.100.9"},
	},
	{
		name: "1.x found with time",
		line: "2025-11-08 22:00:01,123 fail2ban.filter         [1234]: INFO    [sshd] Found 198.51.100.9 - 2025-11-08 22:00:01",
		want: want{time: "2025-11-08T22:00:01.123+01:00", program: "fail2ban.filter", pid: 1234, level: "INFO", jail: "sshd", verb: "Found", addr: "198.51.100.9", message: "[sshd] Found 198.51.100.9 - 2025-11-08 22:00:01"},
	},
	{
		name: "brief's single-space layout",
		line: "2025-11-08 22:00:01,123 fail2ban.filter [1234]: INFO    [sshd] Found 198.51.100.9 - 2025-11-08 22:00:01",
		want: want{time: "2025-11-08T22:00:01.123+01:00", program: "fail2ban.filter", pid: 1234, level: "INFO", jail: "sshd", verb: "Found", addr: "198.51.100.9", message: "[sshd] Found 198.51.100.9 - 2025-11-08 22:00:01"},
	},
	{
		name: "observer found",
		line: "2025-11-08 22:00:25,004 fail2ban.observer       [1187]: INFO    [wordpress_login] Found 198.51.100.23, bad - 2025-11-08 22:00:08, 2 # -> 5, Ban",
		want: want{time: "2025-11-08T22:00:25.004+01:00", program: "fail2ban.observer", pid: 1187, level: "INFO", jail: "wordpress_login", verb: "Found", addr: "198.51.100.23", message: "[wordpress_login] Found 198.51.100.23, bad - 2025-11-08 22:00:08, 2 # -> 5, Ban"},
	},
	{
		name: "unban",
		line: "2025-11-08 22:10:01,500 fail2ban.actions        [1234]: NOTICE  [sshd] Unban 198.51.100.9",
		want: want{time: "2025-11-08T22:10:01.5+01:00", program: "fail2ban.actions", pid: 1234, level: "NOTICE", jail: "sshd", verb: "Unban", addr: "198.51.100.9", message: "[sshd] Unban 198.51.100.9"},
	},
	{
		name: "restore ban",
		line: "2025-11-08 21:58:12,133 fail2ban.actions        [1187]: NOTICE  [sshd] Restore Ban 203.0.113.45",
		want: want{time: "2025-11-08T21:58:12.133+01:00", program: "fail2ban.actions", pid: 1187, level: "NOTICE", jail: "sshd", verb: "Restore Ban", addr: "203.0.113.45", message: "[sshd] Restore Ban 203.0.113.45"},
	},
	{
		name: "already banned",
		line: "2025-11-08 22:00:19,612 fail2ban.actions        [1187]: NOTICE  [sshd] 198.51.100.9 already banned",
		want: want{time: "2025-11-08T22:00:19.612+01:00", program: "fail2ban.actions", pid: 1187, level: "NOTICE", jail: "sshd", verb: "Already banned", addr: "198.51.100.9", message: "[sshd] 198.51.100.9 already banned"},
	},
	{
		name: "increase ban",
		line: "2025-11-08 22:00:25,011 fail2ban.actions        [1187]: NOTICE  [wordpress_login] Increase Ban 1.2.3.4 (2 # 2:00:00 -> 2025-11-09 00:00:25)",
		want: want{time: "2025-11-08T22:00:25.011+01:00", program: "fail2ban.actions", pid: 1187, level: "NOTICE", jail: "wordpress_login", verb: "Increase Ban", addr: "1.2.3.4", message: "[wordpress_login] Increase Ban 1.2.3.4 (2 # 2:00:00 -> 2025-11-09 00:00:25)"},
	},
	{
		name: "0.8 without pid",
		line: "2013-05-27 10:21:13,123 fail2ban.actions: WARNING [ssh] Ban 1.2.3.4",
		want: want{time: "2013-05-27T10:21:13.123+01:00", program: "fail2ban.actions", level: "WARNING", jail: "ssh", verb: "Ban", addr: "1.2.3.4", message: "[ssh] Ban 1.2.3.4"},
	},
	{
		name: "0.8 padded name",
		line: "2013-05-27 10:21:13,123 fail2ban.filter : INFO   [ssh] Found 1.2.3.4",
		want: want{time: "2013-05-27T10:21:13.123+01:00", program: "fail2ban.filter", level: "INFO", jail: "ssh", verb: "Found", addr: "1.2.3.4", message: "[ssh] Found 1.2.3.4"},
	},
	{
		name: "0.8 already banned warning",
		line: "2013-05-27 10:21:13,123 fail2ban.actions: WARNING [ssh] 1.2.3.4 already banned",
		want: want{time: "2013-05-27T10:21:13.123+01:00", program: "fail2ban.actions", level: "WARNING", jail: "ssh", verb: "Already banned", addr: "1.2.3.4", message: "[ssh] 1.2.3.4 already banned"},
	},
	{
		name: "0.9 pid without padding",
		line: "2006-02-13 15:52:30,388 fail2ban.actions[123]: NOTICE [sendmail] Ban 1.2.3.4",
		want: want{time: "2006-02-13T15:52:30.388+01:00", program: "fail2ban.actions", pid: 123, level: "NOTICE", jail: "sendmail", verb: "Ban", addr: "1.2.3.4", message: "[sendmail] Ban 1.2.3.4"},
	},
	{
		name: "jail with dash dot underscore",
		line: "2025-11-08 22:00:01,123 fail2ban.actions        [1234]: NOTICE  [nginx-http_auth.v2] Ban 198.51.100.9",
		want: want{time: "2025-11-08T22:00:01.123+01:00", program: "fail2ban.actions", pid: 1234, level: "NOTICE", jail: "nginx-http_auth.v2", verb: "Ban", addr: "198.51.100.9", message: "[nginx-http_auth.v2] Ban 198.51.100.9"},
	},
	{
		name: "ipv6",
		line: "2025-11-08 22:00:01,123 fail2ban.actions        [1234]: NOTICE  [sshd] Ban 2001:db8::1",
		want: want{time: "2025-11-08T22:00:01.123+01:00", program: "fail2ban.actions", pid: 1234, level: "NOTICE", jail: "sshd", verb: "Ban", addr: "2001:db8::1", message: "[sshd] Ban 2001:db8::1"},
	},
	{
		name: "ipv4-mapped",
		line: "2025-11-08 22:00:01,123 fail2ban.filter         [1234]: INFO    [sshd] Found ::ffff:203.0.113.7 - 2025-11-08 22:00:01",
		want: want{time: "2025-11-08T22:00:01.123+01:00", program: "fail2ban.filter", pid: 1234, level: "INFO", jail: "sshd", verb: "Found", addr: "203.0.113.7", message: "[sshd] Found ::ffff:203.0.113.7 - 2025-11-08 22:00:01"},
	},
	{
		name: "crlf",
		line: "2025-11-08 22:00:01,123 fail2ban.actions        [1234]: NOTICE  [sshd] Ban 198.51.100.9\r",
		want: want{time: "2025-11-08T22:00:01.123+01:00", program: "fail2ban.actions", pid: 1234, level: "NOTICE", jail: "sshd", verb: "Ban", addr: "198.51.100.9", message: "[sshd] Ban 198.51.100.9"},
	},
	{
		name: "no milliseconds",
		line: "2025-11-08 22:00:01 fail2ban.actions [1234]: NOTICE [sshd] Ban 198.51.100.9",
		want: want{time: "2025-11-08T22:00:01+01:00", program: "fail2ban.actions", pid: 1234, level: "NOTICE", jail: "sshd", verb: "Ban", addr: "198.51.100.9", message: "[sshd] Ban 198.51.100.9"},
	},
	{
		name: "unnamed python level",
		line: "2025-11-08 22:00:01,123 fail2ban.filter         [1234]: Level 4 [sshd] Found 198.51.100.9 - 2025-11-08 22:00:01",
		want: want{time: "2025-11-08T22:00:01.123+01:00", program: "fail2ban.filter", pid: 1234, level: "Level 4", jail: "sshd", verb: "Found", addr: "198.51.100.9", message: "[sshd] Found 198.51.100.9 - 2025-11-08 22:00:01"},
	},

	// The verb is the word after `[jail] `, nowhere else.
	{
		name: "ban later in an unban message",
		line: "2025-11-08 22:00:01,123 fail2ban.actions        [1234]: NOTICE  [sshd] Unban 198.51.100.9 Ban 6.6.6.6",
		want: want{time: "2025-11-08T22:00:01.123+01:00", program: "fail2ban.actions", pid: 1234, level: "NOTICE", jail: "sshd", verb: "Unban", addr: "198.51.100.9", message: "[sshd] Unban 198.51.100.9 Ban 6.6.6.6"},
	},
	{name: "ban inside a quoted matched line", line: `2025-11-08 22:00:01,123 fail2ban.filter         [1234]: HEAVY   Looking for match of "sshd[1]: Invalid user [sshd] Ban 6.6.6.6 from 198.51.100.9"`, want: want{skip: true}},
	{name: "ban after another word", line: "2025-11-08 22:00:01,123 fail2ban.actions        [1234]: NOTICE  [sshd] Processing Ban 6.6.6.6", want: want{skip: true}},
	{name: "jail not first", line: "2025-11-08 22:00:01,123 fail2ban.actions        [1234]: NOTICE  Jail [sshd] Ban 6.6.6.6", want: want{skip: true}},
	{name: "found of a name that reads ban", line: "2025-11-08 22:00:01,123 fail2ban.filter         [1234]: INFO    [sshd] Found Ban 6.6.6.6 - 2025-11-08 22:00:01", want: want{bad: "bad address"}},
	{name: "lowercase verb", line: "2025-11-08 22:00:01,123 fail2ban.actions        [1234]: NOTICE  [sshd] ban 6.6.6.6", want: want{skip: true}},

	// Well-formed, not about an address.
	{name: "jail started", line: "2025-11-08 21:58:12,140 fail2ban.jail           [1187]: INFO    Jail 'sshd' started", want: want{skip: true}},
	{name: "starting", line: "2025-11-08 21:58:12,032 fail2ban.server         [1187]: INFO    Starting Fail2ban v1.1.0", want: want{skip: true}},
	{name: "0.8 set maxretry", line: "2013-05-27 10:21:13,123 fail2ban.filter : INFO   Set maxRetry = 5", want: want{skip: true}},
	{name: "indented setting", line: "2025-11-08 21:58:12,072 fail2ban.filter         [1187]: INFO      maxRetry: 5", want: want{skip: true}},
	{name: "ignore", line: "2025-11-08 22:01:09,020 fail2ban.filter         [1187]: INFO    [sshd] Ignore 192.0.2.44 by ip", want: want{skip: true}},
	{name: "flush", line: "2025-11-08 22:30:00,025 fail2ban.actions        [1187]: NOTICE  [sshd] Flush ticket(s) with nftables-multiport", want: want{skip: true}},
	{name: "ip is bad", line: "2025-11-08 22:00:25,009 fail2ban.observer       [1187]: INFO    [wordpress_login] IP 198.51.100.23 is bad: 2 # last 2025-11-07 21:14:40 - incr 0:10:00 to 0:20:00", want: want{skip: true}},
	{name: "jail only", line: "2025-11-08 22:00:01,123 fail2ban.actions        [1234]: NOTICE  [sshd]", want: want{skip: true}},
	{name: "verb without address", line: "2025-11-08 22:00:01,123 fail2ban.actions        [1234]: NOTICE  [sshd] Ban", want: want{skip: true}},
	{name: "empty message", line: "2025-11-08 22:00:01,123 fail2ban.server         [1234]: INFO    ", want: want{skip: true}},
	{name: "level only", line: "2025-11-08 22:00:01,123 fail2ban.server         [1234]: INFO", want: want{skip: true}},
	{name: "python error in brackets", line: "2025-11-08 22:00:01,123 fail2ban.server         [1234]: ERROR   [Errno 2] No such file or directory: '/var/log/x'", want: want{skip: true}},

	// Bad lines.
	{name: "empty", line: "", want: want{bad: "no timestamp"}},
	{name: "traceback", line: "Traceback (most recent call last):", want: want{bad: "no timestamp"}},
	{name: "traceback frame", line: `  File "/usr/lib/python3/dist-packages/fail2ban/server/actions.py", line 456, in __checkBan`, want: want{bad: "no timestamp"}},
	{name: "syslog", line: "Sep 16 00:44:55 spaceman fail2ban.actions: NOTICE [jail] Ban 10.0.0.7", want: want{bad: "no timestamp"}},
	{name: "iso T separator", line: "2025-11-08T22:00:01,123 fail2ban.actions [1]: NOTICE [sshd] Ban 1.2.3.4", want: want{bad: "no timestamp"}},
	{name: "letters in date", line: "2025-1x-08 22:00:01,123 fail2ban.actions [1]: NOTICE [sshd] Ban 1.2.3.4", want: want{bad: "no timestamp"}},
	{name: "month 13", line: "2025-13-08 22:00:01,123 fail2ban.actions [1]: NOTICE [sshd] Ban 1.2.3.4", want: want{bad: "bad timestamp"}},
	{name: "year 1 is the zero time", line: "0001-01-01 00:00:00 fail2ban.actions [1]: NOTICE [sshd] Ban 1.2.3.4", want: want{bad: "bad timestamp"}},
	{name: "30 february", line: "2025-02-30 22:00:01,123 fail2ban.actions [1]: NOTICE [sshd] Ban 1.2.3.4", want: want{bad: "bad timestamp"}},
	{name: "hour 25", line: "2025-11-08 25:00:01,123 fail2ban.actions [1]: NOTICE [sshd] Ban 1.2.3.4", want: want{bad: "bad timestamp"}},
	{name: "fraction letters", line: "2025-11-08 22:00:01,abc fail2ban.actions [1]: NOTICE [sshd] Ban 1.2.3.4", want: want{bad: "bad timestamp"}},
	{name: "time glued to logger", line: "2025-11-08 22:00:01,123fail2ban.actions [1]: NOTICE [sshd] Ban 1.2.3.4", want: want{bad: "bad timestamp"}},
	{name: "time only", line: "2025-11-08 22:00:01,123", want: want{bad: "bad logger"}},
	{name: "no logger", line: "2025-11-08 22:00:01,123 : NOTICE [sshd] Ban 1.2.3.4", want: want{bad: "bad logger"}},
	{name: "no colon", line: "2025-11-08 22:00:01,123 fail2ban.actions NOTICE [sshd] Ban 1.2.3.4", want: want{bad: "bad logger"}},
	{name: "bad pid", line: "2025-11-08 22:00:01,123 fail2ban.actions [12a]: NOTICE [sshd] Ban 1.2.3.4", want: want{bad: "bad logger"}},
	{name: "empty pid", line: "2025-11-08 22:00:01,123 fail2ban.actions []: NOTICE [sshd] Ban 1.2.3.4", want: want{bad: "bad logger"}},
	{name: "nothing after colon", line: "2025-11-08 22:00:01,123 fail2ban.actions [1]:", want: want{bad: "bad level"}},
	{name: "lowercase level", line: "2025-11-08 22:00:01,123 fail2ban.actions [1]: notice [sshd] Ban 1.2.3.4", want: want{bad: "bad level"}},
	{name: "level glued", line: "2025-11-08 22:00:01,123 fail2ban.actions [1]: NOTICE[sshd] Ban 1.2.3.4", want: want{bad: "bad level"}},
	{name: "unclosed jail", line: "2025-11-08 22:00:01,123 fail2ban.actions [1]: NOTICE [sshd Ban 1.2.3.4", want: want{bad: "bad jail"}},
	{name: "empty jail", line: "2025-11-08 22:00:01,123 fail2ban.actions [1]: NOTICE [] Ban 1.2.3.4", want: want{bad: "bad jail"}},
	{name: "jail glued to verb", line: "2025-11-08 22:00:01,123 fail2ban.actions [1]: NOTICE [sshd]Ban 1.2.3.4", want: want{bad: "bad jail"}},
	{name: "nested bracket in jail", line: "2025-11-08 22:00:01,123 fail2ban.actions [1]: NOTICE [ss[hd] Ban 1.2.3.4", want: want{bad: "bad jail"}},
	{name: "ban of nothing", line: "2025-11-08 22:00:01,123 fail2ban.actions [1]: NOTICE [sshd] Ban ", want: want{bad: "bad address"}},
	{name: "ban of a short address", line: "2025-11-08 22:00:01,123 fail2ban.actions [1]: NOTICE [sshd] Ban 1.2.3", want: want{bad: "bad address"}},
	{name: "ban of a failure id", line: "2025-11-08 22:00:01,123 fail2ban.actions [1]: NOTICE [sshd] Ban root", want: want{bad: "bad address"}},
	{name: "ban of host name", line: "2025-11-08 22:00:01,123 fail2ban.actions [1]: NOTICE [sshd] Ban evil.example.com", want: want{bad: "bad address"}},
	{name: "already banned of a failure id", line: "2025-11-08 22:00:01,123 fail2ban.actions [1]: NOTICE [sshd] root already banned", want: want{bad: "bad address"}},
}

func TestParse(t *testing.T) {
	for _, tc := range parseCases {
		t.Run(tc.name, func(t *testing.T) {
			var ev pipeline.Event
			err := New(cet).Parse([]byte(tc.line), &ev)
			switch {
			case tc.want.skip:
				if err != pipeline.ErrSkip {
					t.Fatalf("err = %v, want ErrSkip", err)
				}
				return
			case tc.want.bad != "":
				var bl *pipeline.BadLine
				if !errors.As(err, &bl) || bl.Reason != tc.want.bad {
					t.Fatalf("err = %v, want bad line %q", err, tc.want.bad)
				}
				return
			case err != nil:
				t.Fatalf("err = %v", err)
			}
			got := want{
				time:    ev.Time.Format(time.RFC3339Nano),
				program: ev.Program,
				pid:     ev.PID,
				level:   ev.Level,
				jail:    ev.Jail,
				verb:    ev.Verb,
				addr:    ev.Addr.String(),
				message: ev.Message,
			}
			if got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
			if ev.Format != pipeline.FormatFail2ban {
				t.Errorf("format %v", ev.Format)
			}
			if wantLine := trimCR(tc.line); ev.Line != wantLine {
				t.Errorf("line %q, want %q", ev.Line, wantLine)
			}
		})
	}
}

func trimCR(s string) string {
	if n := len(s); n > 0 && s[n-1] == '\r' {
		return s[:n-1]
	}
	return s
}

// TestLocation checks that wall-clock times are read in the Parser's zone,
// DST included, and that nil means time.Local.
func TestLocation(t *testing.T) {
	zurich, err := time.LoadLocation("Europe/Zurich")
	if err != nil {
		t.Fatal(err)
	}
	line := []byte("2025-07-08 22:00:01,000 fail2ban.actions [1]: NOTICE [sshd] Ban 1.2.3.4")
	var ev pipeline.Event
	if err := New(zurich).Parse(line, &ev); err != nil {
		t.Fatal(err)
	}
	if got := ev.Time.Format(time.RFC3339); got != "2025-07-08T22:00:01+02:00" {
		t.Errorf("summer time: %s", got)
	}
	ev = pipeline.Event{}
	if err := New(nil).Parse(line, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Time.Location() != time.Local {
		t.Errorf("nil location gave %v, want Local", ev.Time.Location())
	}
}

func TestSniff(t *testing.T) {
	for _, tc := range []struct {
		name string
		line string
		want bool
	}{
		{"1.x ban", "2025-11-08 22:00:01,123 fail2ban.actions        [1234]: NOTICE  [sshd] Ban 198.51.100.9", true},
		{"1.x skip line", "2025-11-08 21:58:12,140 fail2ban.jail           [1187]: INFO    Jail 'sshd' started", true},
		{"0.8", "2013-05-27 10:21:13,123 fail2ban.actions: WARNING [ssh] Ban 1.2.3.4", true},
		{"crlf", "2025-11-08 22:00:01,123 fail2ban.server [1]: INFO\r", true},
		{"empty", "", false},
		{"traceback", "Traceback (most recent call last):", false},
		{"other python app", "2025-11-08 22:00:01,123 django.request [1]: WARNING Not Found: /wp-login.php", false},
		{"syslog carrying fail2ban", "Sep 16 00:44:55 spaceman fail2ban.actions: NOTICE [jail] Ban 10.0.0.7", false},
		{"iso syslog carrying fail2ban", "2025-11-08T22:00:01.123+01:00 host fail2ban-server[1]: fail2ban.actions [1]: NOTICE [sshd] Ban 1.2.3.4", false},
		{"rfc5424", "<190>1 2025-11-08T22:00:01+01:00 web fail2ban - - - [sshd] Ban 1.2.3.4", false},
		{"nginx", `203.0.113.10 - - [08/Nov/2025:22:00:01 +0100] "GET / HTTP/1.1" 200 612 "-" "x"`, false},
		{"fast.log", `11/08/2025-22:00:01.123456  [**] [1:2010935:3] ET SCAN Suspicious inbound to MSSQL port 1433 [**] [Classification: Potentially Bad Traffic] [Priority: 2] {TCP} 198.51.100.9:4711 -> 192.0.2.1:1433`, false},
		{"eve.json", `{"timestamp":"2025-11-08T22:00:01.123456+0100","event_type":"alert","src_ip":"198.51.100.9"}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Sniff([]byte(tc.line)); got != tc.want {
				t.Errorf("Sniff = %v, want %v", got, tc.want)
			}
		})
	}
}
