package rules

import (
	"net/netip"
	"testing"

	"github.com/stockade-ids/stockade/pipeline"
)

func defaultSet(t testing.TB) *Set {
	t.Helper()
	packs, err := DefaultPacks()
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSet(packs...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSSHDFailures(t *testing.T) {
	s := defaultSet(t)
	cases := []struct {
		name, program, msg string
		host, user         string // host "" = must not match
	}{
		{"failed password", "sshd", "Failed password for root from 198.51.100.9 port 4711 ssh2", "198.51.100.9", "root"},
		{"failed password invalid user", "sshd", "Failed password for invalid user admin from 198.51.100.9 port 4711 ssh2", "198.51.100.9", "admin"},
		{"failed publickey with key", "sshd", "Failed publickey for git from 2001:db8::66 port 50022 ssh2: RSA SHA256:abcDEF123+/x", "2001:db8::66", "git"},
		{"keyboard-interactive", "sshd-session", "Failed keyboard-interactive/pam for invalid user oracle from 203.0.113.4 port 1022 ssh2", "203.0.113.4", "oracle"},
		{"failed none", "sshd", "Failed none for invalid user test from 203.0.113.4 port 1022 ssh2", "203.0.113.4", "test"},
		{"invalid user", "sshd", "Invalid user admin from 203.0.113.5 port 53536", "203.0.113.5", "admin"},
		{"invalid user old", "sshd", "Invalid user admin from 203.0.113.5", "203.0.113.5", "admin"},
		{"pam", "sshd", "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.6  user=root", "203.0.113.6", ""},
		{"pam no user", "sshd", "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.6", "203.0.113.6", ""},
		{"max auth", "sshd", "error: maximum authentication attempts exceeded for root from 203.0.113.7 port 22 ssh2 [preauth]", "203.0.113.7", "root"},
		{"too many", "sshd", "Disconnecting authenticating user root 203.0.113.8 port 40442: Too many authentication failures [preauth]", "203.0.113.8", "root"},
		{"closed invalid preauth", "sshd", "Connection closed by invalid user ubnt 203.0.113.9 port 41536 [preauth]", "203.0.113.9", "ubnt"},
		{"disconnected invalid", "sshd", "Disconnected from invalid user pi 203.0.113.11 port 3345 [preauth]", "203.0.113.11", "pi"},
		{"mapped v4", "sshd", "Failed password for root from ::ffff:203.0.113.12 port 22 ssh2", "203.0.113.12", "root"},
		{"repeated", "sshd", "message repeated 2 times: [ Failed password for root from 203.0.113.13 port 4711 ssh2]", "203.0.113.13", "root"},
		{"not allowed", "sshd", "User bob from 203.0.113.14 not allowed because not listed in AllowUsers", "203.0.113.14", "bob"},

		{"solaris tag", "sshd", "[ID 800047 auth.info] Failed keyboard-interactive for <invalid username> from 205.186.180.55 port 42742 ssh2", "205.186.180.55", "<invalid username>"},
		{"hostbased", "sshd", `Failed hostbased for dan from 198.51.100.3 port 45785 ssh2: RSA 8c:e3:aa, client user "dan", client host "localhost.localdomain"`, "198.51.100.3", "dan"},
		{"no port", "sshd", "Failed password for invalid user ROOT from aaaa:bbbb:cccc:1234::1:1", "aaaa:bbbb:cccc:1234::1:1", "ROOT"},
		{"pam error via", "sshd", "error: PAM: authentication error for james from 205.186.180.100 via 192.168.1.201", "205.186.180.100", "james"},
		{"pam user not known", "sshd", "error: PAM: User not known to the underlying authentication module for illegal user kernelitshell from 10.215.4.227 ", "10.215.4.227", "kernelitshell"},
		{"auth fail disconnect", "sshd", "error: Received disconnect from 10.0.0.1 port 7736:3: com.jcraft.jsch.JSchException: Auth fail [preauth]", "10.0.0.1", ""},
		{"root refused preauth", "sshd", "ROOT LOGIN REFUSED FROM 1.2.3.4 port 12345 [preauth]", "1.2.3.4", ""},
		{"tcpwrappers", "sshd", "refused connect from _U2FsdGVkX19P3BCJmFBHhjLza8BcMH06WCUVwttMHpE=_@::ffff:218.249.210.161 (::ffff:218.249.210.161)", "218.249.210.161", ""},
		{"change of username", "sshd", "Disconnecting invalid user admin 192.0.2.117 port 44004: Change of username or service not allowed: (admin,ssh-connection) -> (user,ssh-connection) [preauth]", "192.0.2.117", "admin"},

		// Log injection: the user name carries an address; only the real
		// peer (the last one, before server-written text) may be taken.
		{"injection invalid user", "sshd", "Invalid user x from 198.51.100.9 port 22 from 203.0.113.66 port 4711", "203.0.113.66", "x from 198.51.100.9 port 22"},
		{"injection failed password", "sshd", "Failed password for invalid user x from 198.51.100.9 port 22 ssh2 from 203.0.113.67 port 4711 ssh2", "203.0.113.67", "x from 198.51.100.9 port 22 ssh2"},
		{"injection publickey suffix", "sshd", "Failed publickey for y from 198.51.100.9 port 1 ssh2: z from 203.0.113.68 port 22 ssh2: RSA SHA256:abc", "203.0.113.68", "y from 198.51.100.9 port 1 ssh2: z"},
		{"injection via pam", "sshd", "error: PAM: Authentication failure for x from 198.51.100.9 from 203.0.113.70 via 192.0.2.1", "203.0.113.70", "x from 198.51.100.9"},
		{"injection client user", "sshd", `Failed hostbased for d from 203.0.113.71 port 1 ssh2: RSA k, client user "a from 198.51.100.9 port 2 ssh2: RSA k, client user "b", client host "c"", client host "h"`, "", ""},
		{"injection trailing text", "sshd", "Invalid user x from 203.0.113.69 port 22 because 198.51.100.9", "", ""},

		// Not failures.
		{"accepted", "sshd", "Accepted password for alice from 192.0.2.50 port 50000 ssh2", "", ""},
		{"accepted publickey", "sshd", "Accepted publickey for alice from 192.0.2.50 port 50000 ssh2: ED25519 SHA256:xyz", "", ""},
		{"session opened", "sshd", "pam_unix(sshd:session): session opened for user alice(uid=1000) by (uid=0)", "", ""},
		{"disconnected user", "sshd", "Disconnected from user alice 192.0.2.50 port 50000", "", ""},
		{"received disconnect", "sshd", "Received disconnect from 192.0.2.50 port 50000:11: disconnected by user", "", ""},
		// An authenticating user's close is no failure by default (fail2ban's
		// normal mode): sshd-aggressive counts it.
		{"reset authenticating", "sshd", "Connection reset by authenticating user root 203.0.113.10 port 41536 [preauth]", "", ""},

		// Forged program: anyone can write to syslog.
		{"forged program", "logger", "Failed password for root from 198.51.100.20 port 22 ssh2", "", ""},
		{"forged path program", "/usr/sbin/sshd", "Failed password for root from 198.51.100.20 port 22 ssh2", "", ""},
		{"sshd lookalike", "sshd2", "Failed password for root from 198.51.100.20 port 22 ssh2", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ev := &pipeline.Event{Format: pipeline.FormatSyslog, Program: c.program, Message: c.msg, Line: c.msg}
			hits := s.Match(ev, nil)
			if c.host == "" {
				if len(hits) != 0 {
					t.Fatalf("matched: %+v", hits)
				}
				return
			}
			if len(hits) != 1 {
				t.Fatalf("hits = %+v", hits)
			}
			if got := hits[0].Target.String(); got != c.host {
				t.Errorf("target %s, want %s", got, c.host)
			}
			if c.user != "" && captured(hits[0], "user") != c.user {
				t.Errorf("user %q, want %q", captured(hits[0], "user"), c.user)
			}
			if ev.User != "" || len(ev.Captures) > 0 || ev.Addr.IsValid() {
				t.Errorf("Match wrote into the event: user %q, captures %v, addr %v", ev.User, ev.Captures, ev.Addr)
			}
		})
	}
}

func TestStructuredFormats(t *testing.T) {
	s := defaultSet(t)
	a := pipeline.Canonical(mustAddr("203.0.113.50"))
	cases := []struct {
		name  string
		ev    pipeline.Event
		rules []string
	}{
		{"wp-login failure", pipeline.Event{Format: pipeline.FormatNginx, Method: "POST", Path: "/wp-login.php", Status: 200}, []string{"nginx-wordpress"}},
		{"wp-login in subdir with query", pipeline.Event{Format: pipeline.FormatNginx, Method: "POST", Path: "/blog/wp-login.php?redirect_to=x", Status: 200}, []string{"nginx-wordpress"}},
		{"xmlrpc", pipeline.Event{Format: pipeline.FormatNginx, Method: "POST", Path: "/xmlrpc.php", Status: 200}, []string{"nginx-wordpress"}},
		{"wp-login success", pipeline.Event{Format: pipeline.FormatNginx, Method: "POST", Path: "/wp-login.php", Status: 302}, nil},
		{"wp-login GET", pipeline.Event{Format: pipeline.FormatNginx, Method: "GET", Path: "/wp-login.php", Status: 200}, nil},
		// Not a login, but a backup copy: the web-probing pack's.
		{"lookalike path", pipeline.Event{Format: pipeline.FormatNginx, Method: "POST", Path: "/wp-login.php.bak", Status: 200}, []string{"web-sensitive-files"}},
		{"404", pipeline.Event{Format: pipeline.FormatNginx, Method: "GET", Path: "/.env", Status: 404}, []string{"nginx-scan", "web-sensitive-files"}},
		{"p1 fast", pipeline.Event{Format: pipeline.FormatFastLog, Priority: 1}, []string{"suricata-p1"}},
		{"p2 eve", pipeline.Event{Format: pipeline.FormatEve, Priority: 2}, []string{"suricata-p2"}},
		{"p3", pipeline.Event{Format: pipeline.FormatEve, Priority: 3}, nil},
		{"f2b ban", pipeline.Event{Format: pipeline.FormatFail2ban, Verb: "Ban", Jail: "sshd"}, []string{"recidive"}},
		{"f2b restore", pipeline.Event{Format: pipeline.FormatFail2ban, Verb: "Restore Ban", Jail: "sshd"}, nil},
		{"f2b recidive own", pipeline.Event{Format: pipeline.FormatFail2ban, Verb: "Ban", Jail: "recidive"}, nil},
		{"f2b found", pipeline.Event{Format: pipeline.FormatFail2ban, Verb: "Found", Jail: "sshd"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ev := c.ev
			ev.Addr = a
			hits := s.Match(&ev, nil)
			var got []string
			for _, h := range hits {
				got = append(got, h.Policy.Name)
				if h.Target != a {
					t.Errorf("target %v", h.Target)
				}
			}
			if len(got) != len(c.rules) || (len(got) > 0 && got[0] != c.rules[0]) {
				t.Fatalf("rules %v, want %v", got, c.rules)
			}
		})
	}
}

func TestIgnoreRegexAndKey(t *testing.T) {
	p, err := Parse("k.yaml", []byte(`pack: k
rules:
  - name: users
    formats: [syslog]
    programs: [sshd]
    failregex: ['^Invalid user <F-USER>\S+</F-USER> from <HOST>$']
    ignoreregex: ['^Invalid user nagios ']
    key: captures.user
    threshold: 2
    window: 1m
    ban: 1m
`))
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSet(p)
	if err != nil {
		t.Fatal(err)
	}
	ev := &pipeline.Event{Format: pipeline.FormatSyslog, Program: "sshd", Message: "Invalid user nagios from 192.0.2.9"}
	if _, v := s.Judge(s.Rules()[0], ev); v != Ignored {
		t.Fatalf("verdict %v", v)
	}
	ev = &pipeline.Event{Format: pipeline.FormatSyslog, Program: "sshd", Message: "Invalid user bob from 192.0.2.9"}
	h, v := s.Judge(s.Rules()[0], ev)
	if v != Hit || h.Key != "bob" {
		t.Fatalf("verdict %v key %q", v, h.Key)
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

// captured is the value of a hit's capture, "" when it has none.
func captured(h pipeline.Hit, name string) string {
	for _, c := range h.Captures {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// TestMatchLeavesTheEvent: what a rule's failregex finds (the address,
// its captures) is in its hit and in the event its predicates and the
// rules after it read (the Set's copy), never in the caller's event.
func TestMatchLeavesTheEvent(t *testing.T) {
	s := mustSet(t, `pack: t
rules:
  - name: finds
    formats: [syslog]
    programs: [sshd]
    failregex: ['^Failed password for <F-USER>\S+</F-USER> from <HOST> port \d+ ssh2$']
    when: 'user == "root" && captures["user"] == "root"'
    ban: 1h
  - name: reads
    formats: [syslog]
    programs: [sshd]
    failregex: ['^Failed password for \S+ from <HOST> port \d+ ssh2$']
    when: 'user == "root" && captures["user"] == "root"'
    ban: 1h
`)
	ev := sshLine(0, "Failed password for root from 203.0.113.9 port 22 ssh2")
	hits := s.Match(ev, nil)
	if len(hits) != 2 || hits[1].Policy.Name != "reads" || hits[1].Target.String() != "203.0.113.9" {
		t.Fatalf("hits %+v: the second rule does not see what the first found", hits)
	}
	if captured(hits[0], "user") != "root" || len(hits[1].Captures) != 0 {
		t.Errorf("captures %v and %v, want user=root for the first rule only", hits[0].Captures, hits[1].Captures)
	}
	if ev.User != "" || len(ev.Captures) > 0 || ev.Addr.IsValid() {
		t.Errorf("Match wrote into the event: user %q, captures %v, addr %v", ev.User, ev.Captures, ev.Addr)
	}
}

// TestMatchGivesTheEventBackAsGiven: a failregex's findings (the address,
// the user, captures) are written into the event for the rule's
// predicates and the rules after it, and taken out again: Match, Judge
// and Explain leave the caller's event, and its captures map, as they
// were, while the hits and the predicates see what was found.
func TestMatchGivesTheEventBackAsGiven(t *testing.T) {
	s := mustSet(t, `
pack: t
rules:
  - name: first
    formats: [syslog]
    failregex: ['^Failed password for <F-USER>\S+</F-USER> from <HOST> port <F-PORT>\d+</F-PORT>']
    when: user == "root" && captures.port == "4711" && captures.given == "yes"
    threshold: 1
    ban: 1h
  - name: second
    formats: [syslog]
    failregex: ['^Failed password for \S+ from <HOST> ']
    when: user == "root" && captures.port == "4711"
    threshold: 1
    ban: 1h
`)
	ev := sshLine(0, "Failed password for root from 198.51.100.9 port 4711 ssh2")
	given := map[string]string{"given": "yes"}
	ev.Captures = given
	before := *ev
	hits := s.Match(ev, nil)
	if len(hits) != 2 || hits[0].Target != netip.MustParseAddr("198.51.100.9") || hits[1].Target != hits[0].Target {
		t.Fatalf("hits %+v: want both rules, the second through the first's findings", hits)
	}
	check := func(what string) {
		t.Helper()
		if ev.Addr != before.Addr || ev.User != before.User || len(ev.Captures) != 1 || ev.Captures["given"] != "yes" {
			t.Fatalf("after %s: the event holds addr %v, user %q, captures %v; it was given addr %v, user %q, captures %v",
				what, ev.Addr, ev.User, ev.Captures, before.Addr, before.User, given)
		}
		if len(given) != 1 {
			t.Fatalf("after %s: the caller's captures map was written: %v", what, given)
		}
	}
	check("Match")
	if _, v := s.Judge(s.Rules()[0], ev); v != Hit {
		t.Fatalf("Judge: %v", v)
	}
	check("Judge")
	if out := s.Explain(ev, nil); len(out) != 2 || out[0].Verdict != Hit || out[1].Verdict != Hit {
		t.Fatalf("Explain: %+v", out)
	}
	check("Explain")
	// The next event starts clean: nothing of this one's findings leaks.
	other := sshLine(0, "Accepted publickey for root from 198.51.100.9 port 4711 ssh2")
	if hits := s.Match(other, nil); len(hits) != 0 {
		t.Fatalf("an event without findings matched %+v", hits)
	}
}

// TestCapturesAsWrittenInTurn: the captures a predicate reads are the
// event's own with each capture of the Match written over them in turn
// (a failregex's port over the event's, the last rule's over the
// first's), whether the predicate runs after the first capture or after
// several, and an event judged after one with captures reads none of
// them.
func TestCapturesAsWrittenInTurn(t *testing.T) {
	s := mustSet(t, `
pack: t
rules:
  - name: first
    formats: [syslog]
    failregex: ['^Failed password for <F-USER>\S+</F-USER> from <HOST> port <F-PORT>\d+</F-PORT>']
    when: captures.port == "4711" && captures.given == "yes" && captures.user == "root"
    threshold: 1
    ban: 1h
  - name: second
    formats: [syslog]
    failregex: ['^Failed password for \S+ from <HOST> port \d+ <F-PORT>\S+</F-PORT>$']
    when: captures.port == "ssh2" && captures.user == "root" && len(captures) == 3
    threshold: 1
    ban: 1h
  - name: none
    formats: [syslog]
    failregex: ['^Accepted \S+ for \S+ from <HOST> ']
    when: len(captures) == 0
    threshold: 1
    ban: 1h
`)
	ev := sshLine(0, "Failed password for root from 198.51.100.9 port 4711 ssh2")
	ev.Captures = map[string]string{"given": "yes", "port": "1"}
	if hits := s.Match(ev, nil); len(hits) != 2 {
		t.Fatalf("hits %+v: want first and second, each reading the captures as written in turn", hits)
	}
	if ev.Captures["port"] != "1" || len(ev.Captures) != 2 {
		t.Fatalf("the caller's captures were written: %v", ev.Captures)
	}
	other := sshLine(0, "Accepted publickey for root from 198.51.100.9 port 4711 ssh2")
	if hits := s.Match(other, nil); len(hits) != 1 || hits[0].Policy.Name != "none" {
		t.Fatalf("hits %+v: an event without captures read the last one's", hits)
	}
}
