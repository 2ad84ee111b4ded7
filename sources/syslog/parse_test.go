package syslog

import (
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

// ref is the modification time of a file that crosses New Year.
var ref = time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)

type want struct {
	time    string // RFC 3339 in the parser's location
	host    string
	program string
	pid     int
	message string
}

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		ref  time.Time // zero means ref
		line string
		want want
	}{
		// RFC 3164
		{
			name: "bsd padded day",
			line: "Nov  8 22:00:01 bastion sshd[2738]: Failed password for root from 202.109.143.106 port 1786 ssh2",
			want: want{"2025-11-08T22:00:01Z", "bastion", "sshd", 2738, "Failed password for root from 202.109.143.106 port 1786 ssh2"},
		},
		{
			name: "bsd unpadded day",
			line: "Nov 8 22:00:01 bastion sshd[2738]: x",
			want: want{"2025-11-08T22:00:01Z", "bastion", "sshd", 2738, "x"},
		},
		{
			name: "bsd zero-padded day",
			line: "Nov 08 22:00:01 bastion sshd[2738]: x",
			want: want{"2025-11-08T22:00:01Z", "bastion", "sshd", 2738, "x"},
		},
		{
			name: "bsd two-digit day",
			line: "Nov 18 07:08:09 bastion sshd[1]: x",
			want: want{"2025-11-18T07:08:09Z", "bastion", "sshd", 1, "x"},
		},
		{
			name: "bsd fractional seconds",
			line: "Nov 18 07:08:09.123456 bastion sshd[1]: x",
			want: want{"2025-11-18T07:08:09.123456Z", "bastion", "sshd", 1, "x"},
		},
		{
			name: "bsd fraction past nanoseconds",
			line: "Nov 18 07:08:09.1234567891 bastion sshd[1]: x",
			want: want{"2025-11-18T07:08:09.123456789Z", "bastion", "sshd", 1, "x"},
		},
		{
			name: "bsd lowercase month",
			line: "nov 18 07:08:09 bastion sshd[1]: x",
			want: want{"2025-11-18T07:08:09Z", "bastion", "sshd", 1, "x"},
		},
		{
			name: "bsd leap second",
			line: "Dec 31 23:59:60 bastion ntpd[9]: leap",
			want: want{"2026-01-01T00:00:00Z", "bastion", "ntpd", 9, "leap"},
		},
		{
			name: "New Year: December goes to the previous year",
			line: "Dec 31 23:59:59 bastion systemd-logind[612]: New session 841 of user deploy.",
			want: want{"2025-12-31T23:59:59Z", "bastion", "systemd-logind", 612, "New session 841 of user deploy."},
		},
		{
			name: "New Year: January stays in the reference year",
			line: "Jan  1 00:00:01 bastion CRON[48390]: pam_unix(cron:session): session opened for user root(uid=0) by root(uid=0)",
			want: want{"2026-01-01T00:00:01Z", "bastion", "CRON", 48390, "pam_unix(cron:session): session opened for user root(uid=0) by root(uid=0)"},
		},
		{
			name: "within 24h after ref stays in the reference year",
			line: "Jan  3 11:59:59 bastion sshd[1]: x",
			want: want{"2026-01-03T11:59:59Z", "bastion", "sshd", 1, "x"},
		},
		{
			name: "exactly ref plus 24h stays in the reference year",
			line: "Jan  3 12:00:00 bastion sshd[1]: x",
			want: want{"2026-01-03T12:00:00Z", "bastion", "sshd", 1, "x"},
		},
		{
			name: "later than ref plus 24h goes to the previous year",
			line: "Jan  3 12:00:01 bastion sshd[1]: x",
			want: want{"2025-01-03T12:00:01Z", "bastion", "sshd", 1, "x"},
		},
		{
			name: "a month after ref goes to the previous year",
			line: "Feb  1 00:00:00 bastion sshd[1]: x",
			want: want{"2025-02-01T00:00:00Z", "bastion", "sshd", 1, "x"},
		},
		{
			name: "Feb 29 takes the latest leap year before ref",
			line: "Feb 29 10:00:00 bastion sshd[1]: x",
			want: want{"2024-02-29T10:00:00Z", "bastion", "sshd", 1, "x"},
		},
		{
			name: "Feb 29 in a leap reference year",
			ref:  time.Date(2024, 3, 10, 0, 0, 0, 0, time.UTC),
			line: "Feb 29 10:00:00 bastion sshd[1]: x",
			want: want{"2024-02-29T10:00:00Z", "bastion", "sshd", 1, "x"},
		},
		{
			name: "Feb 29 at the limit",
			ref:  time.Date(2024, 2, 28, 0, 0, 0, 0, time.UTC),
			line: "Feb 29 00:00:00 bastion sshd[1]: x",
			want: want{"2024-02-29T00:00:00Z", "bastion", "sshd", 1, "x"},
		},
		{
			name: "Feb 29 past the limit goes four years back",
			ref:  time.Date(2024, 2, 28, 0, 0, 0, 0, time.UTC),
			line: "Feb 29 00:00:01 bastion sshd[1]: x",
			want: want{"2020-02-29T00:00:01Z", "bastion", "sshd", 1, "x"},
		},
		{
			name: "Feb 29 skips 2100",
			ref:  time.Date(2101, 6, 1, 0, 0, 0, 0, time.UTC),
			line: "Feb 29 00:00:01 bastion sshd[1]: x",
			want: want{"2096-02-29T00:00:01Z", "bastion", "sshd", 1, "x"},
		},
		{
			name: "IPv6 in the message is untouched",
			line: "Jan  1 00:03:16 bastion sshd-session[48422]: Failed password for invalid user oracle from 2001:db8:85a3::8a2e:370:7334 port 40112 ssh2",
			want: want{"2026-01-01T00:03:16Z", "bastion", "sshd-session", 48422, "Failed password for invalid user oracle from 2001:db8:85a3::8a2e:370:7334 port 40112 ssh2"},
		},
		{
			name: "IPv4-mapped IPv6 in the message is untouched",
			line: "Jan  1 00:03:16 bastion sshd[5]: Failed password for root from ::ffff:203.0.113.7 port 1 ssh2",
			want: want{"2026-01-01T00:03:16Z", "bastion", "sshd", 5, "Failed password for root from ::ffff:203.0.113.7 port 1 ssh2"},
		},
		{
			name: "tag without pid, aligned message",
			line: "Feb 24 00:13:02 precise32 sudo:      tsg : user NOT in sudoers ; TTY=pts/1 ; PWD=/home/vagrant ; USER=root ; COMMAND=/bin/ls",
			want: want{"2025-02-24T00:13:02Z", "precise32", "sudo", 0, "tsg : user NOT in sudoers ; TTY=pts/1 ; PWD=/home/vagrant ; USER=root ; COMMAND=/bin/ls"},
		},
		{
			name: "path as program",
			line: "Jan  1 00:17:01 bastion /usr/sbin/cron[48530]: (root) CMD (cd / && run-parts --report /etc/cron.hourly)",
			want: want{"2026-01-01T00:17:01Z", "bastion", "/usr/sbin/cron", 48530, "(root) CMD (cd / && run-parts --report /etc/cron.hourly)"},
		},
		{
			name: "parenthesised tag keeps its colon",
			line: "Jan  1 00:17:01 bastion pam_unix(sshd:auth): authentication failure; rhost=192.0.2.1",
			want: want{"2026-01-01T00:17:01Z", "bastion", "pam_unix(sshd:auth)", 0, "authentication failure; rhost=192.0.2.1"},
		},
		{
			name: "non-numeric pid",
			line: "Jan  1 00:17:01 bastion foo[bar]: x",
			want: want{"2026-01-01T00:17:01Z", "bastion", "foo", 0, "x"},
		},
		{
			name: "tag with empty message",
			line: "Jan  1 00:17:01 bastion sshd[7]:",
			want: want{"2026-01-01T00:17:01Z", "bastion", "sshd", 7, ""},
		},
		{
			name: "host only",
			line: "Jan  1 00:17:01 bastion",
			want: want{"2026-01-01T00:17:01Z", "bastion", "", 0, ""},
		},
		{
			name: "no tag",
			line: "Jan  1 00:24:09 bastion last message repeated 3 times",
			want: want{"2026-01-01T00:24:09Z", "bastion", "", 0, "last message repeated 3 times"},
		},
		{
			name: "colon later in an untagged message is not a tag",
			line: "Jan  1 00:24:09 bastion message from 10.0.0.1: hello",
			want: want{"2026-01-01T00:24:09Z", "bastion", "", 0, "message from 10.0.0.1: hello"},
		},
		{
			name: "kernel",
			line: "Jan  1 00:31:15 bastion kernel: [1234567.891011] IN=eth0 SRC=192.0.2.1",
			want: want{"2026-01-01T00:31:15Z", "bastion", "kernel", 0, "[1234567.891011] IN=eth0 SRC=192.0.2.1"},
		},
		{
			name: "no host, tag with pid",
			line: "Feb 17 17:40:17 sshd[19725]: Connection from 192.0.2.10 port 62004 on 192.0.2.10 port 22",
			want: want{"2025-02-17T17:40:17Z", "", "sshd", 19725, "Connection from 192.0.2.10 port 62004 on 192.0.2.10 port 22"},
		},
		{
			name: "no host, kernel",
			line: "Feb 17 17:40:17 kernel: x",
			want: want{"2025-02-17T17:40:17Z", "", "kernel", 0, "x"},
		},
		{
			// An old header form fail2ban's filters accept: the program in
			// brackets, with or without the colon, never the host.
			name: "bracketed program is the tag, not the host",
			line: "Mar  3 00:17:22 [sshd]: User root from 211.188.220.49 not allowed",
			want: want{"2025-03-03T00:17:22Z", "", "sshd", 0, "User root from 211.188.220.49 not allowed"},
		},
		{
			name: "IPv6 host",
			line: "Jan  1 00:00:00 2001:db8::1 sshd[3]: x",
			want: want{"2026-01-01T00:00:00Z", "2001:db8::1", "sshd", 3, "x"},
		},
		{
			name: "extra spaces between fields",
			line: "Jan  1 00:00:00  bastion  sshd[3]:  x  y ",
			want: want{"2026-01-01T00:00:00Z", "bastion", "sshd", 3, "x  y "},
		},
		{
			name: "PRI prefix",
			line: "<38>Nov  8 22:00:01 bastion sshd[2738]: x",
			want: want{"2025-11-08T22:00:01Z", "bastion", "sshd", 2738, "x"},
		},
		{
			name: "PRI zero",
			line: "<0>Nov  8 22:00:01 bastion kernel: x",
			want: want{"2025-11-08T22:00:01Z", "bastion", "kernel", 0, "x"},
		},
		{
			name: "CRLF",
			line: "Nov  8 22:00:01 bastion sshd[2738]: x y\r",
			want: want{"2025-11-08T22:00:01Z", "bastion", "sshd", 2738, "x y"},
		},

		// rsyslog RFC 3339 prefix
		{
			name: "rsyslog offset",
			line: "2025-11-08T22:00:01.123456+01:00 bastion sshd[2716]: Connection closed by 192.0.2.112 [preauth]",
			want: want{"2025-11-08T21:00:01.123456Z", "bastion", "sshd", 2716, "Connection closed by 192.0.2.112 [preauth]"},
		},
		{
			name: "rsyslog negative half-hour offset",
			line: "2025-11-08T22:00:01-03:30 bastion sshd[1]: x",
			want: want{"2025-11-09T01:30:01Z", "bastion", "sshd", 1, "x"},
		},
		{
			name: "rsyslog offset without colon",
			line: "2025-11-08T22:00:01+0100 bastion sshd[1]: x",
			want: want{"2025-11-08T21:00:01Z", "bastion", "sshd", 1, "x"},
		},
		{
			name: "rsyslog Z",
			line: "2025-11-08T22:00:01.5Z bastion sudo: pam_unix(sudo:session): session closed for user root",
			want: want{"2025-11-08T22:00:01.5Z", "bastion", "sudo", 0, "pam_unix(sudo:session): session closed for user root"},
		},
		{
			name: "rsyslog without fraction",
			line: "2025-11-08T22:00:01Z bastion sshd-session[123]: x",
			want: want{"2025-11-08T22:00:01Z", "bastion", "sshd-session", 123, "x"},
		},
		{
			name: "rsyslog without zone reads the location",
			line: "2019-06-14T10:40:20.912134 localhost sudo: pam_unix(sudo-i:session): session opened for user root by userauth3(uid=0)",
			want: want{"2019-06-14T10:40:20.912134Z", "localhost", "sudo", 0, "pam_unix(sudo-i:session): session opened for user root by userauth3(uid=0)"},
		},
		{
			name: "rsyslog is not subject to year inference",
			line: "2027-06-14T10:40:20Z bastion sshd[1]: x",
			want: want{"2027-06-14T10:40:20Z", "bastion", "sshd", 1, "x"},
		},
		{
			name: "rsyslog Feb 29",
			line: "2024-02-29T10:40:20Z bastion sshd[1]: x",
			want: want{"2024-02-29T10:40:20Z", "bastion", "sshd", 1, "x"},
		},
		{
			name: "rsyslog forward format behind PRI",
			line: "<86>2025-11-08T22:00:01.123+00:00 bastion sshd[1]: x",
			want: want{"2025-11-08T22:00:01.123Z", "bastion", "sshd", 1, "x"},
		},

		// RFC 5424
		{
			name: "5424 RFC example with SD",
			line: `<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog 1234 ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] An application event log entry...`,
			want: want{"2003-10-11T22:14:15.003Z", "mymachine.example.com", "evntslog", 1234, "An application event log entry..."},
		},
		{
			name: "5424 without SD",
			line: "<38>1 2019-07-08T17:40:16.954167-04:00 hostname.example.com sshd 57915 - - Failed unknown for invalid user redmond from 192.0.2.1 port 59197 ssh2",
			want: want{"2019-07-08T21:40:16.954167Z", "hostname.example.com", "sshd", 57915, "Failed unknown for invalid user redmond from 192.0.2.1 port 59197 ssh2"},
		},
		{
			name: "5424 several SD elements, brackets in values",
			line: `<38>1 2019-07-08T17:40:17.954167-04:00 hostname.example.com sshd 55555 - [timeQuality tzKnown="1" isSynced="0"][xxx@123 test="[brackets]"] Failed unknown for invalid user redmond from 192.0.2.2 port 55555 ssh2`,
			want: want{"2019-07-08T21:40:17.954167Z", "hostname.example.com", "sshd", 55555, "Failed unknown for invalid user redmond from 192.0.2.2 port 55555 ssh2"},
		},
		{
			name: "5424 escaped quote and bracket in SD",
			line: `<13>1 2025-11-08T22:00:01Z h app 1 - [a@1 x="say \"hi\" \] ok" y="\\"] msg ] "here"`,
			want: want{"2025-11-08T22:00:01Z", "h", "app", 1, `msg ] "here"`},
		},
		{
			name: "5424 NILVALUEs",
			line: "<13>1 2025-11-08T22:00:01Z - - - - - hello",
			want: want{"2025-11-08T22:00:01Z", "", "", 0, "hello"},
		},
		{
			name: "5424 non-numeric procid",
			line: "<13>1 2025-11-08T22:00:01Z h app worker-3 - - hello",
			want: want{"2025-11-08T22:00:01Z", "h", "app", 0, "hello"},
		},
		{
			name: "5424 BOM before MSG",
			line: "<13>1 2025-11-08T22:00:01Z h sshd 42 - - \xEF\xBB\xBFFailed password for root from 192.0.2.3 port 22 ssh2",
			want: want{"2025-11-08T22:00:01Z", "h", "sshd", 42, "Failed password for root from 192.0.2.3 port 22 ssh2"},
		},
		{
			name: "5424 without MSG",
			line: `<13>1 2025-11-08T22:00:01Z h app 1 ID [a@1 x="1"]`,
			want: want{"2025-11-08T22:00:01Z", "h", "app", 1, ""},
		},
		{
			name: "5424 CRLF",
			line: "<13>1 2025-11-08T22:00:01Z h app 1 - - hi\r",
			want: want{"2025-11-08T22:00:01Z", "h", "app", 1, "hi"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.ref
			if r.IsZero() {
				r = ref
			}
			p := New(r, time.UTC)
			var ev pipeline.Event
			if err := p.Parse([]byte(tt.line), &ev); err != nil {
				t.Fatalf("Parse(%q) = %v", tt.line, err)
			}
			got := want{ev.Time.Format(time.RFC3339Nano), ev.Host, ev.Program, ev.PID, ev.Message}
			if got != tt.want {
				t.Errorf("Parse(%q)\n got %+v\nwant %+v", tt.line, got, tt.want)
			}
			if ev.Format != pipeline.FormatSyslog {
				t.Errorf("Format = %v", ev.Format)
			}
			if line := strings.TrimSuffix(tt.line, "\r"); ev.Line != line {
				t.Errorf("Line = %q, want %q", ev.Line, line)
			}
			if ev.Addr.IsValid() {
				t.Errorf("Addr = %v, want unset", ev.Addr)
			}
			if ev.Time.Location() != time.UTC {
				t.Errorf("Time location = %v, want UTC", ev.Time.Location())
			}
		})
	}
}

func TestParseBad(t *testing.T) {
	tests := []struct {
		name string
		line string
		want error
	}{
		{"empty", "", errEmpty},
		{"only CR", "\r", errEmpty},
		{"blank", " \t ", errEmpty},
		{"prose", "hello world", errNoTime},
		{"month word", "Marching on", errNoTime},
		{"month without day", "Nov foo 22:00:01 h x", errNoTime},
		{"leading space", " Nov  8 22:00:01 h x", errNoTime},
		{"nginx access", `203.0.113.9 - - [08/Nov/2025:22:00:01 +0100] "GET / HTTP/1.1" 200 612 "-" "curl/8.5.0"`, errNoTime},
		{"nginx error", "2025/11/08 22:00:01 [error] 1234#0: *1 open() failed", errNoTime},
		{"fast.log", "11/08/2025-22:00:01.123456  [**] [1:2010935:3] ET SCAN [**]", errNoTime},
		{"eve.json", `{"timestamp":"2025-11-08T22:00:01.123456+0100","event_type":"alert"}`, errNoTime},
		{"fail2ban log", "2025-11-08 22:00:01,123 fail2ban.actions        [1]: NOTICE  [sshd] Ban 1.2.3.4", errBadTime},
		{"Nov 31", "Nov 31 22:00:01 h sshd[1]: x", errBadTime},
		{"Feb 30", "Feb 30 22:00:01 h sshd[1]: x", errBadTime},
		{"day zero", "Feb  0 22:00:01 h sshd[1]: x", errBadTime},
		{"hour 24", "Nov  8 24:00:01 h sshd[1]: x", errBadTime},
		{"minute 60", "Nov  8 22:60:01 h sshd[1]: x", errBadTime},
		{"three-digit day", "Nov 123 22:00:01 h x", errBadTime},
		{"short clock", "Nov  8 22:00 h x", errBadTime},
		{"letters in clock", "Nov  8 2x:00:01 h x", errBadTime},
		{"glued host", "Nov  8 22:00:01host x", errBadTime},
		{"empty fraction", "Nov  8 22:00:01. h x", errBadTime},
		{"year in stamp", "Nov  8 2025 22:00:01 h x", errBadTime},
		{"timestamp only", "Nov  8 22:00:01", errNoHost},
		{"timestamp and spaces", "Nov  8 22:00:01   ", errNoHost},
		{"iso only", "2025-11-08T22:00:01Z", errNoHost},
		{"iso Feb 29 in a common year", "2025-02-29T22:00:01Z h x", errBadTime},
		{"iso before the epoch", "0001-01-01T00:00:00Z h x", errBadTime},
		{"iso month 13", "2025-13-08T22:00:01Z h x", errBadTime},
		{"iso truncated zone", "2025-11-08T22:00:01+01 h x", errBadTime},
		{"iso bad zone", "2025-11-08T22:00:01+25:00 h x", errBadTime},
		{"iso glued", "2025-11-08T22:00:01Zh x", errBadTime},
		{"iso short", "2025-11-08T22:00 h x", errBadTime},
		{"PRI unterminated", "<13Nov  8 22:00:01 h x", errBadPRI},
		{"PRI empty", "<>Nov  8 22:00:01 h x", errBadPRI},
		{"PRI too large", "<192>Nov  8 22:00:01 h x", errBadPRI},
		{"PRI too long", "<0013>Nov  8 22:00:01 h x", errBadPRI},
		{"PRI only", "<13>", errNoTime},
		{"5424 NIL timestamp", "<13>1 - host app - - - msg", errNoTime},
		{"5424 no timestamp", "<13>1 ", errNoTime},
		{"5424 bad timestamp", "<13>1 2025-11-08 22:00:01 host app - - - msg", errBadTime},
		{"5424 no host", "<13>1 2025-11-08T22:00:01Z", errNoHost},
		{"5424 no host after space", "<13>1 2025-11-08T22:00:01Z ", errNoHost},
		{"5424 truncated header", "<13>1 2025-11-08T22:00:01Z host app", errHeader},
		{"5424 no SD", "<13>1 2025-11-08T22:00:01Z host app 1 ID", errHeader},
		{"5424 no SD after space", "<13>1 2025-11-08T22:00:01Z host app 1 ID ", errHeader},
		{"5424 empty field", "<13>1 2025-11-08T22:00:01Z host  app 1 ID - x", errHeader},
		{"5424 SD missing", "<13>1 2025-11-08T22:00:01Z host app 1 ID msg", errBadSD},
		{"5424 SD unterminated", `<13>1 2025-11-08T22:00:01Z host app 1 ID [a@1 x="1"`, errBadSD},
		{"5424 SD escaped end", `<13>1 2025-11-08T22:00:01Z host app 1 ID [a@1 x="1\"] msg`, errBadSD},
		{"5424 SD glued", `<13>1 2025-11-08T22:00:01Z host app 1 ID [a@1 x="1"]msg`, errBadSD},
		{"5424 NIL SD glued", "<13>1 2025-11-08T22:00:01Z host app 1 ID -msg", errBadSD},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := New(ref, time.UTC)
			var ev pipeline.Event
			err := p.Parse([]byte(tt.line), &ev)
			if err != tt.want {
				t.Fatalf("Parse(%q) = %v, want %v", tt.line, err, tt.want)
			}
			var bad *pipeline.BadLine
			if !errors.As(err, &bad) {
				t.Fatalf("error %v is not a *pipeline.BadLine", err)
			}
			if !reflect.DeepEqual(ev, pipeline.Event{}) {
				t.Errorf("ev changed on error: %+v", ev)
			}
		})
	}
}

// The strings an Event carries must point into the line: the contract
// promises zero-copy parsing.
func TestParseAliasesLine(t *testing.T) {
	line := []byte("Nov  8 22:00:01 bastion sshd[2738]: Failed password for root")
	var ev pipeline.Event
	if err := New(ref, time.UTC).Parse(line, &ev); err != nil {
		t.Fatal(err)
	}
	copy(line, strings.Repeat("#", len(line)))
	for name, s := range map[string]string{"Line": ev.Line, "Host": ev.Host, "Program": ev.Program, "Message": ev.Message} {
		if strings.Trim(s, "#") != "" {
			t.Errorf("%s = %q does not alias the line", name, s)
		}
	}
}

func TestParseZones(t *testing.T) {
	ny := loadLocation(t, "America/New_York")
	tests := []struct {
		name string
		line string
		want time.Time
	}{
		{"winter", "Jan  1 00:00:01 h x: y", time.Date(2026, 1, 1, 0, 0, 1, 0, ny)},
		{"summer", "Jul  4 12:00:00 h x: y", time.Date(2025, 7, 4, 12, 0, 0, 0, ny)},
		{"skipped hour", "Mar  9 02:30:00 h x: y", time.Date(2025, 3, 9, 2, 30, 0, 0, ny)},
		{"repeated hour", "Nov  2 01:30:00 h x: y", time.Date(2025, 11, 2, 1, 30, 0, 0, ny)},
		{"iso without zone", "2025-07-04T12:00:00.25 h x: y", time.Date(2025, 7, 4, 12, 0, 0, 250_000_000, ny)},
		{"iso with zone", "2025-07-04T12:00:00Z h x: y", time.Date(2025, 7, 4, 12, 0, 0, 0, time.UTC)},
	}
	p := New(ref, ny)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ev pipeline.Event
			if err := p.Parse([]byte(tt.line), &ev); err != nil {
				t.Fatal(err)
			}
			if !ev.Time.Equal(tt.want) || ev.Time.Location() != ny {
				t.Errorf("Time = %v, want %v in %v", ev.Time, tt.want, ny)
			}
		})
	}
}

func TestNewNilLocation(t *testing.T) {
	p := New(ref, nil)
	var ev pipeline.Event
	if err := p.Parse([]byte("Jul  4 12:00:00 h x: y"), &ev); err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2025, 7, 4, 12, 0, 0, 0, time.Local); !ev.Time.Equal(want) || ev.Time.Location() != time.Local {
		t.Errorf("Time = %v, want %v", ev.Time, want)
	}
}

func loadLocation(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Skipf("zone %s unavailable: %v", name, err)
	}
	return loc
}

// TestStampRecall: a parser that reads a run of lines, and so recalls
// the last timestamp it read, makes of each line what a parser new to it
// makes: the same event or the same error. The lines repeat stamps, add a
// fraction to a stamp just read, pad its day differently, and cross a
// SetRef that moves the year.
func TestStampRecall(t *testing.T) {
	loc := loadLocation(t, "Europe/Berlin")
	lines := readLines(t, filepath.Join("testdata", "auth.log"))
	for _, s := range []string{
		"Nov  8 22:00:01 h sshd[1]: a", "Nov  8 22:00:01 h sshd[1]: b", "Nov  8 22:00:01.5 h sshd[1]: fraction",
		"Nov  8 22:00:01.5 h sshd[1]: again", "Nov  8 22:00:01 h sshd[1]: plain", "Nov 8 22:00:01 h sshd[1]: one space",
		"Nov  8 22:00:01x h sshd[1]: bad", "Nov  8 22:00:01", "Nov  8 22:00:01 ", "Nov  8 22:00:01 h sshd[1]: ok",
		"Feb 29 10:00:00 h x: leap", "Feb 29 10:00:00 h x: leap again", "Dec 31 23:59:59 h x: year end",
		"Dec 31 23:59:59 h x: year end again", "2025-11-08T22:00:01Z h x: dated", "Nov  8 22:00:01 h x: after dated",
	} {
		lines = append(lines, []byte(s))
	}
	refs := []time.Time{ref, ref.AddDate(0, -11, 0), ref.AddDate(1, 0, 0)}
	run := New(refs[0], loc)
	for k, line := range lines {
		r := refs[k*len(refs)/len(lines)]
		if k > 0 && r != refs[(k-1)*len(refs)/len(lines)] {
			run.SetRef(r)
		}
		var got, want pipeline.Event
		gotErr := run.Parse(line, &got)
		wantErr := New(r, loc).Parse(line, &want)
		if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || !reflect.DeepEqual(got, want) {
			t.Fatalf("line %d %q: after the lines before it %+v (%v), alone %+v (%v)", k, line, got, gotErr, want, wantErr)
		}
	}
}
