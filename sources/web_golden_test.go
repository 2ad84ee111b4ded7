package sources

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/internal/golden"
	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/sources/nginx"
)

// webRecord is one golden line of a web log: what the decoder made of it.
type webRecord struct {
	Outcome   string `json:"outcome"`
	Reason    string `json:"reason,omitempty"`
	Format    string `json:"format,omitempty"`
	Time      string `json:"time,omitempty"`
	Addr      string `json:"addr,omitempty"`
	Host      string `json:"host,omitempty"`
	Program   string `json:"program,omitempty"`
	PID       int    `json:"pid,omitempty"`
	Method    string `json:"method,omitempty"`
	Path      string `json:"path,omitempty"`
	Status    int    `json:"status,omitempty"`
	Bytes     int64  `json:"bytes,omitempty"`
	User      string `json:"user,omitempty"`
	Referer   string `json:"referer,omitempty"`
	UserAgent string `json:"user_agent,omitempty"`
	Message   string `json:"message,omitempty"`
}

// webCase is a web log in a form real servers write, and how its source is
// configured.
type webCase struct {
	name, in   string
	logFormat  string
	realIPFrom []string
}

var webCases = []webCase{
	// Access lines of web servers sent through syslog are access events;
	// an error-log line and another program's line stay syslog.
	{name: "syslog-access", in: "syslog-access.log"},
	// The official nginx image's container log as Docker's json-file
	// driver writes it: the access lines are judged, dated by the
	// record's time; the pieces of a split line and broken records are bad.
	{name: "docker-nginx", in: "docker-nginx-json.log"},
	// Caddy's and Traefik's JSON access logs, detected; behind a trusted
	// proxy the forwarded-for client is taken, Caddy's client_ip (its own
	// trusted_proxies) first.
	{name: "caddy", in: "caddy-access.log", realIPFrom: []string{"10.0.0.0/8"}},
	{name: "traefik", in: "traefik-access.log", realIPFrom: []string{"10.0.0.0/8"}},
	// Nginx Proxy Manager's layouts are known without a log_format: its
	// lines open with the time in brackets.
	{name: "npm-detected", in: "npm-proxy.log"},
	// Nginx Proxy Manager's default `proxy` format: the client is in
	// `[Client ...]`, after fields the client writes (host, URI, agent).
	{name: "npm-proxy", in: "npm-proxy.log", logFormat: `[$time_local] $upstream_cache_status $upstream_status $status - $request_method $scheme $host "$request_uri" [Client $remote_addr] [Length $body_bytes_sent] [Gzip $gzip_ratio] [Sent-to $server] "$http_user_agent" "$http_referer"`},
	// Apache's combined format with the forwarded-for header at the end,
	// behind a trusted proxy 10.0.0.0/8: the header is believed only
	// from it, and read from the right.
	{name: "apache-xff", in: "apache-xff.log", logFormat: `%h %l %u %t \"%r\" %>s %O \"%{Referer}i\" \"%{User-Agent}i\" \"%{X-Forwarded-For}i\"`, realIPFrom: []string{"10.0.0.0/8"}},
	// The forwarded-for header written unquoted before $remote_addr: the
	// format says where the peer is, so a forged `VICTIM -` in the header
	// moves nothing; with no proxy trusted the peer is the client.
	{name: "nginx-xff-before", in: "nginx-xff-before.log", logFormat: `$http_x_forwarded_for $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"`},
	{name: "nginx-iso", in: "nginx-iso.log", logFormat: `$time_iso8601 $remote_addr "$request" $status $body_bytes_sent $request_time "$http_user_agent"`},
	{name: "nginx-msec", in: "nginx-msec.log", logFormat: `$msec|$remote_addr|$request_method|$request_uri|$server_protocol|$status|$body_bytes_sent`},
	{name: "nginx-xff-before-trusted", in: "nginx-xff-before.log", logFormat: `$http_x_forwarded_for $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"`, realIPFrom: []string{"10.0.0.2"}},
}

// TestWebGolden decodes each web log the way every source does (OpenReader
// detects the format, a Decoder decodes) and compares what each line
// became with testdata/web/golden/NAME.jsonl.
func TestWebGolden(t *testing.T) {
	for _, tc := range webCases {
		t.Run(tc.name, func(t *testing.T) {
			golden.Check(t, filepath.Join("testdata/web/golden", tc.name+".jsonl"), decodeWeb(t, tc))
		})
	}
}

func decodeWeb(t *testing.T, tc webCase) []byte {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata/web", tc.in))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var web Web
	format := pipeline.FormatUnknown
	if tc.logFormat != "" {
		// A log_format makes the source an access log (see cmd/stockade).
		if web.Layout, err = nginx.Compile(tc.logFormat); err != nil {
			t.Fatal(err)
		}
		format = pipeline.FormatNginx
	}
	if web.RealIP, err = nginx.ParseRealIP(tc.realIPFrom); err != nil {
		t.Fatal(err)
	}
	rd, err := OpenReader(f, format)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	dec := NewDecoder(rd.Format, ref, time.UTC, nil)
	dec.SetWeb(web)
	dec.SetDocker(rd.Docker)
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	sc := bufio.NewScanner(rd)
	sc.Buffer(nil, MaxLine+1)
	for sc.Scan() {
		var ev pipeline.Event
		o, reason := dec.Decode(sc.Bytes(), &ev)
		r := webRecord{Outcome: [...]string{"event", "skip", "bad"}[o], Reason: reason}
		if o == Event {
			r.Format, r.Time = ev.Format.String(), ev.Time.Format(time.RFC3339Nano)
			if ev.Addr.IsValid() {
				r.Addr = ev.Addr.String()
			}
			r.Host, r.Program, r.PID = ev.Host, ev.Program, ev.PID
			r.Method, r.Path, r.Status, r.Bytes = ev.Method, ev.Path, ev.Status, ev.Bytes
			r.User, r.Referer, r.UserAgent = ev.User, ev.Referer, ev.UserAgent
			if ev.Format != pipeline.FormatNginx {
				r.Message = ev.Message
			}
		}
		if err := enc.Encode(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}
