package rules

import (
	"testing"

	"github.com/stockade-ids/stockade/pipeline"
)

// TestMatchSourceRotated: a rule's sources match the rotated and gzipped
// names logrotate gives the same log (numbered, dated, compressed), so an
// imported jail's logpath reads the archive of its log too; other names
// that merely begin like it do not.
func TestMatchSourceRotated(t *testing.T) {
	globs := []string{"/var/log/auth.log", "auth.log", "*access.log"}
	for _, src := range []string{
		"/var/log/auth.log", "auth.log", "/srv/archive/auth.log.1", "auth.log.2.gz",
		"/srv/archive/auth.log-20251108.gz", "auth.log-20251108", "auth.log-2025110823",
		"auth.log.gz", "/var/log/nginx/site-access.log.3.gz", "access.log-2025-11-08.gz",
	} {
		if !matchSource(globs, src) {
			t.Errorf("%s: no match, want one (a rotated name of a source)", src)
		}
	}
	for _, src := range []string{
		"auth.log.bak", "auth.logger", "auth.log.1.bak", "/var/log/syslog.1", "auth.log-1x", "auth.log.",
		"auth.log-", "access.log.gz.1.gz", "20251108",
	} {
		if matchSource(globs, src) {
			t.Errorf("%s: matched, want no match", src)
		}
	}
}

// TestMatchSourceTail: a relative glob with a slash matches a path's last
// elements, wherever the file lies; an absolute glob only the whole path.
func TestMatchSourceTail(t *testing.T) {
	globs := []string{"lsws/logs/error.log*", "/srv/x/*.log"}
	for _, src := range []string{
		"/usr/local/lsws/logs/error.log", "/opt/lsws/logs/error.log.1", "lsws/logs/error.log",
		"/usr/local/lsws/logs/error.log-20251108.gz", "/srv/x/a.log",
	} {
		if !matchSource(globs, src) {
			t.Errorf("%s: no match, want one", src)
		}
	}
	for _, src := range []string{
		"/usr/local/lsws/admin/logs/error.log", "/var/log/nginx/error.log", "logs/error.log",
		"error.log", "/tmp/srv/x/a.log", "/srv/x/y/a.log",
	} {
		if matchSource(globs, src) {
			t.Errorf("%s: matched, want no match", src)
		}
	}
}

// TestSetReads: Reads tells whether any rule sees a file's events, by
// format and by its sources.
func TestSetReads(t *testing.T) {
	p, err := Parse("t.yaml", []byte(`pack: t
rules:
  - name: gate
    formats: [syslog]
    sources: [gate.log]
    match: line
    failregex: ['denied from <HOST>']
    ban: 1h
  - name: web
    formats: [nginx]
    when: status == 404
    ban: 1h
`))
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSet(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		format pipeline.Format
		src    string
		want   bool
	}{
		{pipeline.FormatSyslog, "/x/gate.log", true},
		{pipeline.FormatSyslog, "/x/gate.log.2.gz", true},
		{pipeline.FormatSyslog, "/x/auth.log", false},
		{pipeline.FormatNginx, "/x/anything.log", true},
		{pipeline.FormatEve, "/x/gate.log", false},
	} {
		if got := s.Reads(c.format, c.src); got != c.want {
			t.Errorf("Reads(%v, %s) = %v, want %v", c.format, c.src, got, c.want)
		}
	}
}
