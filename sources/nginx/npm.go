package nginx

import "github.com/stockade-ids/stockade/pipeline"

// npmFormats are the log_formats of Nginx Proxy Manager (its nginx.conf):
// `proxy` for proxy hosts, `standard` for redirection and dead hosts.
// Their lines open with the time in brackets, which no other access layout
// does, so they are read without a log_format.
var npmFormats = [...]string{
	`[$time_local] $upstream_cache_status $upstream_status $status - $request_method $scheme $host "$request_uri" [Client $remote_addr] [Length $body_bytes_sent] [Gzip $gzip_ratio] [Sent-to $server] "$http_user_agent" "$http_referer"`,
	`[$time_local] $status - $request_method $scheme $host "$request_uri" [Client $remote_addr] [Length $body_bytes_sent] [Gzip $gzip_ratio] "$http_user_agent" "$http_referer"`,
}

// parseNPM parses a line of one of Nginx Proxy Manager's layouts.
func (p *Parser) parseNPM(line []byte, ev *pipeline.Event) error {
	if p.npm == nil {
		for _, f := range npmFormats {
			l, err := Compile(f)
			if err != nil {
				panic("nginx: Nginx Proxy Manager's layout: " + err.Error())
			}
			p.npm = append(p.npm, l.Parser())
		}
	}
	err := error(errLayout)
	for _, lp := range p.npm {
		lp.SetRealIPFrom(p.realIP)
		if err = lp.Parse(line, ev); err == nil {
			return nil
		}
	}
	return err
}
