package rules

import (
	"slices"
	"strings"
	"testing"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/sources/nginx"
)

// TestQuotedAgentReadsAsTheLine: the line's scan with its user agent
// read apart (and from the memo, the second time) finds what the scan
// of the whole line finds: the same literals in every region, the same
// regions hit and marked as holding every literal. The agents hold the
// line's literals (a scanner's name, Log4Shell, Shellshock's brace),
// at their edges and across their quotes, escaped quotes, more finds
// than a slot keeps, text that is not ASCII, and a length past the
// memo's.
func TestQuotedAgentReadsAsTheLine(t *testing.T) {
	s := defaultSet(t)
	if !s.quoteFree {
		t.Fatal("a literal of the line's scan holds a quote: the agent is never read apart, the test shows nothing")
	}
	agents := []string{
		"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
		"Mozilla/5.0 zgrab/0.x",
		"sqlmap/1.8 (https://sqlmap.org)",
		"nikto nmap masscan zgrab nuclei wpscan dirbuster gobuster",
		"zgrab${jndi:ldap://198.51.100.200:1389/a}zgrab",
		"${jndi:ldap://198.51.100.200/a} () { :; }; /bin/cat /etc/passwd",
		`Mozilla/5.0 \"nmap\" \" ${jndi:x} \\`,
		"Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/128.0 ü nmap",
		"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html) " + strings.Repeat("nmap ", 30),
		"{nmap/wp-admin/}",
	}
	requests := []string{"GET / HTTP/1.1", "POST /wp-login.php HTTP/1.1", "GET /cgi-bin/%2e%2e/etc/passwd HTTP/1.1", "CONNECT example.com:443 HTTP/1.1"}
	referers := []string{"-", "https://www.example.com/", "${jndi:ldap://x/}", "nmap"}
	var lines []string
	for _, ua := range agents {
		for i, req := range requests {
			ref := referers[i%len(referers)]
			lines = append(lines,
				`203.0.113.9 - - [01/Nov/2025:00:00:01 +0000] "`+req+`" 404 153 "`+ref+`" "`+ua+`"`,
				`203.0.113.9 - - [01/Nov/2025:00:00:01 +0000] "`+req+`" 404 153 "`+ref+`" "`+ua+`" "nmap" 0.012`,
				`203.0.113.9 - - [01/Nov/2025:00:00:01 +0000] "`+req+`" 404 153 "`+ref+`" "`+ua+`" ü`)
		}
	}
	p := nginx.New()
	split := 0
	for round := range 2 { // the second from the memo
		for _, line := range lines {
			var ev pipeline.Event
			if err := p.Parse([]byte(line), &ev); err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			if _, _, ok := quoted(&ev); ok && round == 0 {
				split++
			}
			s.start(&ev)
			s.read(&ev)
			found, hit, every := slices.Clone(s.found), s.hit, s.every
			s.quoteFree = false
			s.start(&ev)
			s.read(&ev)
			s.quoteFree = true
			if !slices.Equal(found, s.found) || hit != s.hit || every != s.every {
				t.Errorf("round %d: %s\n  read apart: found %x hit %b every %b\n  whole line: found %x hit %b every %b",
					round, line, found, hit, every, s.found, s.hit, s.every)
			}
		}
	}
	if split < len(lines)/2 {
		t.Errorf("only %d of %d lines had their agent read apart", split, len(lines))
	}
}
