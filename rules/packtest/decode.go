package packtest

import (
	"io"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/rules"
	"github.com/stockade-ids/stockade/sources"
)

// decoded is one input's events, decoded up front so that every line that
// does not parse fails the test before the engine runs; the merge reads
// them back as a pipeline.Iterator.
type decoded struct {
	evs  []pipeline.Event
	pos  []rules.Pos // the sample line of each event
	next int
}

func (d *decoded) Next(ev *pipeline.Event) error {
	if d.next == len(d.evs) {
		return io.EOF
	}
	*ev = d.evs[d.next]
	d.next++
	return nil
}

// decode decodes an input's lines as sources decode a log's. Every line
// must parse: a sample that its parser refuses proves nothing, so a bad
// line fails the test (lines the format skips, such as eve records that
// are not alerts, are fine).
func (t *Test) decode(in Input, ref time.Time, res *Result) *decoded {
	out := &decoded{}
	format := in.Format
	if format == pipeline.FormatUnknown {
		var sniff sources.Sniffer
		for _, l := range in.Lines {
			sniff.Line([]byte(l.Text))
		}
		if format = sniff.Format(); format == pipeline.FormatUnknown {
			res.Failures.Add(in.Pos, "cannot detect the format of these lines: add format: (syslog, nginx, fastlog, eve, fail2ban)")
			return out
		}
	}
	dec := sources.NewDecoder(format, ref, t.Loc, nil)
	if dec == nil {
		res.Failures.Add(in.Pos, "no parser for format %s", format)
		return out
	}
	for _, l := range in.Lines {
		var ev pipeline.Event
		switch o, reason := dec.Decode([]byte(l.Text), &ev); o {
		case sources.Skip:
			continue
		case sources.Bad:
			res.Failures.Add(l.Pos, "line does not parse as %s: %s", format, reason)
			continue
		}
		ev.Source = in.Source
		if ev.Line == "" {
			ev.Line = l.Text
		}
		out.evs = append(out.evs, ev.Clone())
		out.pos = append(out.pos, l.Pos)
	}
	return out
}
