package nginx

import (
	"bytes"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

// want lists the fields a case checks; the zero value of each is checked
// too, so a case states every field it expects set.
type want struct {
	bad       string // bad-line reason; empty for an event
	time      string // RFC 3339
	addr      string
	user      string
	method    string
	path      string
	version   string
	status    int
	bytes     int64
	referer   string
	userAgent string
}

const ua = "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"

var parseCases = []struct {
	name string
	// seen is a line of the same source parsed first (what the parser
	// learns of the layout); empty for none.
	seen string
	line string
	want want
}{
	{
		name: "combined",
		line: `203.0.113.10 - - [08/Nov/2025:22:00:01 +0100] "GET /index.html HTTP/1.1" 200 612 "https://example.org/" "` + ua + `"`,
		want: want{time: "2025-11-08T22:00:01+01:00", addr: "203.0.113.10", method: "GET", path: "/index.html", version: "HTTP/1.1", status: 200, bytes: 612, referer: "https://example.org/", userAgent: ua},
	},
	{
		name: "common",
		line: `203.0.113.10 - - [08/Nov/2025:22:00:01 +0100] "GET / HTTP/1.0" 304 0`,
		want: want{time: "2025-11-08T22:00:01+01:00", addr: "203.0.113.10", method: "GET", path: "/", version: "HTTP/1.0", status: 304},
	},
	{
		name: "common with request time",
		line: `203.0.113.10 - - [08/Nov/2025:22:00:01 +0100] "GET / HTTP/1.0" 200 17 0.004`,
		want: want{time: "2025-11-08T22:00:01+01:00", addr: "203.0.113.10", method: "GET", path: "/", version: "HTTP/1.0", status: 200, bytes: 17},
	},
	{
		name: "combined with forwarded-for and request time",
		line: `203.0.113.10 - - [08/Nov/2025:22:00:01 +0100] "GET / HTTP/1.1" 200 612 "-" "curl/8.5.0" "198.51.100.1, 10.0.0.1" 0.012 upstream=10.0.0.5:8080`,
		want: want{time: "2025-11-08T22:00:01+01:00", addr: "203.0.113.10", method: "GET", path: "/", version: "HTTP/1.1", status: 200, bytes: 612, userAgent: "curl/8.5.0"},
	},
	{
		name: "referer only",
		line: `203.0.113.10 - - [08/Nov/2025:22:00:01 +0100] "GET / HTTP/1.1" 200 612 "https://example.org/"`,
		want: want{time: "2025-11-08T22:00:01+01:00", addr: "203.0.113.10", method: "GET", path: "/", version: "HTTP/1.1", status: 200, bytes: 612, referer: "https://example.org/"},
	},
	{
		name: "apache bytes dash",
		line: `203.0.113.10 - - [08/Nov/2025:22:00:01 +0100] "HEAD / HTTP/1.1" 200 - "-" "-"`,
		want: want{time: "2025-11-08T22:00:01+01:00", addr: "203.0.113.10", method: "HEAD", path: "/", version: "HTTP/1.1", status: 200},
	},
	{
		name: "crlf",
		line: "203.0.113.10 - - [08/Nov/2025:22:00:01 +0100] \"GET / HTTP/1.1\" 200 5 \"-\" \"x\"\r",
		want: want{time: "2025-11-08T22:00:01+01:00", addr: "203.0.113.10", method: "GET", path: "/", version: "HTTP/1.1", status: 200, bytes: 5, userAgent: "x"},
	},
	{
		name: "ipv6",
		line: `2001:db8::1 - - [08/Nov/2025:22:00:01 +0100] "GET / HTTP/2.0" 200 5 "-" "x"`,
		want: want{time: "2025-11-08T22:00:01+01:00", addr: "2001:db8::1", method: "GET", path: "/", version: "HTTP/2.0", status: 200, bytes: 5, userAgent: "x"},
	},
	{
		name: "ipv4-mapped ipv6",
		line: `::ffff:203.0.113.7 - - [08/Nov/2025:22:00:01 +0100] "GET / HTTP/1.1" 200 5 "-" "x"`,
		want: want{time: "2025-11-08T22:00:01+01:00", addr: "203.0.113.7", method: "GET", path: "/", version: "HTTP/1.1", status: 200, bytes: 5, userAgent: "x"},
	},
	{
		name: "ipv6 zone dropped",
		line: `fe80::1%eth0 - - [08/Nov/2025:22:00:01 +0100] "GET / HTTP/1.1" 200 5 "-" "x"`,
		want: want{time: "2025-11-08T22:00:01+01:00", addr: "fe80::1", method: "GET", path: "/", version: "HTTP/1.1", status: 200, bytes: 5, userAgent: "x"},
	},
	{
		name: "remote user",
		line: `203.0.113.10 - alice [08/Nov/2025:22:00:01 +0100] "GET /private/ HTTP/1.1" 401 179 "-" "x"`,
		want: want{time: "2025-11-08T22:00:01+01:00", addr: "203.0.113.10", user: "alice", method: "GET", path: "/private/", version: "HTTP/1.1", status: 401, bytes: 179, userAgent: "x"},
	},
	{
		name: "remote user with spaces and brackets",
		line: `203.0.113.10 - john [doe] smith [08/Nov/2025:22:00:01 +0100] "GET / HTTP/1.1" 401 179 "-" "x"`,
		want: want{time: "2025-11-08T22:00:01+01:00", addr: "203.0.113.10", user: "john [doe] smith", method: "GET", path: "/", version: "HTTP/1.1", status: 401, bytes: 179, userAgent: "x"},
	},
	{
		name: "vhost prefix",
		line: `example.com 81.2.69.143 - - [07/Dec/2016:11:05:07 +0100] "GET /ocelot HTTP/1.1" 200 571 "-" "x"`,
		want: want{time: "2016-12-07T11:05:07+01:00", addr: "81.2.69.143", method: "GET", path: "/ocelot", version: "HTTP/1.1", status: 200, bytes: 571, userAgent: "x"},
	},
	{
		name: "vhost and port prefix",
		line: `example.com:443 2001:db8::5 - - [07/Dec/2016:11:05:07 +0100] "GET / HTTP/1.1" 200 571 "-" "x"`,
		want: want{time: "2016-12-07T11:05:07+01:00", addr: "2001:db8::5", method: "GET", path: "/", version: "HTTP/1.1", status: 200, bytes: 571, userAgent: "x"},
	},
	{
		name: "forwarded-for list takes the last hop",
		line: `10.0.0.2, 10.0.0.1, 85.181.35.98 - - [07/Dec/2016:11:05:07 +0100] "GET / HTTP/1.1" 200 571 "-" "x"`,
		want: want{time: "2016-12-07T11:05:07+01:00", addr: "85.181.35.98", method: "GET", path: "/", version: "HTTP/1.1", status: 200, bytes: 571, userAgent: "x"},
	},
	{
		name: "quoted forwarded-for list before remote_addr",
		line: `"10.5.102.222, 199.96.1.1, 204.246.1.1" 10.2.1.185 - - [22/Jan/2016:13:18:29 +0000] "GET /assets/xxxx?q=100 HTTP/1.1" 200 25507 "-" "Amazon CloudFront"`,
		want: want{time: "2016-01-22T13:18:29Z", addr: "10.2.1.185", method: "GET", path: "/assets/xxxx?q=100", version: "HTTP/1.1", status: 200, bytes: 25507, userAgent: "Amazon CloudFront"},
	},
	{
		name: "absent forwarded-for logged as dash in front",
		line: `- 10.2.1.185 - - [22/Jan/2016:13:18:29 +0000] "GET / HTTP/1.1" 200 1 "-" "x"`,
		want: want{time: "2016-01-22T13:18:29Z", addr: "10.2.1.185", method: "GET", path: "/", version: "HTTP/1.1", status: 200, bytes: 1, userAgent: "x"},
	},
	{
		name: "negative zone",
		line: `192.168.0.1 - - [09/Jun/2020:12:10:39 -0700] "GET / HTTP/1.1" 206 7648063 "-" "x"`,
		want: want{time: "2020-06-09T12:10:39-07:00", addr: "192.168.0.1", method: "GET", path: "/", version: "HTTP/1.1", status: 206, bytes: 7648063, userAgent: "x"},
	},
	{
		name: "half-hour zone",
		line: `192.168.0.1 - - [29/Feb/2024:23:59:59 +0530] "GET / HTTP/1.1" 200 1 "-" "x"`,
		want: want{time: "2024-02-29T23:59:59+05:30", addr: "192.168.0.1", method: "GET", path: "/", version: "HTTP/1.1", status: 200, bytes: 1, userAgent: "x"},
	},

	// Requests that scanners send: the line still counts.
	{
		name: "request dash",
		line: `203.0.113.200 - - [08/Nov/2025:22:01:09 +0100] "-" 400 0 "-" "-"`,
		want: want{time: "2025-11-08T22:01:09+01:00", addr: "203.0.113.200", status: 400},
	},
	{
		name: "request empty",
		line: `203.0.113.200 - - [08/Nov/2025:22:01:09 +0100] "" 400 0 "-" "-"`,
		want: want{time: "2025-11-08T22:01:09+01:00", addr: "203.0.113.200", status: 400},
	},
	{
		name: "request tls handshake",
		line: `203.0.113.200 - - [08/Nov/2025:22:01:09 +0100] "\x16\x03\x01\x00\xEE\x01\x00\x00\xEA\x03\x03" 400 157 "-" "-"`,
		want: want{time: "2025-11-08T22:01:09+01:00", addr: "203.0.113.200", status: 400, bytes: 157},
	},
	{
		name: "request rdp cookie",
		line: `203.0.113.200 - - [08/Nov/2025:22:01:09 +0100] "\x03\x00\x00/*\xE0\x00\x00\x00\x00\x00Cookie: mstshash=Administr" 400 157 "-" "-"`,
		want: want{time: "2025-11-08T22:01:09+01:00", addr: "203.0.113.200", status: 400, bytes: 157},
	},
	{
		name: "request without version",
		line: `203.0.113.202 - - [08/Nov/2025:22:01:11 +0100] "GET /" 400 157 "-" "-"`,
		want: want{time: "2025-11-08T22:01:11+01:00", addr: "203.0.113.202", method: "GET", path: "/", status: 400, bytes: 157},
	},
	{
		name: "request method only",
		line: `203.0.113.202 - - [08/Nov/2025:22:01:11 +0100] "HELP" 400 157 "-" "-"`,
		want: want{time: "2025-11-08T22:01:11+01:00", addr: "203.0.113.202", method: "HELP", status: 400, bytes: 157},
	},
	{
		name: "request lowercase word",
		line: `203.0.113.202 - - [08/Nov/2025:22:01:11 +0100] "batman" 400 157 "-" "-"`,
		want: want{time: "2025-11-08T22:01:11+01:00", addr: "203.0.113.202", status: 400, bytes: 157},
	},
	{
		name: "request with space in target",
		line: `203.0.113.202 - - [08/Nov/2025:22:01:11 +0100] "GET /a b HTTP/1.1" 400 157 "-" "-"`,
		want: want{time: "2025-11-08T22:01:11+01:00", addr: "203.0.113.202", method: "GET", path: "/a b", version: "HTTP/1.1", status: 400, bytes: 157},
	},
	{
		name: "connect",
		line: `7.8.9.10 - root [20/Jan/2015:01:17:07 +0100] "CONNECT 123.123.123.123:443 HTTP/1.1" 400 162 "-" "-" "-"`,
		want: want{time: "2015-01-20T01:17:07+01:00", addr: "7.8.9.10", user: "root", method: "CONNECT", path: "123.123.123.123:443", version: "HTTP/1.1", status: 400, bytes: 162},
	},

	// Escapes and injection: the client writes every quoted field.
	{
		name: "nginx escaped quote in path stays raw",
		line: `203.0.113.9 - - [08/Nov/2025:22:00:01 +0100] "GET /a\x22b HTTP/1.1" 404 1 "-" "x"`,
		want: want{time: "2025-11-08T22:00:01+01:00", addr: "203.0.113.9", method: "GET", path: `/a\x22b`, version: "HTTP/1.1", status: 404, bytes: 1, userAgent: "x"},
	},
	{
		name: "apache escaped quote in path",
		line: `203.0.113.9 - - [08/Nov/2025:22:00:01 +0100] "GET /a\"b HTTP/1.1" 404 1 "-" "x"`,
		want: want{time: "2025-11-08T22:00:01+01:00", addr: "203.0.113.9", method: "GET", path: `/a\"b`, version: "HTTP/1.1", status: 404, bytes: 1, userAgent: "x"},
	},
	{
		name: "injected user agent cannot shift the status",
		line: `203.0.113.9 - - [08/Nov/2025:22:00:01 +0100] "POST /wp-login.php HTTP/1.1" 403 10 "-" "Mozilla\" 200 123 \"x"`,
		want: want{time: "2025-11-08T22:00:01+01:00", addr: "203.0.113.9", method: "POST", path: "/wp-login.php", version: "HTTP/1.1", status: 403, bytes: 10, userAgent: `Mozilla\" 200 123 \"x`},
	},
	{
		name: "injected request cannot shift the status",
		line: `203.0.113.9 - - [08/Nov/2025:22:00:01 +0100] "GET /x HTTP/1.1\" 200 123 \"-\" \"ok" 404 10 "-" "x"`,
		want: want{time: "2025-11-08T22:00:01+01:00", addr: "203.0.113.9", method: "GET", path: `/x HTTP/1.1\" 200 123 \"-\" \"ok`, status: 404, bytes: 10, userAgent: "x"},
	},
	{
		name: "injected referer cannot become the user agent",
		line: `203.0.113.9 - - [08/Nov/2025:22:00:01 +0100] "GET / HTTP/1.1" 404 10 "a\" \"Googlebot" "sqlmap/1.7"`,
		want: want{time: "2025-11-08T22:00:01+01:00", addr: "203.0.113.9", method: "GET", path: "/", version: "HTTP/1.1", status: 404, bytes: 10, referer: `a\" \"Googlebot`, userAgent: "sqlmap/1.7"},
	},
	{
		name: "escaped backslash closes the field",
		line: `203.0.113.9 - - [08/Nov/2025:22:00:01 +0100] "GET / HTTP/1.1" 404 10 "-" "x\\" "extra"`,
		want: want{time: "2025-11-08T22:00:01+01:00", addr: "203.0.113.9", method: "GET", path: "/", version: "HTTP/1.1", status: 404, bytes: 10, userAgent: `x\\`},
	},
	{
		name: "json escapes",
		line: `203.0.113.9 - - [08/Nov/2025:22:00:01 +0100] "GET / HTTP/1.1" 404 10 "-" "a\"b\\c\u0001"`,
		want: want{time: "2025-11-08T22:00:01+01:00", addr: "203.0.113.9", method: "GET", path: "/", version: "HTTP/1.1", status: 404, bytes: 10, userAgent: `a\"b\\c\u0001`},
	},
	{
		// The line reads as well as combined with the user `1.2.3.4 - x`
		// as with the forwarded-for `203.0.113.9 -` before $remote_addr
		// 1.2.3.4: neither address is taken (a log_format reads it).
		name: "remote user cannot move the address",
		line: `203.0.113.9 - 1.2.3.4 - x [08/Nov/2025:22:00:01 +0100] "GET / HTTP/1.1" 401 10 "-" "x"`,
		want: want{time: "2025-11-08T22:00:01+01:00", addr: "203.0.113.9", user: "1.2.3.4 - x", method: "GET", path: "/", version: "HTTP/1.1", status: 401, bytes: 10, userAgent: "x"},
	},
	{
		name: "remote user cannot move the address of a layout with a forwarded-for field",
		seen: `- 192.0.2.10 - - [08/Nov/2025:22:00:00 +0100] "GET / HTTP/1.1" 200 10 "-" "x"`,
		line: `- 203.0.113.9 - 1.2.3.4 - x [08/Nov/2025:22:00:01 +0100] "GET / HTTP/1.1" 401 10 "-" "x"`,
		want: want{bad: "ambiguous address"},
	},
	{
		name: "forwarded-for cannot name the address",
		seen: `- 192.0.2.10 - - [08/Nov/2025:22:00:00 +0100] "GET / HTTP/1.1" 200 10 "-" "x"`,
		line: `198.51.100.77 - 203.0.113.9 - - [08/Nov/2025:22:00:01 +0100] "POST /wp-login.php HTTP/1.1" 200 10 "-" "x"`,
		want: want{bad: "ambiguous address"},
	},
	{
		name: "forwarded-for list with a forged dash cannot name the address",
		seen: `192.0.2.11, 192.0.2.12 192.0.2.10 - - [08/Nov/2025:22:00:00 +0100] "GET / HTTP/1.1" 200 10 "-" "x"`,
		line: `198.51.100.77 - -, 203.0.113.9 - - [08/Nov/2025:22:00:01 +0100] "POST /wp-login.php HTTP/1.1" 200 10 "-" "x"`,
		want: want{bad: "ambiguous address"},
	},
	{
		name: "no status: the client went away (Traefik's common log format)",
		line: `172.17.1.9 - - [28/Sep/2025:13:38:04 +0000] "GET /cgi-bin/test.cgi HTTP/1.1" - - "-" "Mozilla/5.00 (Nikto/2.1.6)" 4512 "-" "-"`,
		want: want{time: "2025-09-28T13:38:04Z", addr: "172.17.1.9", method: "GET", path: "/cgi-bin/test.cgi", version: "HTTP/1.1", userAgent: "Mozilla/5.00 (Nikto/2.1.6)"},
	},
	{
		name: "forwarded-for with a dash but no address before it is harmless",
		line: `-, 203.0.113.9 - - [08/Nov/2025:22:00:01 +0100] "POST /wp-login.php HTTP/1.1" 200 10 "-" "x"`,
		want: want{time: "2025-11-08T22:00:01+01:00", addr: "203.0.113.9", method: "POST", path: "/wp-login.php", version: "HTTP/1.1", status: 200, bytes: 10, userAgent: "x"},
	},
	{
		name: "remote user cannot move the time",
		line: `203.0.113.9 - x [01/Jan/2020:00:00:00 +0000] [08/Nov/2025:22:00:01 +0100] "GET / HTTP/1.1" 401 10 "-" "x"`,
		want: want{time: "2025-11-08T22:00:01+01:00", addr: "203.0.113.9", user: "x [01/Jan/2020:00:00:00 +0000]", method: "GET", path: "/", version: "HTTP/1.1", status: 401, bytes: 10, userAgent: "x"},
	},
	{
		name: "quoted forwarded-for cannot move the time",
		line: `"[01/Jan/2020:00:00:00 +0000] " 10.2.1.185 - - [08/Nov/2025:22:00:01 +0100] "GET / HTTP/1.1" 200 1 "-" "x"`,
		want: want{time: "2025-11-08T22:00:01+01:00", addr: "10.2.1.185", method: "GET", path: "/", version: "HTTP/1.1", status: 200, bytes: 1, userAgent: "x"},
	},

	// Bad lines.
	{name: "empty", line: "", want: want{bad: "empty line"}},
	{name: "only cr", line: "\r", want: want{bad: "empty line"}},
	{name: "garbage", line: "hello world", want: want{bad: "bad timestamp"}},
	{name: "bad month", line: `203.0.113.9 - - [08/Foo/2025:22:00:01 +0100] "GET / HTTP/1.1" 200 1`, want: want{bad: "bad timestamp"}},
	{name: "31 february", line: `203.0.113.9 - - [31/Feb/2025:22:00:01 +0100] "GET / HTTP/1.1" 200 1`, want: want{bad: "bad timestamp"}},
	{name: "year 1 is the zero time", line: `0.0.0.0 - - [01/Jan/0001:00:00:00 +0000] "" 000 0`, want: want{bad: "bad timestamp"}},
	{name: "hour 24", line: `203.0.113.9 - - [08/Nov/2025:24:00:01 +0100] "GET / HTTP/1.1" 200 1`, want: want{bad: "bad timestamp"}},
	{name: "no zone", line: `192.0.2.12 - user1 [27/Jun/2013:11:55:44] "GET /knocking/ HTTP/1.1" 200 266 "-" "x"`, want: want{bad: "bad timestamp"}},
	{name: "zone without sign", line: `203.0.113.9 - - [08/Nov/2025:22:00:01 0100] "GET / HTTP/1.1" 200 1`, want: want{bad: "bad timestamp"}},
	{name: "request not quoted", line: `203.0.113.9 - - [08/Nov/2025:22:00:01 +0100] GET / HTTP/1.1 200 1`, want: want{bad: "bad timestamp"}},
	{name: "hostname client", line: `localhost - - [08/Nov/2025:22:00:01 +0100] "GET / HTTP/1.1" 200 1 "-" "x"`, want: want{bad: "bad address"}},
	{name: "unix socket client", line: `unix: - - [26/Feb/2019:15:39:42 +0100] "hello" 400 173 "-" "-"`, want: want{bad: "bad address"}},
	{name: "address with port", line: `203.0.113.9:5555 - - [08/Nov/2025:22:00:01 +0100] "GET / HTTP/1.1" 200 1`, want: want{bad: "bad address"}},
	{name: "no ident", line: `203.0.113.9 [08/Nov/2025:22:00:01 +0100] "GET / HTTP/1.1" 200 1`, want: want{bad: "bad address"}},
	{name: "request unterminated", line: `203.0.113.9 - - [08/Nov/2025:22:00:01 +0100] "GET / HTTP/1.1 200 1`, want: want{bad: "bad request"}},
	{name: "request escaped to the end", line: `203.0.113.9 - - [08/Nov/2025:22:00:01 +0100] "GET / HTTP/1.1\" 200 1`, want: want{bad: "bad request"}},
	{name: "status missing", line: `203.0.113.9 - - [08/Nov/2025:22:00:01 +0100] "GET / HTTP/1.1"`, want: want{bad: "bad status"}},
	{name: "status four digits", line: `203.0.113.9 - - [08/Nov/2025:22:00:01 +0100] "GET / HTTP/1.1" 2000 1`, want: want{bad: "bad status"}},
	{name: "status letters", line: `203.0.113.9 - - [08/Nov/2025:22:00:01 +0100] "GET / HTTP/1.1" abc 1`, want: want{bad: "bad status"}},
	{name: "status glued to request", line: `203.0.113.9 - - [08/Nov/2025:22:00:01 +0100] "GET / HTTP/1.1"200 1`, want: want{bad: "bad status"}},
	{name: "bytes missing", line: `203.0.113.9 - - [08/Nov/2025:22:00:01 +0100] "GET / HTTP/1.1" 200`, want: want{bad: "bad bytes"}},
	{name: "bytes letters", line: `203.0.113.9 - - [08/Nov/2025:22:00:01 +0100] "GET / HTTP/1.1" 200 12a "-" "x"`, want: want{bad: "bad bytes"}},
	{name: "bytes overflow", line: `203.0.113.9 - - [08/Nov/2025:22:00:01 +0100] "GET / HTTP/1.1" 200 99999999999999999999 "-" "x"`, want: want{bad: "bad bytes"}},
	{name: "referer unterminated", line: `203.0.113.9 - - [08/Nov/2025:22:00:01 +0100] "GET / HTTP/1.1" 200 1 "http://x`, want: want{bad: "unterminated quote"}},
	{name: "user agent truncated", line: `203.0.113.9 - - [08/Nov/2025:22:00:01 +0100] "GET / HTTP/1.1" 200 1 "-" "Mozilla/5.0 (Win`, want: want{bad: "unterminated quote"}},
}

func TestParse(t *testing.T) {
	for _, tc := range parseCases {
		t.Run(tc.name, func(t *testing.T) {
			var ev pipeline.Event
			p := New()
			if tc.seen != "" {
				if err := p.Parse([]byte(tc.seen), &ev); err != nil {
					t.Fatalf("the line seen first: %v", err)
				}
				ev = pipeline.Event{}
			}
			err := p.Parse([]byte(tc.line), &ev)
			if tc.want.bad != "" {
				var bl *pipeline.BadLine
				if !errors.As(err, &bl) || bl.Reason != tc.want.bad {
					t.Fatalf("err = %v, want bad line %q", err, tc.want.bad)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			got := want{
				time:      ev.Time.Format(time.RFC3339),
				addr:      ev.Addr.String(),
				user:      ev.User,
				method:    ev.Method,
				path:      ev.Path,
				version:   ev.HTTPVersion,
				status:    ev.Status,
				bytes:     ev.Bytes,
				referer:   ev.Referer,
				userAgent: ev.UserAgent,
			}
			if got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
			if ev.Format != pipeline.FormatNginx || ev.Program != "nginx" {
				t.Errorf("format %v program %q", ev.Format, ev.Program)
			}
			if wantLine := trimCR(tc.line); ev.Line != wantLine || ev.Message != wantLine {
				t.Errorf("line %q message %q, want %q", ev.Line, ev.Message, wantLine)
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

// TestZoneReuse checks that the cached zone follows the offset of each line.
func TestZoneReuse(t *testing.T) {
	p := New()
	for _, tc := range []struct{ zone, want string }{
		{"+0100", "+01:00"}, {"+0530", "+05:30"}, {"+0530", "+05:30"}, {"+0000", "Z"}, {"-0700", "-07:00"}, {"+0100", "+01:00"},
	} {
		var ev pipeline.Event
		line := `203.0.113.9 - - [08/Nov/2025:22:00:01 ` + tc.zone + `] "GET / HTTP/1.1" 200 1`
		if err := p.Parse([]byte(line), &ev); err != nil {
			t.Fatal(err)
		}
		if got := ev.Time.Format(time.RFC3339); got != "2025-11-08T22:00:01"+tc.want {
			t.Errorf("%s: got %s", tc.zone, got)
		}
	}
}

func TestSniff(t *testing.T) {
	for _, tc := range []struct {
		name string
		line string
		want bool
	}{
		{"combined", `203.0.113.10 - - [08/Nov/2025:22:00:01 +0100] "GET / HTTP/1.1" 200 612 "-" "x"`, true},
		{"common", `203.0.113.10 - - [08/Nov/2025:22:00:01 +0100] "GET / HTTP/1.1" 200 612`, true},
		{"ipv6", `2001:db8::1 - - [08/Nov/2025:22:00:01 +0100] "GET / HTTP/1.1" 200 612`, true},
		{"vhost", `example.com:80 81.2.69.143 - - [07/Dec/2016:11:05:07 +0100] "GET /ocelot HTTP/1.1" 200 571 "-" "x"`, true},
		{"forwarded list", `10.0.0.2, 10.0.0.1, 85.181.35.98 - - [07/Dec/2016:11:05:07 +0100] "GET / HTTP/1.1" 200 571 "-" "x"`, true},
		{"quoted forwarded list", `"10.5.102.222, 199.96.1.1" 10.2.1.185 - - [22/Jan/2016:13:18:29 +0000] "GET / HTTP/1.1" 200 1 "-" "x"`, true},
		{"scanner request", `203.0.113.200 - - [08/Nov/2025:22:01:09 +0100] "\x16\x03\x01" 400 157 "-" "-"`, true},
		{"empty", ``, false},
		{"syslog carrying an access line", `Nov  8 22:00:01 web nginx: 203.0.113.10 - - [08/Nov/2025:22:00:01 +0100] "GET / HTTP/1.1" 200 612 "-" "x"`, false},
		{"rfc5424 carrying an access line", `<190>1 2025-11-08T22:00:01+01:00 web nginx - - - 203.0.113.10 - - [08/Nov/2025:22:00:01 +0100] "GET / HTTP/1.1" 200 612 "-" "x"`, false},
		{"iso syslog carrying an access line", `2025-11-08T22:00:01.123+01:00 web nginx: 203.0.113.10 - - [08/Nov/2025:22:00:01 +0100] "GET / HTTP/1.1" 200 612 "-" "x"`, false},
		{"syslog sshd", `Nov  8 22:00:01 host sshd[1234]: Failed password for root from 198.51.100.9 port 22 ssh2`, false},
		{"fast.log", `11/08/2025-22:00:01.123456  [**] [1:2010935:3] ET SCAN Suspicious inbound to MSSQL port 1433 [**] [Classification: Potentially Bad Traffic] [Priority: 2] {TCP} 198.51.100.9:4711 -> 192.0.2.1:1433`, false},
		{"eve.json", `{"timestamp":"2025-11-08T22:00:01.123456+0100","event_type":"http","src_ip":"198.51.100.9","http":{"hostname":"x","url":"/ - - [08/Nov/2025:22:00:01 +0100] \"GET"}}`, false},
		{"fail2ban", `2025-11-08 22:00:01,123 fail2ban.actions        [1234]: NOTICE  [sshd] Ban 198.51.100.9`, false},
		{"nginx error log", `2015/01/21 10:56:10 [error] 2833#0: *16336 open() "/var/www/x" failed (2: No such file or directory), client: 5.7.9.2, server: localhost, request: "GET /x HTTP/1.1", host: "1.2.3.4"`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Sniff([]byte(tc.line)); got != tc.want {
				t.Errorf("Sniff = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestPlainHead: the head of `A.B.C.D - - [time] "` read by position is
// what the general reading (findTime, splitPrefix) makes of it, and every
// other head is left to the general reading: addresses netip refuses
// (leading zeros, fields over 255, five fields), a remote user, a prefix,
// a bad time.
func TestPlainHead(t *testing.T) {
	const tail = ` "GET / HTTP/1.1" 200 1 "-" "ua"`
	plain := []string{"0.0.0.0", "1.2.3.4", "255.255.255.255", "198.51.100.187", "10.0.0.1", "100.200.250.9"}
	other := []string{"01.2.3.4", "1.2.3.256", "1.2.3.4.5", "1.2.3", "1..3.4", "1.2.3.4a", "1.2.3.0004", "256.1.1.1",
		"::1", "2001:db8::1", "host 1.2.3.4", "1.2.3.4 x", ""}
	read := 0
	for _, a := range append(plain, other...) {
		for _, head := range []string{a + " - - [08/Nov/2025:22:00:04 +0100]", a + " - bob [08/Nov/2025:22:00:04 +0100]",
			a + " - - [08/Nov/2025:22:00:61 +0100]", a + " - - [08/Nov/2025:22:00:04 +0100]x"} {
			line := []byte(head + tail)
			p, q := New(), New()
			br, tm, addr, ok := p.plainHead(line)
			wbr, wt, waddr, wuser, werr := q.anyHead(line)
			if !ok {
				if slices.Contains(plain, a) && strings.HasSuffix(head, " - - [08/Nov/2025:22:00:04 +0100]") {
					t.Errorf("%q: not read by position", line)
				}
				continue
			}
			read++
			if !slices.Contains(plain, a) || werr != nil || br != wbr || !tm.Equal(wt) || tm.Location().String() != wt.Location().String() ||
				addr != waddr || string(line[br-2:br-1]) != string(wuser) || p.Learnt() != q.Learnt() || p.Guessed() != q.Guessed() {
				t.Errorf("%q: by position %d %v %v, general %d %v %v %q %v", line, br, tm, addr, wbr, wt, waddr, wuser, werr)
			}
		}
	}
	if read != len(plain) {
		t.Errorf("%d heads read by position, want %d", read, len(plain))
	}
}

// TestTimeMemo: a parser that remembers the last time it read gives
// each line the time a new parser gives it, across zones and back.
func TestTimeMemo(t *testing.T) {
	p := New()
	for _, ts := range []string{"08/Nov/2025:22:00:04 +0100", "08/Nov/2025:22:00:04 +0100", "08/Nov/2025:22:00:04 +0000",
		"08/Nov/2025:22:00:04 +0100", "08/Nov/2025:22:00:04 -0530", "08/Nov/2025:22:00:04 -0530", "08/Nov/2025:22:00:05 -0530",
		"31/Feb/2025:22:00:05 -0530", "31/Feb/2025:22:00:05 -0530", "08/Nov/2025:22:00:05 -0530"} {
		got, gok := p.parseTime([]byte(ts))
		want, wok := New().parseTime([]byte(ts))
		if gok != wok || !got.Equal(want) || got.Location().String() != want.Location().String() || got.Format(time.RFC3339) != want.Format(time.RFC3339) {
			t.Errorf("%s: %v %v, want %v %v", ts, got, gok, want, wok)
		}
	}
}

// TestSplitRequestFastPath: the ` HTTP/x.y` shortcut splits as the search
// for the last space does, whatever bytes stand around it.
func TestSplitRequestFastPath(t *testing.T) {
	slow := func(req []byte) (string, string, string) {
		m, rest := "", req
		if i := bytes.IndexByte(req, ' '); i >= 0 {
			m, rest = string(req[:i]), req[i+1:]
		}
		if sp := bytes.LastIndexByte(rest, ' '); sp >= 0 {
			if v := rest[sp+1:]; len(v) > 5 && string(v[:5]) == "HTTP/" {
				return m, string(rest[:sp]), string(v)
			}
		}
		return m, string(rest), ""
	}
	for _, req := range []string{
		"GET / HTTP/1.1", "GET /a b HTTP/1.0", "GET / HTTP/1. ", "GET / HTTP/ .1",
		"GET /HTTP/1.1", "GET  HTTP/1.1", "GET / HTTP/2.0", "GET / HTTP/2", "GET / HTTP/1.1 x",
		"GET / xHTTP/1.1", "GET / HTTP/1x1", "GET /x HTTP/1.1 HTTP/1.1", "POST HTTP/1.1",
	} {
		m, p, v := splitRequest([]byte(req))
		wm, wp, wv := slow([]byte(req))
		if m != wm || p != wp || v != wv {
			t.Errorf("%q: got %q %q %q, want %q %q %q", req, m, p, v, wm, wp, wv)
		}
	}
}

// FuzzDottedQuad: what dottedQuad reads is what netip reads of the same
// token, and what it refuses is left to the general path.
func FuzzDottedQuad(f *testing.F) {
	for _, s := range []string{"1.2.3.4 - - [", "255.255.255.255 ", "01.2.3.4 - - [x", "256.1.1.1 - - [xx", "1.2.3.4.5 - - [", "0.0.0.0 - - [  xx"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, n, ok := dottedQuad(b)
		if !ok {
			return
		}
		want, err := netip.ParseAddr(string(b[:n]))
		if err != nil || !want.Is4() || want.As4() != a {
			t.Fatalf("%q: read %v (%d bytes), netip: %v %v", b, a, n, want, err)
		}
	})
}
