package nginx

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

// Caddy and Traefik write their access logs as JSON, one object a line.
// They are access logs like the others: an event of the access format,
// program caddy or traefik, so the access rules judge them.

// errJSON: a JSON line that is neither a Caddy nor a Traefik access record.
var errJSON = pipeline.Bad("bad json access record")

// caddyRecord is what stockade reads of Caddy's access log (the
// http.log.access logger): client_ip is the client Caddy chose under its own
// trusted_proxies, remote_ip the peer.
type caddyRecord struct {
	TS      json.RawMessage `json:"ts"` // seconds as a number, or a time string
	Request *struct {
		RemoteIP string              `json:"remote_ip"`
		ClientIP string              `json:"client_ip"`
		Proto    string              `json:"proto"`
		Method   string              `json:"method"`
		URI      string              `json:"uri"`
		Headers  map[string][]string `json:"headers"`
	} `json:"request"`
	UserID string `json:"user_id"`
	Size   int64  `json:"size"`
	Status int    `json:"status"`
}

// traefikRecord is what stockade reads of Traefik's JSON access log; the
// request_ headers are there when the access log keeps them.
type traefikRecord struct {
	ClientAddr      string `json:"ClientAddr"`
	ClientHost      string `json:"ClientHost"`
	ClientUsername  string `json:"ClientUsername"`
	DownstreamSize  int64  `json:"DownstreamContentSize"`
	DownstreamState int    `json:"DownstreamStatus"`
	RequestMethod   string `json:"RequestMethod"`
	RequestPath     string `json:"RequestPath"`
	RequestProtocol string `json:"RequestProtocol"`
	StartUTC        string `json:"StartUTC"`
	Time            string `json:"time"`
	UserAgent       string `json:"request_User-Agent"`
	Referer         string `json:"request_Referer"`
	XFF             string `json:"request_X-Forwarded-For"`
}

// isTraefik tells a Traefik record from a Caddy one by the keys only
// Traefik writes.
func isTraefik(line []byte) bool {
	return bytes.Contains(line, []byte(`"RequestMethod"`)) && bytes.Contains(line, []byte(`"DownstreamStatus"`))
}

// parseJSON parses a Caddy or Traefik access record. The strings of the
// event are the decoder's copies, not the line's.
func (p *Parser) parseJSON(line []byte, ev *pipeline.Event) error {
	if isTraefik(line) {
		return p.parseTraefik(line, ev)
	}
	var r caddyRecord
	if json.Unmarshal(line, &r) != nil {
		return errJSON
	}
	if r.Request == nil {
		// Caddy logs its other loggers (tls, admin) to the same
		// output; Traefik its errors.
		return pipeline.ErrSkip
	}
	if r.Request.Method == "" {
		return errJSON
	}
	t, ok := jsonTime(r.TS)
	if !ok {
		return errTime
	}
	peer := r.Request.ClientIP
	if peer == "" {
		peer = r.Request.RemoteIP
	}
	addr, ok := pipeline.ParseAddr(peer)
	if !ok {
		return errAddr
	}
	if r.Status < 100 || r.Status > 999 {
		return errStatus
	}
	h := http.Header(r.Request.Headers)
	ev.Time = t
	ev.Format = pipeline.FormatNginx
	ev.Program = "caddy"
	ev.Line = pipeline.UnsafeString(line)
	ev.Message = ev.Line
	ev.Addr = p.realIP.Client(addr, []byte(h.Get("X-Forwarded-For")))
	ev.User = r.UserID
	ev.Method, ev.Path, ev.HTTPVersion = r.Request.Method, r.Request.URI, r.Request.Proto
	ev.Status = r.Status
	ev.Bytes = max(r.Size, 0)
	ev.Referer = h.Get("Referer")
	ev.UserAgent = h.Get("User-Agent")
	return nil
}

func (p *Parser) parseTraefik(line []byte, ev *pipeline.Event) error {
	var r traefikRecord
	if json.Unmarshal(line, &r) != nil || r.RequestMethod == "" {
		return errJSON
	}
	ts := r.StartUTC
	if ts == "" {
		ts = r.Time
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil || t.Year() < 1970 {
		return errTime
	}
	peer := r.ClientHost
	if peer == "" {
		if host, _, err := net.SplitHostPort(r.ClientAddr); err == nil {
			peer = host
		}
	}
	addr, ok := pipeline.ParseAddr(peer)
	if !ok {
		return errAddr
	}
	if r.DownstreamState < 100 || r.DownstreamState > 999 {
		return errStatus
	}
	ev.Time = t
	ev.Format = pipeline.FormatNginx
	ev.Program = "traefik"
	ev.Line = pipeline.UnsafeString(line)
	ev.Message = ev.Line
	ev.Addr = p.realIP.Client(addr, []byte(r.XFF))
	ev.User = dashString(r.ClientUsername)
	ev.Method, ev.Path, ev.HTTPVersion = r.RequestMethod, r.RequestPath, r.RequestProtocol
	ev.Status = r.DownstreamState
	ev.Bytes = max(r.DownstreamSize, 0)
	ev.Referer = dashString(r.Referer)
	ev.UserAgent = dashString(r.UserAgent)
	return nil
}

// jsonTime reads Caddy's ts: seconds since the epoch (the default), or a
// time string (a time_format set to an RFC 3339 layout).
func jsonTime(raw json.RawMessage) (time.Time, bool) {
	if len(raw) > 0 && raw[0] >= '0' && raw[0] <= '9' {
		// Read as written: a float64 loses the nanoseconds.
		sec, frac, _ := bytes.Cut(raw, []byte("."))
		var s, ns int64
		if len(sec) > 11 || len(frac) > 9 {
			return time.Time{}, false
		}
		for _, c := range sec {
			if c < '0' || c > '9' {
				return time.Time{}, false
			}
			s = s*10 + int64(c-'0')
		}
		for i := range 9 {
			ns *= 10
			if i < len(frac) {
				if frac[i] < '0' || frac[i] > '9' {
					return time.Time{}, false
				}
				ns += int64(frac[i] - '0')
			}
		}
		return time.Unix(s, ns).UTC(), true
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s))
	return t, err == nil && t.Year() >= 1970
}

func dashString(s string) string {
	if s == "-" {
		return ""
	}
	return s
}
