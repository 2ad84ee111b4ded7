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
var sniffers = []struct {
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

// detectLines is how many non-empty lines detection looks at.
const detectLines = 20

// Detect guesses the format of a file from its first bytes: each of the
// first lines votes for the formats it looks like, and the format with most
// votes wins. A format needs a majority of the lines looked at, so a file of
// garbage with one syslog-looking line is not taken for syslog.
func Detect(head []byte) pipeline.Format {
	votes := make([]int, len(sniffers))
	n := 0
	for len(head) > 0 && n < detectLines {
		line := head
		i := bytes.IndexByte(head, '\n')
		if i >= 0 {
			line, head = head[:i], head[i+1:]
		} else {
			head = nil // a partial last line may be cut by the peek: still vote
		}
		line = bytes.TrimRight(line, "\r")
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		n++
		for i, s := range sniffers {
			if s.sniff(line) {
				votes[i]++
			}
		}
	}
	best, bestVotes := pipeline.FormatUnknown, 0
	for i, s := range sniffers {
		if votes[i] > bestVotes {
			best, bestVotes = s.format, votes[i]
		}
	}
	if n == 0 || bestVotes*2 <= n {
		return pipeline.FormatUnknown
	}
	return best
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
