package mail

import (
	"crypto/tls"
	"encoding/base64"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
)

// smtpd is a small SMTP server on loopback that speaks what a submission
// server does: EHLO, STARTTLS (with the test certificate), AUTH PLAIN
// offered only over TLS, MAIL, RCPT, DATA, RSET, NOOP, QUIT. It records
// every mail it accepts and every AUTH it saw.
type smtpd struct {
	ln         net.Listener
	tls        *tls.Config // nil: no STARTTLS
	user, pass string      // "": no AUTH needed

	mu    sync.Mutex
	mails []received
	auths []string // the credentials seen, to prove none went in clear
	wg    sync.WaitGroup
}

type received struct {
	from   string
	to     []string
	data   string
	tls    bool
	authed bool
}

func newSMTPD(t *testing.T, addr string, cfg *tls.Config, user, pass string) *smtpd {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpd{ln: ln, tls: cfg, user: user, pass: pass}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(s.stop)
	return s
}

func (s *smtpd) addr() string { return s.ln.Addr().String() }

func (s *smtpd) stop() {
	s.ln.Close()
	s.wg.Wait()
}

func (s *smtpd) received() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.mails...)
}

func (s *smtpd) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer c.Close()
			s.session(c)
		}()
	}
}

type session struct {
	conn   net.Conn
	tp     *textproto.Conn
	tls    bool
	authed bool
	from   string
	to     []string
}

func (s *smtpd) session(c net.Conn) {
	ss := &session{conn: c, tp: textproto.NewConn(c)}
	ss.tp.PrintfLine("220 test ESMTP")
	for n := 0; n < 100; n++ { // bounded: a test session is a few commands
		line, err := ss.tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		if !s.command(ss, strings.ToUpper(verb), arg) {
			return
		}
	}
}

// command answers one command; false ends the session.
func (s *smtpd) command(ss *session, verb, arg string) bool {
	switch verb {
	case "EHLO", "HELO":
		ext := []string{"250-test", "250-8BITMIME"}
		if s.tls != nil && !ss.tls {
			ext = append(ext, "250-STARTTLS")
		}
		if s.user != "" && ss.tls {
			ext = append(ext, "250-AUTH PLAIN")
		}
		ext = append(ext, "250 SIZE 10485760")
		for _, e := range ext {
			ss.tp.PrintfLine("%s", e)
		}
	case "STARTTLS":
		if s.tls == nil || ss.tls {
			ss.tp.PrintfLine("502 no")
			return true
		}
		ss.tp.PrintfLine("220 go ahead")
		tc := tls.Server(ss.conn, s.tls)
		if err := tc.Handshake(); err != nil {
			return false
		}
		ss.conn, ss.tp, ss.tls = tc, textproto.NewConn(tc), true
		ss.from, ss.to, ss.authed = "", nil, false
	case "AUTH":
		s.auth(ss, arg)
	case "MAIL":
		if s.user != "" && !ss.authed {
			ss.tp.PrintfLine("530 authentication required")
			return true
		}
		ss.from, _, _ = strings.Cut(strings.TrimPrefix(arg, "FROM:"), " ") // no BODY=8BITMIME
		ss.tp.PrintfLine("250 ok")
	case "RCPT":
		ss.to = append(ss.to, strings.TrimPrefix(arg, "TO:"))
		ss.tp.PrintfLine("250 ok")
	case "DATA":
		if ss.from == "" || len(ss.to) == 0 {
			ss.tp.PrintfLine("503 bad sequence")
			return true
		}
		ss.tp.PrintfLine("354 go on")
		data, err := ss.tp.ReadDotBytes()
		if err != nil {
			return false
		}
		s.mu.Lock()
		s.mails = append(s.mails, received{from: ss.from, to: ss.to, data: string(data), tls: ss.tls, authed: ss.authed})
		s.mu.Unlock()
		ss.from, ss.to = "", nil
		ss.tp.PrintfLine("250 queued")
	case "RSET", "NOOP":
		ss.tp.PrintfLine("250 ok")
	case "QUIT":
		ss.tp.PrintfLine("221 bye")
		return false
	default:
		ss.tp.PrintfLine("502 unknown command")
	}
	return true
}

func (s *smtpd) auth(ss *session, arg string) {
	mech, resp, _ := strings.Cut(arg, " ")
	if strings.ToUpper(mech) != "PLAIN" || s.user == "" {
		ss.tp.PrintfLine("504 unsupported")
		return
	}
	raw, err := base64.StdEncoding.DecodeString(resp)
	s.mu.Lock()
	s.auths = append(s.auths, string(raw))
	s.mu.Unlock()
	parts := strings.Split(string(raw), "\x00")
	if err != nil || len(parts) != 3 || parts[1] != s.user || parts[2] != s.pass || !ss.tls {
		ss.tp.PrintfLine("535 authentication failed")
		return
	}
	ss.authed = true
	ss.tp.PrintfLine("235 ok")
}
