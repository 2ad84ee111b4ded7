package nginx

import (
	"bytes"
	"net/netip"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/sources/plain"
)

// Apache writes a request it refuses before reading it (a request line
// its URI parser rejects) to its error log, not always to its access
// log: these are the messages, and what follows each.
var refusedCodes = [...]struct {
	code    string
	request bool // the request line follows; otherwise "(path)"
}{
	{"AH00126: Invalid URI in request ", true}, // the URI does not parse
	{"AH10244: invalid URI path (", false},     // 2.4.49+: the path climbs above the root
}

// ParseRefused reads a line of Apache 2.4's error log that tells of a
// request Apache refused for its URI (AH00126, AH10244) as the access
// event that request would have been: the client, the method, path and
// version, status 400. Those are path traversals (CVE-2021-41773 and
// its kin) that Apache refused before its access log saw them; a mixed
// log's access rules judge them as access lines. It reports whether the
// line was one; ev is set only then.
//
// The client is the one Apache writes in its own "[client ADDR:PORT]"
// field, before the message: the request comes after it, and Apache
// escapes control characters in its error log, so the request cannot
// start a line of its own.
func ParseRefused(line []byte, loc *time.Location, ev *pipeline.Event) bool {
	if len(line) == 0 || line[0] != '[' {
		return false
	}
	t, n, ok := plain.Timestamp(line, loc)
	if !ok {
		return false
	}
	rest, ok := cutField(line[n:], "[core:")
	if !ok {
		return false
	}
	if rest, ok = cutField(rest, "[pid "); !ok {
		return false
	}
	rest, ok = bytes.CutPrefix(rest, []byte("[client "))
	end := bytes.IndexByte(rest, ']')
	if !ok || end < 0 {
		return false
	}
	addr, ok := clientAddr(rest[:end])
	if !ok {
		return false
	}
	rest = rest[end+1:]
	if len(rest) == 0 || rest[0] != ' ' {
		return false
	}
	rest = rest[1:]
	for _, c := range refusedCodes {
		req, ok := bytes.CutPrefix(rest, []byte(c.code))
		if !ok {
			continue
		}
		req = bytes.TrimRight(req, " \r")
		// Apache ends a message with the request's referer when it had one.
		var ref []byte
		if r, rf, ok := bytes.Cut(req, []byte(", referer: ")); ok {
			req, ref = bytes.TrimRight(r, " "), rf
		}
		if c.request {
			ev.Method, ev.Path, ev.HTTPVersion = splitRequest(req)
		} else if p, ok := bytes.CutSuffix(req, []byte(")")); ok {
			ev.Path = pipeline.UnsafeString(p)
		} else {
			return false
		}
		ev.Referer = pipeline.UnsafeString(ref)
		ev.Time = t
		ev.Format = pipeline.FormatNginx
		ev.Program = "nginx"
		ev.Line = pipeline.UnsafeString(line)
		ev.Message = ev.Line
		ev.Addr = addr
		ev.Status = 400
		return true
	}
	return false
}

// cutField cuts the bracketed field that opens b (after spaces) and
// starts with open, and the space after it.
func cutField(b []byte, open string) ([]byte, bool) {
	b = bytes.TrimLeft(b, " ")
	if !bytes.HasPrefix(b, []byte(open)) {
		return nil, false
	}
	end := bytes.IndexByte(b, ']')
	if end < 0 || end+1 >= len(b) || b[end+1] != ' ' {
		return nil, false
	}
	return b[end+2:], true
}

// clientAddr reads Apache's "ADDR:PORT" (an IPv6 address unbracketed:
// the port is after the last colon).
func clientAddr(b []byte) (netip.Addr, bool) {
	i := bytes.LastIndexByte(b, ':')
	if i <= 0 || i == len(b)-1 {
		return netip.Addr{}, false
	}
	for _, c := range b[i+1:] {
		if c < '0' || c > '9' {
			return netip.Addr{}, false
		}
	}
	return pipeline.ParseAddr(pipeline.UnsafeString(b[:i]))
}
