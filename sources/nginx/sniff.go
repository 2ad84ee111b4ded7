package nginx

import "github.com/stockade-ids/stockade/pipeline"

// Sniff reports whether line is an access-log line, for choosing a parser
// per file. It is stricter than Parse about what may precede the client
// address (a vhost first, then addresses or quoted lists), so that a syslog
// line whose message happens to be an access-log line is left to the syslog
// parser, which owns that file.
func Sniff(line []byte) bool {
	var p Parser
	var ev pipeline.Event
	if len(line) > 0 && (line[0] == '{' || line[0] == '[') {
		// Caddy's and Traefik's JSON, Nginx Proxy Manager's layouts.
		return p.Parse(line, &ev) == nil
	}
	if p.Parse(line, &ev) != nil {
		return false
	}
	br, _ := p.findTime(line)
	r := line[:br-1]
	// Every token before the address must be a plausible prefix; the
	// address itself Parse has checked.
	prefixOK := true
	var prev []byte
	for i, n := 0, 0; ; n++ {
		tok, next, ok := nextToken(r, i)
		if !ok || tok == nil {
			return false
		}
		if n > 0 && isDash(tok) {
			return prefixOK
		}
		if n > 0 {
			prefixOK = prefixOK && isPrefixToken(prev, n-1)
		}
		prev, i = tok, next
	}
}

// isPrefixToken reports whether tok, the n-th token, may precede the client
// address: a quoted list, an address of a forwarded-for list, or, first, the
// virtual host.
func isPrefixToken(tok []byte, n int) bool {
	return tok[0] == '"' || isAddrItem(tok) || n == 0 && isHostPort(tok)
}

// isAddrItem reports whether tok is an address, possibly followed by the
// comma of a forwarded-for list.
func isAddrItem(tok []byte) bool {
	if n := len(tok); n > 0 && tok[n-1] == ',' {
		tok = tok[:n-1]
	}
	_, ok := pipeline.ParseAddr(pipeline.UnsafeString(tok))
	return ok
}

// isHostPort reports whether tok is a host name with an optional port, as
// $host or apache's %v writes it.
func isHostPort(tok []byte) bool {
	i := 0
	for i < len(tok) {
		c := tok[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			break
		}
		i++
	}
	if i == 0 {
		return false
	}
	if i == len(tok) {
		return true
	}
	if tok[i] != ':' || i+1 == len(tok) {
		return false
	}
	for _, c := range tok[i+1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
