package regex

import (
	"strings"
	"testing"
)

// BenchmarkMultiScan: one scan of an ordinary access line for a web
// pack's literals (sensitive files, scanner names, exploit markers): what
// every access line costs before any rule is judged; with the byte
// table (WithTable) and without.
func BenchmarkMultiScan(b *testing.B) {
	lits := strings.Fields(`../ ..%2f %2e%2e select+ union+ <script %3cscript javascript: onerror ${jndi %24%7bjndi ` +
		`sqlmap nikto masscan zgrab nuclei wpscan gobuster ffuf /vendor/phpunit/ eval-stdin.php /cgi-bin/ ` +
		`.env .git .svn/ .htpasswd .aws/ id_rsa web.config phpinfo.php server-status backup.zip db.sql dump.tar ` +
		`wp-config author= /wp-json/wp/v2/users /xmlrpc.php /wp-login.php admin cpanel pma ~ ' connect ://`)
	line := `198.51.100.7 - - [01/Nov/2025:00:00:01 +0000] "GET /blog/2025/11/hello-world?page=2 HTTP/1.1" 200 5120 ` +
		`"https://www.example.com/blog/" "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"`
	for _, bc := range []struct {
		name string
		m    *Multi
	}{{"bits", NewMulti(lits)}, {"table", NewMulti(lits).WithTable()}} {
		b.Run(bc.name, func(b *testing.B) {
			n := 0
			found := func(int32, int, int) { n++ }
			b.ReportAllocs()
			b.SetBytes(int64(len(line)))
			for b.Loop() {
				bc.m.Scan(line, found)
			}
		})
	}
}
