package sources

import (
	"unsafe"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/sources/nginx"
)

// isWebProgram reports whether p is a program whose syslog or journal
// messages may be access-log lines: nginx's `access_log syslog:`, Apache's
// piped logger, and the journal of a web server that logs to stdout. Every
// syslog line asks, so it is a switch (a length, then the bytes) rather
// than a loop comparing each name.
func isWebProgram(p string) bool {
	switch p {
	case "nginx", "apache2", "httpd", "openresty", "caddy", "traefik":
		return true
	}
	return false
}

// liftAccess makes a syslog event whose program is a web server and whose
// message is an access-log line an access event: it gets the access
// format and its typed fields, so the access format's rules judge it. The
// syslog header's host, program and pid stay; the line is the access line,
// as an access log holds it, so that a fail2ban access filter (which reads
// the line) matches it as it would in the access log; the time is the
// access line's own, which carries a year and a zone that the syslog
// header may lack. A message that is not an access
// line (an error-log line) stays a syslog event.
func (d *Decoder) liftAccess(ev *pipeline.Event) {
	if ev.Format != pipeline.FormatSyslog || !isWebProgram(ev.Program) {
		return
	}
	host, prog, pid := ev.Host, ev.Program, ev.PID
	// The access parser only reads the message, which the event's
	// strings already alias; it sets nothing when it refuses the line.
	msg := unsafe.Slice(unsafe.StringData(ev.Message), len(ev.Message))
	if d.accessParser().Parse(msg, ev) != nil {
		return
	}
	ev.Host, ev.Program, ev.PID = host, prog, pid
}

// accessParser returns the parser of access lines in syslog, made at its
// first use.
func (d *Decoder) accessParser() accessParser {
	if d.access == nil {
		if d.web.Layout != nil {
			d.access = d.web.Layout.Parser()
		} else {
			d.access = nginx.New()
		}
		d.access.SetRealIPFrom(d.web.RealIP)
	}
	return d.access
}
