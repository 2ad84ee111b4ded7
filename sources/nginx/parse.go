// Package nginx parses nginx and apache access logs in the combined and
// common layouts, with the variants seen in the wild: a virtual-host or
// X-Forwarded-For list before the client address, IPv6 clients, and extra
// fields after the user agent.
//
// Every field between the quotes of an access log is chosen by the client.
// The parser therefore finds the structure from what the server writes (the
// bracketed time, the quote that opens the request) and honours backslash
// escapes inside quoted fields, so that a user agent cannot close its own
// field and forge the status that follows it.
package nginx

import (
	"bytes"
	"net/netip"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

// Bad-line reasons. They are metric labels: keep the set small and fixed.
var (
	errEmpty   = pipeline.Bad("empty line")
	errTime    = pipeline.Bad("bad timestamp")
	errAddr    = pipeline.Bad("bad address")
	errRequest = pipeline.Bad("bad request")
	errStatus  = pipeline.Bad("bad status")
	errBytes   = pipeline.Bad("bad bytes")
	errQuote   = pipeline.Bad("unterminated quote")
	// errAmbiguous: two places in the line could be the client address
	// (see splitPrefix).
	errAmbiguous = pipeline.Bad("ambiguous address")
)

// Parser parses access-log lines. It keeps the last time zone it built, so
// that lines in the same zone do not allocate one each; like every
// pipeline.Parser it serves one source and is not safe for concurrent use.
type Parser struct {
	// prefixed: a line of this source had a field before $remote_addr (a
	// forwarded-for list, a vhost), so a line with two address-then-dash
	// readings is refused (see splitPrefix) rather than read the combined
	// way. A layout with such a field is learnt from its lines that do not
	// carry the header (it logs "-"), or given as log_format.
	prefixed bool
	// guessed: since Learn, a line had two readings and was read the
	// combined way because prefixed was not (yet) set.
	guessed bool
	zoneOff int
	zone    *time.Location
	// last is the last $time_local read, lastTime what it was.
	last     [timeLen]byte
	lastTime time.Time
	lastOK   bool
	realIP   RealIP
	// npm are Nginx Proxy Manager's layouts, compiled at its first line.
	npm []*LayoutParser
}

// SetRealIPFrom sets the proxies whose forwarded-for list is believed (see
// RealIP).
func (p *Parser) SetRealIPFrom(r RealIP) { p.realIP = r }

// New returns a Parser.
func New() *Parser { return &Parser{} }

// Learnt reports whether a line read so far had a field before the client
// address, which makes the parser refuse the lines it could read two ways.
func (p *Parser) Learnt() bool { return p.prefixed }

// Learn sets what Learnt reports, as the lines before the next one would
// have taught it, and clears Guessed. A reader that parses a log's lines
// out of order (in chunks, on several goroutines) uses it to carry what
// the lines before a chunk taught.
func (p *Parser) Learn(prefixed bool) { p.prefixed, p.guessed = prefixed, false }

// Guessed reports whether, since Learn, a line was read the combined way
// for want of having learnt otherwise: had Learnt been true, it would have
// been refused as ambiguous. The lines of a parser that did not guess read
// the same whatever it had learnt before them.
func (p *Parser) Guessed() bool { return p.guessed }

var _ pipeline.Parser = (*Parser)(nil)

// timeLen is the length of `08/Nov/2025:22:00:01 +0100`.
const timeLen = 26

// Parse implements pipeline.Parser.
func (p *Parser) Parse(line []byte, ev *pipeline.Event) error {
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if len(line) == 0 {
		return errEmpty
	}
	switch line[0] {
	case '{':
		return p.parseJSON(line, ev)
	case '[':
		return p.parseNPM(line, ev)
	}
	br, t, addr, ok := p.plainHead(line)
	var user []byte
	var err error
	if ok {
		user = line[br-2 : br-1]
	} else if br, t, addr, user, err = p.anyHead(line); err != nil {
		return err
	}

	// findTime guarantees `] "` after the time.
	i := br + timeLen + 4
	end := closeQuote(line, i)
	if end < 0 {
		return errRequest
	}
	req := line[i:end]
	i = end + 1

	status, i, ok := parseStatus(line, i)
	if !ok {
		return errStatus
	}
	if i >= len(line) {
		return errBytes
	}
	i++
	nbytes, i, ok := parseBytes(line, i)
	if !ok {
		return errBytes
	}

	// Referer and user agent are optional (common layout); anything after
	// them is tolerated, and so is an unquoted field where the referer
	// would be (common layout plus a request time, say).
	var referer, agent []byte
	if i+1 < len(line) && line[i+1] == '"' {
		s := i + 2
		e := closeQuote(line, s)
		if e < 0 {
			return errQuote
		}
		referer = line[s:e]
		i = e + 1
		if i+1 < len(line) && line[i] == ' ' && line[i+1] == '"' {
			s = i + 2
			e = closeQuote(line, s)
			if e < 0 {
				return errQuote
			}
			agent = line[s:e]
		}
	}

	ev.Time = t
	ev.Format = pipeline.FormatNginx
	ev.Program = "nginx"
	ev.Line = pipeline.UnsafeString(line)
	// Access logs have no header: the whole line is what filters match.
	ev.Message = ev.Line
	ev.Addr = addr
	ev.User = dash(user)
	ev.Method, ev.Path, ev.HTTPVersion = splitRequest(req)
	ev.Status = status
	ev.Bytes = nbytes
	ev.Referer = dash(referer)
	ev.UserAgent = dash(agent)
	return nil
}

// anyHead reads what precedes the request, the client address, the
// remote user and the time, whose `[` is at br, in every form of line: the time is found first (see
// findTime), then the address among what precedes it (see splitPrefix).
func (p *Parser) anyHead(line []byte) (br int, t time.Time, addr netip.Addr, user []byte, err error) {
	br, t = p.findTime(line)
	if br < 0 {
		return -1, t, addr, nil, errTime
	}
	prefix, addrTok, ip, user, err := splitPrefix(line[:br-1])
	if err == errAmbiguous && !p.prefixed {
		// Nothing of this source was written before $remote_addr so far:
		// the combined layout, whose first token is the client and whose
		// remote user (`1.2.3.4 - x`, from any Basic header) must not make
		// the line unreadable, or every client could hide from the web
		// rules with one header.
		prefix, addrTok, user, err = splitFirstDash(line[:br-1])
		p.guessed = true
	}
	if err != nil {
		return -1, t, addr, nil, err
	}
	if len(prefix) > 0 {
		p.prefixed = true
	}
	addr, ok := ip, ip.IsValid() // splitPrefix read it already
	if !ok {
		addr, ok = pipeline.ParseAddr(pipeline.UnsafeString(addrTok))
	}
	if !ok {
		return -1, t, addr, nil, errAddr
	}
	return br, t, p.realIP.Client(addr, prefix), user, nil
}

// plainHead reads the head of most lines, `A.B.C.D - - [time] "`, by
// position: what findTime and splitPrefix make of it (no quote or
// bracket before the time's, one address before a dash, no prefix),
// without their passes over it. ok is false for any other head.
func (p *Parser) plainHead(line []byte) (br int, t time.Time, addr netip.Addr, ok bool) {
	a, n, ok := dottedQuad(line)
	if !ok || len(line) < n+5+timeLen+4 || string(line[n:n+6]) != " - - [" {
		return 0, t, addr, false
	}
	br = n + 5
	e := br + 1 + timeLen
	if line[e] != ']' || line[e+1] != ' ' || line[e+2] != '"' {
		return 0, t, addr, false
	}
	if t, ok = p.parseTime(line[br+1 : e]); !ok {
		return 0, t, addr, false
	}
	return br, t, p.realIP.Client(netip.AddrFrom4(a), nil), true
}

// dottedQuad reads the IPv4 address that b starts with, as netip does
// (four decimal fields of one to three digits, no leading zero, none
// over 255) and without its generic path, and its length. ok is false
// for anything else, which the general path then reads.
func dottedQuad(b []byte) (a [4]byte, n int, ok bool) {
	if len(b) < 16 { // the longest address and the byte that ends it
		return a, 0, false
	}
	// Each field takes at most four bytes with its dot, so every byte
	// read lies in the first fifteen: as an array indexed modulo 16,
	// they are read without a bounds check.
	q := (*[16]byte)(b)
	for f := 0; f < 4; f++ {
		if f > 0 {
			if q[n&15] != '.' {
				return a, 0, false
			}
			n++
		}
		v := uint(q[n&15] - '0')
		if v > 9 {
			return a, 0, false
		}
		n++
		// A field that starts with 0 is 0 (netip refuses "01"): the
		// byte after it must then end it.
		if d := uint(q[n&15] - '0'); v != 0 && d <= 9 {
			v, n = v*10+d, n+1
			if d := uint(q[n&15] - '0'); d <= 9 {
				v, n = v*10+d, n+1
			}
		}
		if v > 255 {
			return a, 0, false
		}
		a[f&3] = byte(v)
	}
	return a, n, true
}

// findTime returns the index of the `[` that opens the time field and the
// parsed time, or -1. The time field is the first `[...]` that holds a valid
// time and is followed by ` "`: the fields before it (vhost, address list,
// remote user) cannot contain an unescaped quote, so a time forged inside
// the remote user is never followed by one. Quoted fields before the time
// (a quoted X-Forwarded-For list) are skipped whole.
func (p *Parser) findTime(line []byte) (int, time.Time) {
	for i := 0; i < len(line); i++ {
		switch line[i] {
		case '"':
			if i == 0 || line[i-1] == ' ' {
				e := closeQuote(line, i+1)
				if e < 0 {
					return -1, time.Time{}
				}
				i = e
			}
		case '[':
			if i == 0 || line[i-1] != ' ' {
				continue
			}
			e := i + 1 + timeLen
			if e+2 >= len(line) || line[e] != ']' || line[e+1] != ' ' || line[e+2] != '"' {
				continue
			}
			if t, ok := p.parseTime(line[i+1 : e]); ok {
				return i, t
			}
		}
	}
	return -1, time.Time{}
}

// splitPrefix finds the client address in what precedes the time: the
// token before the ident field (a lone `-`), which is $remote_addr; what
// precedes it is a vhost or a forwarded-for list (returned as prefix), and
// what follows the ident is the remote user.
//
// Both sides of the address are the client's to write: a forwarded-for
// header `VICTIM -` written before $remote_addr, or a Basic-auth user
// `VICTIM - x` written after it, each put a second address-then-dash in the
// line. When the line holds more than one address followed by a `-`, it
// reports errAmbiguous; Parse then reads a source of the combined layout
// the combined way (the first address) and refuses the line in a source
// that has a field before the address, rather than ban whoever the client
// named; a log_format given for the source reads such a line by position.
// ip is addr parsed, when it was an address before a dash (invalid when
// the old reading of splitFirstDash took it).
func splitPrefix(r []byte) (prefix, addr []byte, ip netip.Addr, user []byte, err error) {
	var toks [3][]byte // the last three tokens
	var starts [3]int
	found, userAt := -1, 0
	for i, n := 0, 0; ; n++ {
		s := i
		for s < len(r) && r[s] == ' ' {
			s++
		}
		tok, next, ok := nextToken(r, i)
		if !ok {
			return nil, nil, netip.Addr{}, nil, errAddr
		}
		if tok == nil {
			break
		}
		toks[0], toks[1], toks[2] = toks[1], toks[2], tok
		starts[0], starts[1], starts[2] = starts[1], starts[2], s
		if n > 0 && isDash(tok) && toks[1] != nil {
			if a, ok := parseAddr(toks[1]); ok {
				if found >= 0 {
					return nil, nil, netip.Addr{}, nil, errAmbiguous
				}
				found = starts[1]
				addr, ip = toks[1], a
				userAt = next
			}
		}
		i = next
	}
	if found < 0 {
		// No address before a dash: take the old reading, the token
		// before the first dash, which ParseAddr then refuses or not.
		prefix, addr, user, err = splitFirstDash(r)
		return prefix, addr, netip.Addr{}, user, err
	}
	if userAt < len(r) {
		userAt++
	}
	return r[:found], addr, ip, r[userAt:], nil
}

// splitFirstDash reads the token before the first `-` that is not the first
// token as the address.
func splitFirstDash(r []byte) (prefix, addr, user []byte, err error) {
	var prev []byte
	prevAt := 0
	for i, n := 0, 0; ; n++ {
		s := i
		for s < len(r) && r[s] == ' ' {
			s++
		}
		tok, next, ok := nextToken(r, i)
		if !ok || tok == nil {
			return nil, nil, nil, errAddr
		}
		if n > 0 && isDash(tok) {
			if next < len(r) {
				next++
			}
			return r[:prevAt], prev, r[next:], nil
		}
		prev, prevAt, i = tok, s, next
	}
}

// parseAddr reads tok as an address. The `-` and words it is mostly
// asked about are refused before ParseAddr, which allocates its error.
func parseAddr(tok []byte) (netip.Addr, bool) {
	if len(tok) < 2 || !bytes.ContainsAny(tok, ".:") {
		return netip.Addr{}, false
	}
	return pipeline.ParseAddr(pipeline.UnsafeString(tok))
}

// nextToken returns the space-separated token at or after i and the index
// after it, or a nil token at the end of r. A token that opens with a quote
// runs to its closing quote, spaces included; ok is false when that quote is
// never closed.
func nextToken(r []byte, i int) (tok []byte, next int, ok bool) {
	for i < len(r) && r[i] == ' ' {
		i++
	}
	if i == len(r) {
		return nil, i, true
	}
	start := i
	if r[i] == '"' {
		e := closeQuote(r, i+1)
		if e < 0 {
			return nil, i, false
		}
		i = e + 1
	}
	for i < len(r) && r[i] != ' ' {
		i++
	}
	return r[start:i], i, true
}

func isDash(b []byte) bool { return len(b) == 1 && b[0] == '-' }

// closeQuote returns the index of the quote that closes a field whose
// content starts at i, or -1. A backslash escapes the next byte (apache,
// escape=json); nginx's default escaping writes `\x22` and never a raw quote,
// which this reads the same way.
func closeQuote(b []byte, i int) int {
	for i < len(b) {
		j := bytes.IndexByte(b[i:], '"')
		if j < 0 {
			return -1
		}
		j += i
		if j == i || b[j-1] != '\\' {
			return j // no backslash before it: most quotes
		}
		k := j - 1
		for k > i && b[k-1] == '\\' {
			k--
		}
		if (j-k)%2 == 0 {
			return j
		}
		i = j + 1
	}
	return -1
}

// splitRequest splits `METHOD TARGET HTTP/x.y` as logged. Scanners send
// anything (TLS handshakes, bare words, no version), and those lines still
// count, so a request that does not start with a method token yields empty
// fields rather than an error, and a missing version leaves HTTPVersion
// empty. The version is the last word, so a target with a space in it stays
// whole.
func splitRequest(req []byte) (method, path, version string) {
	if len(req) == 0 || req[0] < 'A' || req[0] > 'Z' {
		return "", "", ""
	}
	m := 1
	for m < len(req) && (req[m] >= 'A' && req[m] <= 'Z' || req[m] == '-' || req[m] == '_') {
		m++
	}
	if m < len(req) && req[m] != ' ' {
		return "", "", ""
	}
	method = pipeline.UnsafeString(req[:m])
	if m == len(req) {
		return method, "", ""
	}
	rest := req[m+1:]
	// Most requests end ` HTTP/x.y`, whose space is the last one when x
	// and y are not spaces: found without the byte-at-a-time search.
	if n := len(rest); n >= 9 && rest[n-9] == ' ' && string(rest[n-8:n-3]) == "HTTP/" &&
		rest[n-3] != ' ' && rest[n-2] == '.' && rest[n-1] != ' ' {
		return method, pipeline.UnsafeString(rest[:n-9]), pipeline.UnsafeString(rest[n-8:])
	}
	if sp := bytes.LastIndexByte(rest, ' '); sp >= 0 {
		if v := rest[sp+1:]; len(v) > 5 && string(v[:5]) == "HTTP/" {
			return method, pipeline.UnsafeString(rest[:sp]), pipeline.UnsafeString(v)
		}
	}
	return method, pipeline.UnsafeString(rest), ""
}

// parseStatus reads ` STATUS` at i: three digits, or `-` for a request
// that got no answer (Traefik's common log format writes it for a client
// that went away). It returns the index after the field.
func parseStatus(line []byte, i int) (status, end int, ok bool) {
	if i+2 > len(line) || line[i] != ' ' {
		return 0, i, false
	}
	if line[i+1] == '-' && (i+2 == len(line) || line[i+2] == ' ') {
		return 0, i + 2, true
	}
	if i+4 > len(line) {
		return 0, i, false
	}
	status, ok = digits3(line[i+1 : i+4])
	if !ok || (i+4 < len(line) && line[i+4] != ' ') {
		return 0, i, false
	}
	return status, i + 4, true
}

func digits3(b []byte) (int, bool) {
	a, c, d := b[0]-'0', b[1]-'0', b[2]-'0'
	if a > 9 || c > 9 || d > 9 {
		return 0, false
	}
	return int(a)*100 + int(c)*10 + int(d), true
}

// parseBytes reads $body_bytes_sent at i: digits, or apache's `-` for none.
// It returns the index after the field, which is the end of the line or a
// space.
func parseBytes(line []byte, i int) (n int64, end int, ok bool) {
	s := i
	if i < len(line) && line[i] == '-' {
		i++
	} else {
		// Eighteen digits at most: more than any file holds, and n
		// cannot overflow.
		lim := min(len(line), s+18)
		for i < lim && line[i]-'0' <= 9 {
			n = n*10 + int64(line[i]-'0')
			i++
		}
		if i == s || i < len(line) && line[i]-'0' <= 9 {
			return 0, i, false
		}
	}
	if i < len(line) && line[i] != ' ' {
		return 0, i, false
	}
	return n, i, true
}

// dash maps the log's `-` for "absent" to the empty string.
func dash(b []byte) string {
	if isDash(b) {
		return ""
	}
	return pipeline.UnsafeString(b)
}
