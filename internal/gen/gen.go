// Package gen writes realistic synthetic logs, seeded and of any size, for
// benchmarks: an sshd auth.log with noise, an nginx access log, and an
// eve.json with mostly non-alert events.
package gen

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"time"
)

// Start is the first timestamp of every generated log.
var Start = time.Date(2025, 11, 1, 0, 0, 0, 0, time.UTC)

func attacker(r *rand.Rand, n int) string {
	i := r.IntN(n)
	if i%10 == 0 {
		return fmt.Sprintf("2001:db8:%x::%x", i>>16, i&0xffff)
	}
	return fmt.Sprintf("203.%d.%d.%d", 0+(i>>16)&0xff, (i>>8)&0xff, i&0xff)
}

// AuthLog writes n lines of a Debian auth.log in RFC 3164 form, one line
// every 10 ms on average: about 35 % sshd failures from a pool of attackers
// (IPv4 and IPv6), the rest accepted logins, disconnects, cron, sudo and
// systemd-logind noise.
func AuthLog(w io.Writer, n, attackers int, seed uint64) error {
	r := rand.New(rand.NewPCG(seed, 1))
	bw := bufio.NewWriterSize(w, 1<<20)
	t := Start
	users := []string{"root", "admin", "test", "oracle", "ubnt", "pi", "postgres", "git", "user"}
	for i := 0; i < n; i++ {
		t = t.Add(time.Duration(r.IntN(20)) * time.Millisecond)
		stamp := t.Format(time.Stamp)
		pid := 1000 + r.IntN(60000)
		var msg, prog string
		switch k := r.IntN(100); {
		case k < 15:
			prog, msg = "sshd", fmt.Sprintf("Failed password for %s from %s port %d ssh2", users[r.IntN(len(users))], attacker(r, attackers), 1024+r.IntN(60000))
		case k < 25:
			prog, msg = "sshd", fmt.Sprintf("Invalid user %s from %s port %d", users[r.IntN(len(users))], attacker(r, attackers), 1024+r.IntN(60000))
		case k < 30:
			prog, msg = "sshd", fmt.Sprintf("pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=%s  user=root", attacker(r, attackers))
		case k < 35:
			prog, msg = "sshd", fmt.Sprintf("Connection closed by invalid user %s %s port %d [preauth]", users[r.IntN(len(users))], attacker(r, attackers), 1024+r.IntN(60000))
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

// Eve writes n eve.json records of which alertPct percent are alerts
// (priorities 1 to 3) and the rest flow, dns, http, tls and stats records.
func Eve(w io.Writer, n, alertPct, attackers int, seed uint64) error {
	r := rand.New(rand.NewPCG(seed, 2))
	bw := bufio.NewWriterSize(w, 1<<20)
	t := Start
	flow := int64(1 << 50)
	for i := 0; i < n; i++ {
		t = t.Add(time.Duration(r.IntN(2000)) * time.Microsecond)
		flow += int64(r.IntN(1000))
		ts := t.Format("2006-01-02T15:04:05.000000-0700")
		src := fmt.Sprintf("192.0.2.%d", r.IntN(255))
		var err error
		if r.IntN(100) < alertPct {
			prio := 1 + r.IntN(3)
			_, err = fmt.Fprintf(bw, `{"timestamp":"%s","flow_id":%d,"in_iface":"eth0","event_type":"alert","src_ip":"%s","src_port":%d,"dest_ip":"192.0.2.10","dest_port":80,"proto":"TCP","alert":{"action":"allowed","gid":1,"signature_id":%d,"rev":3,"signature":"ET SCAN synthetic signature %d","category":"Attempted Information Leak","severity":%d},"http":{"hostname":"www.example.com","url":"/index.php?id=1","http_user_agent":"sqlmap/1.7","http_method":"GET","protocol":"HTTP/1.1","status":404,"length":153}}`+"\n",
				ts, flow, attacker(r, attackers), 1024+r.IntN(60000), 2000000+prio, prio, prio)
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
