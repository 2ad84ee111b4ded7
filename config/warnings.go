package config

import (
	"strings"

	"github.com/stockade-ids/stockade/internal/srcpos"
	"github.com/stockade-ids/stockade/sinks/nats"
)

// Warnings are what the daemon starts with but probably should not:
// each at its position, logged at start and reload and printed by
// `stockade check`, none refusing the file.
func (c *Daemon) Warnings() srcpos.Errors {
	var ws srcpos.Errors
	c.partitionWarnings(&ws)
	return ws
}

// partitions is the number of partitions the configuration shares the
// decisions into: nats_server's, else a partitioned NATS source's (0:
// none).
func (c *Daemon) partitions() int {
	if c.NATSServer != nil && c.NATSServer.Partitions > 0 {
		return c.NATSServer.Partitions
	}
	for _, s := range c.Sources {
		if s.NATS != nil && s.NATS.Partitions > 0 {
			return s.NATS.Partitions
		}
	}
	return 0
}

// partitionWarnings warns of a NATS sink whose decisions the partition
// mapping (stockade.decisions.*.*.* by its third wildcard) would not
// share out by target: with a subject of another shape no partitioned
// correlator reads them at all, and with {target} elsewhere (or another
// field last) the decisions about one address land in different
// partitions, so no correlator sees all of them (a fleet ban missed).
func (c *Daemon) partitionWarnings(ws *srcpos.Errors) {
	n := c.partitions()
	if n == 0 {
		return
	}
	for _, s := range c.Sinks {
		if s.NATS == nil {
			continue
		}
		subject := s.NATS.Subject
		if subject == "" {
			subject = nats.DefaultSubject
		}
		if why := partitionedSubject(subject); why != "" {
			ws.Add(s.Pos, "%s.nats.subject: %q %s; with %d partitions its decisions %s (use stockade.decisions.{origin}.{rule}.{target})",
				s.Path, subject, why, n, partitionEffect(why))
		}
	}
}

const (
	notMapped = "is not of the form stockade.decisions.<origin>.<rule>.<target>"
	notTarget = "does not end in {target}"
)

// partitionedSubject says why subject is not partitioned by target ("":
// it is).
func partitionedSubject(subject string) string {
	tok := strings.Split(subject, ".")
	switch {
	case len(tok) != 5 || tok[0] != "stockade" || tok[1] != "decisions":
		return notMapped
	case tok[4] != "{target}":
		return notTarget
	}
	return ""
}

func partitionEffect(why string) string {
	if why == notMapped {
		return "are not mapped to any partition: no partitioned correlator reads them"
	}
	return "are shared out by another token, not by address: one address's decisions land in different partitions and no correlator counts them all"
}
