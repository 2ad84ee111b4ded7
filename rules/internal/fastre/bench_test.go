package fastre

import (
	"regexp"
	"strings"
	"testing"
)

// sshdPattern is the first sshd failregex of rules/packs/sshd.yaml with
// its tags translated.
const sshdPattern = `^(?:\[ID \d+ \S+\] )?(?:(?:error|fatal): )?Failed (?:password|publickey|keyboard-interactive(?:/pam)?|hostbased|none|gssapi-with-mic) for (?:invalid user |illegal user )?(?P<user>.*) from (?P<host>(?:(?:\d{1,3}\.){3}\d{1,3}|(?:[0-9A-Fa-f]{0,4}:){2,7}(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]{1,4}|:?)))(?: port \d+)?(?: on \S+)?(?: ssh\d*)?(?:: \S+ \S+(?:, client user "[^"]*", client host "[^"]*")?)?$`

// nginxPattern is an access-log regex in the style of
// fail2ban's nginx filters (xmlrpc / wp-login brute force).
const nginxPattern = `^(?P<host>(?:(?:\d{1,3}\.){3}\d{1,3}|(?:[0-9A-Fa-f]{0,4}:){2,7}(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]{1,4}|:?))) \S+ \S+ \[[^\]]+\] "POST /(?:[^" ]*/)?(?:xmlrpc|wp-login)\.php(?:\?[^" ]*)? HTTP/\d\.\d" 200 `

// The sshd pack's failregexes for the failure lines an attack writes
// most, with their tags translated as the pack loader does.
var (
	sshdClosedPattern = translateTags(`^(?:Connection (?:closed|reset)|Disconnected) (?:by|from) invalid user <F-USER>.*</F-USER> <HOST> port \d+(?: \[preauth\])?$`)
	sshdPAMPattern    = translateTags(`^(?:pam_unix\(sshd:auth\): )?authentication failure; logname=\S* uid=\d* euid=\d* tty=\S* ruser=\S* rhost=<HOST>(?:\s+user=.*|\s*)$`)
	sshdFailedPattern = translateTags(`^(?:\[ID \d+ \S+\] )?(?:(?:error|fatal): )?Failed (?:password|publickey|keyboard-interactive(?:/pam)?|gssapi-with-mic) for (?:invalid user |illegal user )?<F-USER>.*</F-USER> from <HOST>(?: port \d+)?(?: on \S+)?(?: ssh\d*)?(?:: \S+ \S+)?$`)
)

// The fail2ban dialect's shapes, as its translation hands them to
// fastre: \A anchors, Python's \s and \S as Unicode classes, and the
// dialect's <HOST> (an optional ::ffff: prefix, IPv4, IPv6 in brackets or
// not, or a host name).
const (
	dialectHost   = `(?:(?:(?:\[)?(?:(?:(?:(?:\:\:(?:f){4,6}\:))?((?:(?:(?:[\p{Nd}]){1,3}\.)){3}(?:[\p{Nd}]){1,3})|((?:(?:(?:(?:[0-9a-fA-F]){1,4}\:(?:\:)?|\:))){1,7}(?:(?:(?:[0-9a-fA-F]){1,4}|\:)))))(?:\])?|((?:[\p{L}\p{N}_\x{2d}\x{2e}\x{5e}_])*[\p{L}\p{N}_])))`
	pySpace       = `[\t-\r\x{1c}-\x{20}\x{85}\p{Z}]`
	pyNonSpace    = `[^\t-\r\x{1c}-\x{20}\x{85}\p{Z}]`
	dialectPrefix = `\A((?:` + pySpace + `)*(?:(?:` + pyNonSpace + `)+(?:` + pySpace + `)+)?(?:(?:\[(?:[\p{Nd}])+\])?\:(?:` + pySpace + `)+)?(?:[\x{5b}\x{28}])?sshd(?:[\x{5d}\x{29}])?(?:\[(?:[\p{Nd}])+\])?\:(?:` + pySpace + `)+)(?:(?:(?:error|fatal))\:\x{20}(?:(?:PAM\:\x{20}))?)?((?:[^\n])+)(?m:$)`
	dialectFailed = `\AFailed\x{20}(?:(?:(publickey)|(?:` + pyNonSpace + `)+))\x{20}for\x{20}(?:)((?:` + pyNonSpace + `)+)\x{20}from\x{20}` + dialectHost + `(?:(?:\x{20}(?:(?:port\x{20}(?:[\p{Nd}])+|on\x{20}(?:` + pyNonSpace + `)+)))){0,2}(?:(?:\x{20}ssh(?:[\p{Nd}])*))?(?:` + pySpace + `)*(?m:$)`
)

var benchCases = []struct {
	name, pattern, text string
}{
	{"sshd-hit", sshdPattern, "Failed password for invalid user admin from 203.0.113.9 port 4711 ssh2"},
	{"sshd-hit-ipv6", sshdPattern, "Failed publickey for root from 2001:db8::66 port 50022 ssh2: RSA SHA256:q1w2e3r4t5y6u7i8o9p0"},
	{"sshd-miss", sshdPattern, "Accepted publickey for deploy from 192.0.2.80 port 50000 ssh2: ED25519 SHA256:q1w2e3r4t5y6u7i8o9p0"},
	{"sshd-near-miss", sshdPattern, "Failed password for invalid user admin from 203.0.113.9 port 4711 ssh2 [preauth] x"},
	{"sshd-closed-hit", sshdClosedPattern, "Connection closed by invalid user git 203.0.41.237 port 17384 [preauth]"},
	{"sshd-pam-hit", sshdPAMPattern, "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.45.198  user=root"},
	{"sshd-failed-hit", sshdFailedPattern, "Failed password for oracle from 203.0.54.204 port 56776 ssh2"},
	{"dialect-prefix-hit", dialectPrefix, "srv sshd[4711]: Failed password for oracle from 203.0.54.204 port 56776 ssh2"},
	{"dialect-failed-hit", dialectFailed, "Failed password for oracle from 203.0.54.204 port 56776 ssh2"},
	{"nginx-hit", nginxPattern, `203.0.113.20 - - [08/Nov/2025:22:02:00 +0000] "POST /blog/xmlrpc.php HTTP/1.1" 200 1234 "-" "Mozilla/5.0 (compatible)"`},
	{"nginx-miss", nginxPattern, `192.0.2.141 - - [08/Nov/2025:22:00:00 +0000] "GET /css/site.css HTTP/1.1" 200 1234 "-" "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"`},
	{"unanchored-hit", `for monitor from (\S+)`, "Nov  8 22:00:01 web1 app[7]: login failed for monitor from 192.0.2.7"},
	// Exponential for a backtracker: the budget hands the call to regexp,
	// and after enough such calls the pattern is demoted to regexp alone.
	{"pathological-64", `(a+)+$`, strings.Repeat("a", 64) + "b"},
	{"pathological-1024", `(a+)+$`, strings.Repeat("a", 1024) + "b"},
	{"pathological-alt", `^(x|xx)*y`, strings.Repeat("x", 200) + "zy"},
}

// BenchmarkBudget shows what a call that exhausts its budget costs before
// demotion: the fast attempt, cut off after a number of steps linear in
// the text, then regexp.
func BenchmarkBudget(b *testing.B) {
	for _, c := range benchCases {
		if !strings.HasPrefix(c.name, "pathological") {
			continue
		}
		re, err := Compile(c.pattern)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			dst := make([]int, 0, 2*(re.NumSubexp()+1))
			b.ReportAllocs()
			for b.Loop() {
				re.demoted.Store(false)
				dst = re.FindStringSubmatchIndex(c.text, dst[:0])
			}
		})
	}
}

func BenchmarkFindStringSubmatchIndex(b *testing.B) {
	for _, c := range benchCases {
		std := regexp.MustCompile(c.pattern)
		re, err := Compile(c.pattern)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name+"/regexp", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				std.FindStringSubmatchIndex(c.text)
			}
		})
		b.Run(c.name+"/fastre", func(b *testing.B) {
			dst := make([]int, 0, 2*(re.NumSubexp()+1))
			b.ReportAllocs()
			for b.Loop() {
				dst = re.FindStringSubmatchIndex(c.text, dst[:0])
			}
		})
	}
}

func BenchmarkMatchString(b *testing.B) {
	for _, c := range benchCases {
		std := regexp.MustCompile(c.pattern)
		re, err := Compile(c.pattern)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name+"/regexp", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				std.MatchString(c.text)
			}
		})
		b.Run(c.name+"/fastre", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				re.MatchString(c.text)
			}
		})
	}
}

// BenchmarkIsASCII: the check every call makes before the fast path may
// answer, on an sshd failure line.
func BenchmarkIsASCII(b *testing.B) {
	line := "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.45.198  user=root"
	b.ReportAllocs()
	for b.Loop() {
		if !isASCII(line) {
			b.Fatal("not ASCII")
		}
	}
}
