// Package gen writes realistic synthetic logs, seeded and of any size, for
// benchmarks: an sshd auth.log with noise, an nginx access log, an eve.json
// with mostly non-alert records and a Suricata fast.log. The same Spec gives
// the same bytes on every machine.
package gen

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"time"
)

// Start is the first timestamp of every generated log.
var Start = time.Date(2025, 11, 1, 0, 0, 0, 0, time.UTC)

// Spec says what to write.
type Spec struct {
	Lines     int    // lines to write
	Attackers int    // distinct attacking addresses (default 20,000; 2,000 for access logs)
	Seed      uint64 // same seed, same bytes
	// Span is the stretch of time the lines cover, from Start (default:
	// the format's typical rate on a busy server, see each generator).
	// Logs replayed together should share it, as one host's logs do.
	Span time.Duration
	// AlertPercent is the share of eve.json records that are alerts
	// (default 10); the rest are flow, dns, http, tls and stats records.
	AlertPercent int
}

func (s Spec) attackers(def int) int {
	if s.Attackers <= 0 {
		return def
	}
	return s.Attackers
}

// clock steps through Span in random increments averaging Span/Lines.
type clock struct {
	t    time.Time
	step int64 // the largest increment, in ns (twice the mean)
}

func newClock(s Spec, perLine time.Duration) clock {
	span := s.Span
	if span <= 0 {
		span = time.Duration(s.Lines) * perLine
	}
	return clock{t: Start, step: max(1, 2*int64(span)/int64(max(1, s.Lines)))}
}

func (c *clock) next(r *rand.Rand) time.Time {
	c.t = c.t.Add(time.Duration(r.Int64N(c.step)))
	return c.t
}

// attacker returns one of n attacking addresses: IPv4 in 203.0.0.0/8 (not
// the documentation /24: the pool may hold millions), one in ten IPv6.
func attacker(r *rand.Rand, n int) string { return Addr(r.IntN(n)) }

// Addr is the i-th attacking address of every generator.
func Addr(i int) string {
	if i%10 == 0 {
		return "2001:db8:" + strconv.FormatInt(int64(i>>16), 16) + "::" + strconv.FormatInt(int64(i&0xffff), 16)
	}
	return "203." + strconv.Itoa((i>>16)&0xff) + "." + strconv.Itoa((i>>8)&0xff) + "." + strconv.Itoa(i&0xff)
}

var users = []string{"root", "admin", "test", "oracle", "ubnt", "pi", "postgres", "git", "user"}

// AuthLog writes a Debian auth.log in RFC 3164 form (default span: 10 ms a
// line): about 35 % sshd failures from the attackers (IPv4 and IPv6), the
// rest accepted logins, disconnects, cron, sudo and systemd-logind noise.
func AuthLog(w io.Writer, s Spec) error {
	r := rand.New(rand.NewPCG(s.Seed, 1))
	bw := bufio.NewWriterSize(w, 1<<20)
	c := newClock(s, 10*time.Millisecond)
	n := s.attackers(20000)
	for i := 0; i < s.Lines; i++ {
		stamp := c.next(r).Format(time.Stamp)
		pid := 1000 + r.IntN(60000)
		var msg, prog string
		switch k := r.IntN(100); {
		case k < 15:
			prog, msg = "sshd", fmt.Sprintf("Failed password for %s from %s port %d ssh2", users[r.IntN(len(users))], attacker(r, n), 1024+r.IntN(60000))
		case k < 25:
			prog, msg = "sshd", fmt.Sprintf("Invalid user %s from %s port %d", users[r.IntN(len(users))], attacker(r, n), 1024+r.IntN(60000))
		case k < 30:
			prog, msg = "sshd", fmt.Sprintf("pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=%s  user=root", attacker(r, n))
		case k < 35:
			prog, msg = "sshd", fmt.Sprintf("Connection closed by invalid user %s %s port %d [preauth]", users[r.IntN(len(users))], attacker(r, n), 1024+r.IntN(60000))
		case k < 45:
			prog, msg = "sshd", fmt.Sprintf("Received disconnect from 192.0.2.%d port %d:11: disconnected by user", r.IntN(255), 1024+r.IntN(60000))
		case k < 50:
			prog, msg = "sshd", fmt.Sprintf("Accepted publickey for deploy from 192.0.2.%d port %d ssh2: ED25519 SHA256:q1w2e3r4t5y6u7i8o9p0", r.IntN(255), 1024+r.IntN(60000))
		case k < 60:
			prog, msg = "sshd", "pam_unix(sshd:session): session closed for user deploy"
		case k < 80:
			prog, msg = "CRON", "pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)"
		case k < 90:
			prog, msg = "sudo", "deploy : TTY=pts/0 ; PWD=/home/deploy ; USER=root ; COMMAND=/usr/bin/systemctl restart nginx"
		default:
			prog, msg = "systemd-logind", fmt.Sprintf("New session %d of user deploy.", r.IntN(100000))
		}
		if _, err := fmt.Fprintf(bw, "%s web1 %s[%d]: %s\n", stamp, prog, pid, msg); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// AuthFlood writes failures from addrs distinct addresses, perAddr each
// (below sshd's threshold of 5, so none is banned and every one is still
// tracked at the end), in perAddr passes over the addresses within five
// minutes: what holding a million attackers' windows at once costs.
func AuthFlood(w io.Writer, addrs, perAddr int) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	total := addrs * perAddr
	step := 5 * time.Minute / time.Duration(max(1, total))
	t := Start
	for pass := 0; pass < perAddr; pass++ {
		for i := 0; i < addrs; i++ {
			t = t.Add(step)
			if _, err := fmt.Fprintf(bw, "%s web1 sshd[%d]: Failed password for root from %s port %d ssh2\n",
				t.Format(time.Stamp), 1000+i%60000, Addr(i), 1024+(i+pass)%60000); err != nil {
				return err
			}
		}
	}
	return bw.Flush()
}

// Nginx paths: what visitors ask for, and what scanners probe. The probes
// are those fail2ban's nginx-botsearch filter looks for, and the usual
// others (.env, .git) that it does not.
var (
	pages = []string{"/", "/index.html", "/blog/2025/11/hello-world", "/css/site.css", "/js/app.js",
		"/img/logo.png", "/favicon.ico", "/about", "/feed.xml", "/search?q=stockade"}
	probes = []string{"/phpmyadmin/index.php", "/pma/", "/wp-login.php", "/wp-admin.php", "/cgi-bin/test.cgi",
		"/mysqladmin/", "/roundcube/", "/webmail/", "/.env", "/.git/config", "/admin/config.php", "/xampp/phpmyadmin/"}
	agents = []string{
		"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
		"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
	}
)

// Nginx writes an nginx access log in the combined format (default span:
// 2 ms a line): 80 % visitors (pages and assets, 200 and 304), 14 %
// scanners probing for missing pages (404), 5 % WordPress password
// guesses (POST /wp-login.php answered 200), 1 % successful logins (302).
// Scanners are fewer than ssh attackers and busier: 2,000 by default.
func Nginx(w io.Writer, s Spec) error {
	r := rand.New(rand.NewPCG(s.Seed, 3))
	bw := bufio.NewWriterSize(w, 1<<20)
	c := newClock(s, 2*time.Millisecond)
	n := s.attackers(2000)
	for i := 0; i < s.Lines; i++ {
		stamp := c.next(r).Format("02/Jan/2006:15:04:05 -0700")
		var err error
		switch k := r.IntN(100); {
		case k < 80:
			status, size := 200, 512+r.IntN(40000)
			if r.IntN(5) == 0 {
				status, size = 304, 0
			}
			_, err = fmt.Fprintf(bw, "198.51.100.%d - - [%s] \"GET %s HTTP/1.1\" %d %d \"https://www.example.com/\" \"%s\"\n",
				r.IntN(255), stamp, pages[r.IntN(len(pages))], status, size, agents[r.IntN(len(agents))])
		case k < 94:
			_, err = fmt.Fprintf(bw, "%s - - [%s] \"GET %s HTTP/1.1\" 404 153 \"-\" \"Mozilla/5.0 zgrab/0.x\"\n",
				attacker(r, n), stamp, probes[r.IntN(len(probes))])
		case k < 99:
			_, err = fmt.Fprintf(bw, "%s - - [%s] \"POST /wp-login.php HTTP/1.1\" 200 4521 \"-\" \"%s\"\n",
				attacker(r, n), stamp, agents[r.IntN(len(agents))])
		default:
			_, err = fmt.Fprintf(bw, "198.51.100.%d - editor [%s] \"POST /wp-login.php HTTP/1.1\" 302 0 \"https://www.example.com/wp-login.php\" \"%s\"\n",
				r.IntN(255), stamp, agents[0])
		}
		if err != nil {
			return err
		}
	}
	return bw.Flush()
}

var signatures = []struct {
	gid, sid, rev, prio int
	msg, class          string
}{
	{1, 2024897, 3, 1, "ET EXPLOIT Apache HTTP Server Path Traversal (CVE-2021-41773)", "Attempted Administrator Privilege Gain"},
	{1, 2001219, 20, 2, "ET SCAN Potential SSH Scan", "Attempted Information Leak"},
	{1, 2010935, 3, 2, "ET SCAN Suspicious inbound to MSSQL port 1433", "Potentially Bad Traffic"},
	{1, 2402000, 7, 2, "ET DROP Dshield Block Listed Source", "Misc Attack"},
	{1, 2100498, 7, 3, "GPL ATTACK_RESPONSE id check returned root", "Potentially Bad Traffic"},
	{1, 2210045, 2, 3, "SURICATA STREAM Packet with invalid ack", "Generic Protocol Command Decode"},
}

// FastLog writes a Suricata fast.log (default span: 20 ms a line), one
// alert a line, priorities 1 (a tenth), 2 (half) and 3, from the attackers.
func FastLog(w io.Writer, s Spec) error {
	r := rand.New(rand.NewPCG(s.Seed, 4))
	bw := bufio.NewWriterSize(w, 1<<20)
	c := newClock(s, 20*time.Millisecond)
	n := s.attackers(20000)
	for i := 0; i < s.Lines; i++ {
		stamp := c.next(r).Format("01/02/2006-15:04:05.000000")
		var sig = signatures[0]
		switch k := r.IntN(10); {
		case k < 1:
		case k < 6:
			sig = signatures[1+r.IntN(3)]
		default:
			sig = signatures[4+r.IntN(2)]
		}
		proto, dport := "TCP", []int{22, 80, 443, 1433}[r.IntN(4)]
		if _, err := fmt.Fprintf(bw, "%s  [**] [%d:%d:%d] %s [**] [Classification: %s] [Priority: %d] {%s} %s:%d -> 192.0.2.10:%d\n",
			stamp, sig.gid, sig.sid, sig.rev, sig.msg, sig.class, sig.prio, proto, suricataAddr(attacker(r, n)), 1024+r.IntN(60000), dport); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// suricataAddr is how Suricata writes an address before its port: IPv6
// in full, eight groups.
func suricataAddr(a string) string {
	if ip, err := netip.ParseAddr(a); err == nil && ip.Is6() {
		return ip.StringExpanded()
	}
	return a
}

// Eve writes eve.json records (default span: 1 ms a record) of which
// AlertPercent are alerts (priorities 1 to 3) from the attackers, and the
// rest flow, dns, http, tls and stats records.
func Eve(w io.Writer, s Spec) error {
	r := rand.New(rand.NewPCG(s.Seed, 2))
	bw := bufio.NewWriterSize(w, 1<<20)
	c := newClock(s, time.Millisecond)
	n := s.attackers(20000)
	alertPct := s.AlertPercent
	if alertPct <= 0 {
		alertPct = 10
	}
	flow := int64(1 << 50)
	for i := 0; i < s.Lines; i++ {
		t := c.next(r)
		flow += int64(r.IntN(1000))
		ts := t.Format("2006-01-02T15:04:05.000000-0700")
		src := fmt.Sprintf("192.0.2.%d", r.IntN(255))
		var err error
		if r.IntN(100) < alertPct {
			prio := 1 + r.IntN(3)
			_, err = fmt.Fprintf(bw, `{"timestamp":"%s","flow_id":%d,"in_iface":"eth0","event_type":"alert","src_ip":"%s","src_port":%d,"dest_ip":"192.0.2.10","dest_port":80,"proto":"TCP","alert":{"action":"allowed","gid":1,"signature_id":%d,"rev":3,"signature":"ET SCAN synthetic signature %d","category":"Attempted Information Leak","severity":%d},"http":{"hostname":"www.example.com","url":"/index.php?id=1","http_user_agent":"sqlmap/1.7","http_method":"GET","protocol":"HTTP/1.1","status":404,"length":153}}`+"\n",
				ts, flow, attacker(r, n), 1024+r.IntN(60000), 2000000+prio, prio, prio)
		} else {
			switch r.IntN(5) {
			case 0:
				_, err = fmt.Fprintf(bw, `{"timestamp":"%s","flow_id":%d,"in_iface":"eth0","event_type":"flow","src_ip":"%s","src_port":%d,"dest_ip":"192.0.2.10","dest_port":443,"proto":"TCP","app_proto":"tls","flow":{"pkts_toserver":12,"pkts_toclient":10,"bytes_toserver":1840,"bytes_toclient":9120,"start":"%s","end":"%s","age":1,"state":"closed","reason":"timeout","alerted":false},"tcp":{"tcp_flags":"1b","tcp_flags_ts":"1b","tcp_flags_tc":"1b","syn":true,"fin":true,"psh":true,"ack":true,"state":"closed"}}`+"\n", ts, flow, src, 1024+r.IntN(60000), ts, ts)
			case 1:
				_, err = fmt.Fprintf(bw, `{"timestamp":"%s","flow_id":%d,"in_iface":"eth0","event_type":"dns","src_ip":"%s","src_port":%d,"dest_ip":"192.0.2.53","dest_port":53,"proto":"UDP","dns":{"type":"query","id":%d,"rrname":"www.example.com","rrtype":"AAAA","tx_id":0}}`+"\n", ts, flow, src, 1024+r.IntN(60000), r.IntN(65536))
			case 2:
				_, err = fmt.Fprintf(bw, `{"timestamp":"%s","flow_id":%d,"in_iface":"eth0","event_type":"http","src_ip":"%s","src_port":%d,"dest_ip":"192.0.2.10","dest_port":80,"proto":"TCP","tx_id":0,"http":{"hostname":"www.example.com","url":"/blog/2025/11/hello-world","http_user_agent":"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0","http_content_type":"text/html","http_method":"GET","protocol":"HTTP/1.1","status":200,"length":5120}}`+"\n", ts, flow, src, 1024+r.IntN(60000))
			case 3:
				_, err = fmt.Fprintf(bw, `{"timestamp":"%s","flow_id":%d,"in_iface":"eth0","event_type":"tls","src_ip":"%s","src_port":%d,"dest_ip":"192.0.2.10","dest_port":443,"proto":"TCP","tls":{"subject":"CN=www.example.com","issuerdn":"C=US, O=Let's Encrypt, CN=R11","serial":"04:A1:B2","fingerprint":"aa:bb:cc:dd","sni":"www.example.com","version":"TLS 1.3","notbefore":"2025-09-01T00:00:00","notafter":"2025-11-30T00:00:00","ja3":{"hash":"e7d705a3286e19ea42f587b344ee6865"}}}`+"\n", ts, flow, src, 1024+r.IntN(60000))
			default:
				_, err = fmt.Fprintf(bw, `{"timestamp":"%s","event_type":"stats","stats":{"uptime":%d,"capture":{"kernel_packets":123456,"kernel_drops":0},"decoder":{"pkts":123456,"bytes":98765432,"ipv4":120000,"ipv6":3456,"ethernet":123456,"tcp":100000,"udp":23000},"flow":{"tcp":5000,"udp":2000,"icmpv4":12,"memuse":7340032},"detect":{"alert":%d}}}`+"\n", ts, i, i/10)
			}
		}
		if err != nil {
			return err
		}
	}
	return bw.Flush()
}
