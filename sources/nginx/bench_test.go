package nginx

import (
	"testing"

	"github.com/stockade-ids/stockade/pipeline"
)

func BenchmarkParse(b *testing.B) {
	for _, bc := range []struct{ name, line string }{
		{"combined", `198.51.100.23 - - [08/Nov/2025:22:00:04 +0100] "POST /wp-login.php HTTP/1.1" 200 4876 "https://blog.example.org/wp-login.php" "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"`},
		{"common", `198.51.100.23 - - [08/Nov/2025:22:00:04 +0100] "GET /wp-login.php HTTP/1.1" 200 4876`},
		{"ipv6", `2001:db8:85a3::8a2e:370:7334 - - [08/Nov/2025:22:01:02 +0100] "GET /.env HTTP/1.1" 404 153 "-" "Mozilla/5.0 zgrab/0.x"`},
		{"forwarded", `example.com "10.5.102.222, 199.96.1.1, 204.246.1.1" 10.2.1.185 - - [22/Jan/2016:13:18:29 +0530] "GET /assets/xxxx?q=100 HTTP/1.1" 200 25507 "-" "Amazon CloudFront" "-" 0.012`},
		{"caddy", `{"level":"info","ts":1762639201.5123456,"logger":"http.log.access.log0","msg":"handled request","request":{"remote_ip":"203.0.113.110","remote_port":"51234","client_ip":"203.0.113.110","proto":"HTTP/2.0","method":"POST","host":"blog.example.org","uri":"/wp-login.php","headers":{"User-Agent":["Mozilla/5.0 (X11; Linux x86_64)"]}},"bytes_read":42,"user_id":"","duration":0.0123,"size":5423,"status":200}`},
		{"traefik", `{"ClientAddr":"203.0.113.120:51234","ClientHost":"203.0.113.120","ClientUsername":"-","DownstreamContentSize":5423,"DownstreamStatus":200,"RequestMethod":"POST","RequestPath":"/wp-login.php","RequestProtocol":"HTTP/1.1","StartUTC":"2025-11-08T22:00:01.123456789Z","level":"info","msg":"","request_User-Agent":"Mozilla/5.0","time":"2025-11-08T23:00:01+01:00"}`},
		{"bad", `203.0.113.9 - - [08/Nov/2025:22:00:01 +0100] "GET / HTTP/1.1" 200 1 "-" "Mozilla/5.0 (Win`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			line := []byte(bc.line)
			p := New()
			var ev pipeline.Event
			b.ReportAllocs()
			b.SetBytes(int64(len(line)))
			for b.Loop() {
				ev.Reset()
				_ = p.Parse(line, &ev)
			}
		})
	}
}

// BenchmarkParseFile is the mean cost per line of testdata/access.log.
func BenchmarkParseFile(b *testing.B) {
	lines := readLines(b, "testdata/access.log")
	var n int64
	for _, l := range lines {
		n += int64(len(l))
	}
	p := New()
	var ev pipeline.Event
	b.ReportAllocs()
	b.SetBytes(n / int64(len(lines)))
	i := 0
	for b.Loop() {
		ev.Reset()
		_ = p.Parse(lines[i], &ev)
		if i++; i == len(lines) {
			i = 0
		}
	}
}

func BenchmarkSniff(b *testing.B) {
	line := []byte(`198.51.100.23 - - [08/Nov/2025:22:00:04 +0100] "POST /wp-login.php HTTP/1.1" 200 4876 "https://blog.example.org/wp-login.php" "Mozilla/5.0"`)
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		Sniff(line)
	}
}
