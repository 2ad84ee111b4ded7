package sources

import (
	"bytes"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/sources/decision"
	"github.com/stockade-ids/stockade/sources/fail2ban"
	"github.com/stockade-ids/stockade/sources/nginx"
	"github.com/stockade-ids/stockade/sources/plain"
	"github.com/stockade-ids/stockade/sources/suricata"
	"github.com/stockade-ids/stockade/sources/syslog"
)

// sniffers in order of specificity: on a tie the more specific format wins
// (a fail2ban log line must not pass for syslog, an eve line for anything).
var sniffers = [...]struct {
	format pipeline.Format
	sniff  func([]byte) bool
}{
	{pipeline.FormatEve, suricata.SniffEve},
	{pipeline.FormatFastLog, suricata.SniffFast},
	{pipeline.FormatFail2ban, fail2ban.Sniff},
	{pipeline.FormatDecision, decision.Sniff},
	{pipeline.FormatNginx, nginx.Sniff},
	{pipeline.FormatSyslog, syslog.Sniff},
	// Last: many formats start with a timestamp; this is the one that
	// only does.
	{pipeline.FormatPlain, plain.Sniff},
}

// DetectLines is how many non-empty lines detection looks at: once it has
// seen that many, more lines do not change its verdict.
const DetectLines = 20

// Sniffer detects a format from the first lines of a log, fed to it as
// they come: each line votes for the formats it looks like, and the format
// with most votes wins. A format needs a majority of the lines looked at, so
// a file of garbage with one syslog-looking line is not taken for syslog.
type Sniffer struct {
	votes [len(sniffers)]int
	n     int
	// web counts the lines that are an access line or start with a
	// timestamp (an error-log line): a web server's mixed output.
	web int
}

// Line votes with one line (without its '\n'). Blank lines do not vote; it
// reports whether the line voted.
func (s *Sniffer) Line(line []byte) bool {
	if s.n >= DetectLines {
		return false
	}
	line = bytes.TrimRight(line, "\r")
	if len(bytes.TrimSpace(line)) == 0 {
		return false
	}
	s.n++
	web := false
	for i, sn := range sniffers {
		if sn.sniff(line) {
			s.votes[i]++
			web = web || sn.format == pipeline.FormatNginx || sn.format == pipeline.FormatPlain
		}
	}
	if web {
		s.web++
	}
	return true
}

// Write votes with the lines of b; a last line without its '\n' (one cut
// by a peek) votes too.
func (s *Sniffer) Write(b []byte) {
	for len(b) > 0 && !s.Full() {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		s.Line(line)
	}
}

// Lines is how many lines voted.
func (s *Sniffer) Lines() int { return s.n }

// Full reports whether DetectLines lines voted: the verdict is final.
func (s *Sniffer) Full() bool { return s.n >= DetectLines }

// Format is the verdict so far: FormatUnknown while no format has a
// majority.
//
// Plain, the last sniffer, is the fallback: it wins only when no other
// format has a majority, even with more votes (every timestamped line votes
// for it, so a proxy's access log with a few error lines in it has more
// plain votes than access ones).
func (s *Sniffer) Format() pipeline.Format {
	if s.n == 0 {
		return pipeline.FormatUnknown
	}
	best, bestVotes := pipeline.FormatUnknown, 0
	for i, sn := range sniffers[:len(sniffers)-1] {
		if s.votes[i] > bestVotes {
			best, bestVotes = sn.format, s.votes[i]
		}
	}
	if bestVotes*2 > s.n {
		return best
	}
	plainVotes := s.votes[len(sniffers)-1]
	if plainVotes*2 > s.n {
		return sniffers[len(sniffers)-1].format
	}
	// A web server's access and error lines, neither a majority but
	// together one: an access log, whose decoder reads each error-log
	// line as one (Decoder.mixed), provided there are as many access
	// lines as error lines. A file mostly of error lines stays an error
	// log, whose access-looking lines a client may have written.
	if nginxVotes := s.votes[nginxSniffer]; s.web*2 > s.n && nginxVotes > 0 && nginxVotes >= plainVotes {
		return pipeline.FormatNginx
	}
	return pipeline.FormatUnknown
}

// nginxSniffer is the access-log sniffer's index in sniffers.
const nginxSniffer = 4

// Detect guesses the format of a log from its first bytes (see Sniffer).
func Detect(head []byte) pipeline.Format {
	var s Sniffer
	s.Write(head)
	return s.Format()
}

// WithHomeNet gives p the home net when it chooses the side of an alert
// (Suricata's parsers) and returns p.
func WithHomeNet(p pipeline.Parser, h suricata.HomeNet) pipeline.Parser {
	if hp, ok := p.(interface{ SetHomeNet(suricata.HomeNet) }); ok {
		hp.SetHomeNet(h)
	}
	return p
}

// NewParser returns the parser for a format. ref bounds syslog year
// inference; loc is the zone of zone-less timestamps (nil: time.Local).
func NewParser(f pipeline.Format, ref time.Time, loc *time.Location) pipeline.Parser {
	switch f {
	case pipeline.FormatSyslog:
		return syslog.New(ref, loc)
	case pipeline.FormatNginx:
		return nginx.New()
	case pipeline.FormatFastLog:
		return suricata.NewFast(loc)
	case pipeline.FormatEve:
		return suricata.NewEve(loc)
	case pipeline.FormatFail2ban:
		return fail2ban.New(loc)
	case pipeline.FormatDecision:
		return decision.New()
	case pipeline.FormatPlain:
		return plain.New(loc)
	}
	return nil
}
