package sources

import (
	"errors"
	"maps"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/sources/nginx"
	"github.com/stockade-ids/stockade/sources/plain"
	"github.com/stockade-ids/stockade/sources/suricata"
)

// Outcome is what a line became.
type Outcome uint8

const (
	// Event: the line is an event, in the Event given to Decode.
	Event Outcome = iota
	// Skip: a well-formed line that is not an event (an eve record that
	// is not an alert, a fail2ban line about a jail starting).
	Skip
	// Bad: a line the parser refused, counted under its reason.
	Bad
)

// Reasons every reader counts besides the parsers' own.
const (
	ReasonTooLong    = "line too long"
	ReasonParseError = "parse error" // a parser error that gives no reason
	ReasonCutShort   = "cut short"   // the last line of a gzip archive that ends early
)

// Decoder turns lines into events: it parses each line with its format's
// parser, classifies it as an event, a skip or a bad line, and counts the
// outcome. Every source and tool decodes through one, so a line is an event
// or a bad line the same way in a file, a followed file, a listener, a bus,
// explain and pack tests.
//
// A Decoder is used by one goroutine; its Counter may be shared and read
// from any.
type Decoder struct {
	format pipeline.Format
	parser pipeline.Parser
	count  *Counter
	limit  int // longest line parsed; 0: no limit
	// rs is the parser when its year inference follows the clock (RFC 3164
	// syslog has no year), ref the reference last set.
	rs  refSetter
	ref time.Time
	// access parses the access lines that web servers send through syslog
	// (see liftAccess); realIP are the trusted proxies of this source.
	access accessParser
	web    Web
	// docker: lines are Docker json-file records (see SetDocker), unwrapped
	// into dockerBuf.
	docker    bool
	dockerBuf []byte
	// loc is the zone of zone-less times; errorLog reads the web
	// server's error-log lines in an access log (see mixed).
	loc      *time.Location
	errorLog *plain.Parser
}

// refSetter is a parser whose year inference takes a reference time.
type refSetter interface{ SetRef(time.Time) }

// NewDecoder returns a Decoder of format f; nil when f has no parser. ref
// bounds syslog year inference, loc is the zone of zone-less timestamps (nil:
// time.Local), c counts the outcomes (nil: a Counter of its own). It
// refuses lines over MaxLine.
func NewDecoder(f pipeline.Format, ref time.Time, loc *time.Location, c *Counter) *Decoder {
	p := NewParser(f, ref, loc)
	if p == nil {
		return nil
	}
	d := DecoderOf(p, f, c)
	d.ref, d.limit, d.loc = ref, MaxLine, loc
	return d
}

// DecoderOf returns a Decoder that parses with p, a parser of format f,
// with no limit on a line's length (its reader bounds them).
func DecoderOf(p pipeline.Parser, f pipeline.Format, c *Counter) *Decoder {
	if c == nil {
		c = new(Counter)
	}
	d := &Decoder{format: f, parser: p, count: c}
	d.rs, _ = p.(refSetter)
	return d
}

// SetHomeNet gives the parser the home net when it chooses the side of an
// alert (Suricata's parsers; see suricata.HomeNet).
func (d *Decoder) SetHomeNet(h suricata.HomeNet) { WithHomeNet(d.parser, h) }

// Web are a source's options for its web access logs.
type Web struct {
	// Layout is the source's log_format (nginx.Compile): its access lines
	// are read by it. nil reads the combined and common layouts and their
	// variants.
	Layout *nginx.Layout
	// RealIP are the trusted proxies (real_ip_from): a forwarded-for list
	// is believed only from them.
	RealIP nginx.RealIP
}

// Format is the format of a source whose format f was given (FormatUnknown:
// detect): a log_format makes it an access log unless a format was given,
// since no detection knows a custom layout.
func (w Web) Format(f pipeline.Format) pipeline.Format {
	if f == pipeline.FormatUnknown && w.Layout != nil {
		return pipeline.FormatNginx
	}
	return f
}

// SetWeb sets the source's web options: an access-log Decoder parses with
// the Layout when there is one, and so do the access lines that web
// servers send through syslog (see liftAccess).
func (d *Decoder) SetWeb(w Web) {
	d.web, d.access = w, nil
	if d.format == pipeline.FormatNginx && w.Layout != nil {
		d.parser = w.Layout.Parser()
	}
	if p, ok := d.parser.(realIPSetter); ok {
		p.SetRealIPFrom(w.RealIP)
	}
}

// realIPSetter is an access parser, which takes the trusted proxies.
type realIPSetter interface{ SetRealIPFrom(nginx.RealIP) }

// accessParser parses the access lines inside syslog messages.
type accessParser interface {
	pipeline.Parser
	realIPSetter
}

// Format is the format the Decoder parses.
func (d *Decoder) Format() pipeline.Format { return d.format }

// Parser is the Decoder's parser.
func (d *Decoder) Parser() pipeline.Parser { return d.parser }

// SetMaxLine sets the longest line parsed: longer ones are bad lines
// (ReasonTooLong). 0 means no limit, for readers that bound lines themselves.
func (d *Decoder) SetMaxLine(n int) { d.limit = n }

// Counter is where the Decoder counts.
func (d *Decoder) Counter() *Counter { return d.count }

// Decode parses line, without its line terminator, into ev (which the
// caller has reset) and counts what it became; for a bad line it also
// returns the reason. A line over the limit (see SetMaxLine) is bad
// without being parsed.
// The event's strings may alias line.
func (d *Decoder) Decode(line []byte, ev *pipeline.Event) (Outcome, string) {
	if d.limit > 0 && len(line) > d.limit {
		d.count.Bad(ReasonTooLong)
		return Bad, ReasonTooLong
	}
	if err := d.parse(line, ev); err != nil {
		return d.count.classify(err)
	}
	d.count.events.Add(1) // classify's first case, without the call per line
	return Event, ""
}

// parse parses a line: unwrapped first in a Docker log, and lifted to an
// access event when it is a web server's syslog line.
func (d *Decoder) parse(line []byte, ev *pipeline.Event) error {
	var t time.Time
	if d.docker {
		var err error
		if line, t, err = d.unwrap(line); err != nil {
			return err
		}
	}
	err := d.parser.Parse(line, ev)
	if err != nil && d.format == pipeline.FormatNginx {
		err = d.mixed(line, ev, err)
	}
	if err != nil {
		return err
	}
	if ev.Format == pipeline.FormatSyslog { // liftAccess's first test, without the call per line
		d.liftAccess(ev)
	}
	if d.docker {
		ev.Time = t
	}
	return nil
}

// DecodeChecked is Decode with a check of the parsed event: an error from
// check refuses the event as a bad line.
func (d *Decoder) DecodeChecked(line []byte, ev *pipeline.Event, check func(*pipeline.Event) error) (Outcome, string) {
	if d.limit > 0 && len(line) > d.limit {
		d.count.Bad(ReasonTooLong)
		return Bad, ReasonTooLong
	}
	err := d.parse(line, ev)
	if err == nil && check != nil {
		err = check(ev)
	}
	return d.count.classify(err)
}

// Follow moves year inference with the wall clock, so a reader that runs
// across New Year dates January lines in the new year. It reads now only
// for a parser that infers years, and sets a new reference when the clock
// moved by a second or more (or back).
func (d *Decoder) Follow(now func() time.Time) {
	if d.rs == nil {
		return
	}
	t := now()
	if dt := t.Sub(d.ref); dt >= time.Second || dt < 0 {
		d.rs.SetRef(t)
		d.ref = t
	}
}

// Counter counts lines by outcome. Readers count from their goroutine;
// Counts may be called from any.
type Counter struct {
	// Lines are not counted apart: every line is an event, a skip or a bad
	// line, so an event costs one atomic add.
	events, skipped atomic.Uint64

	// Bad lines are the rare path; their reasons come from the parsers'
	// fixed sets (and ReasonParseError for the rest), so the map is
	// bounded and a lock is enough.
	mu     sync.Mutex
	bad    map[string]uint64
	badSum uint64
}

func (c *Counter) classify(err error) (Outcome, string) {
	switch {
	case err == nil:
		c.events.Add(1)
		return Event, ""
	case err == pipeline.ErrSkip:
		c.skipped.Add(1)
		return Skip, ""
	}
	reason := ReasonParseError
	var bl *pipeline.BadLine
	if errors.As(err, &bl) {
		reason = bl.Reason
	}
	c.Bad(reason)
	return Bad, reason
}

// Bad counts a bad line, refused before or by its parser.
func (c *Counter) Bad(reason string) {
	c.mu.Lock()
	if c.bad == nil {
		c.bad = map[string]uint64{}
	}
	c.bad[reason]++
	c.badSum++
	c.mu.Unlock()
}

// add adds o's counts to c's; o is the caller's alone.
func (c *Counter) add(o *Counter) {
	c.events.Add(o.events.Load())
	c.skipped.Add(o.skipped.Load())
	if o.badSum == 0 {
		return
	}
	c.mu.Lock()
	if c.bad == nil {
		c.bad = map[string]uint64{}
	}
	for r, n := range o.bad {
		c.bad[r] += n
	}
	c.badSum += o.badSum
	c.mu.Unlock()
}

// reset forgets c's counts; c is the caller's alone.
func (c *Counter) reset() {
	c.events.Store(0)
	c.skipped.Store(0)
	clear(c.bad)
	c.badSum = 0
}

// Counts returns the counts so far.
func (c *Counter) Counts() Counts {
	// Events and skips first: a line counted between the loads shows in
	// neither, never twice.
	n := Counts{Events: c.events.Load(), Skipped: c.skipped.Load()}
	c.mu.Lock()
	n.Bad = maps.Clone(c.bad)
	bad := c.badSum
	c.mu.Unlock()
	if n.Bad == nil {
		n.Bad = map[string]uint64{}
	}
	n.Lines = n.Events + n.Skipped + bad
	return n
}

// Counts are what a Counter has counted.
type Counts struct {
	Lines   uint64            // lines decoded or refused: Events + Skipped + the sum of Bad
	Events  uint64            // lines that became events
	Skipped uint64            // well-formed lines that are not events
	Bad     map[string]uint64 // bad lines by reason
}

// BadLines returns the bad-line reasons sorted by count, then name.
func (c Counts) BadLines() []Reason {
	out := make([]Reason, 0, len(c.Bad))
	for r, n := range c.Bad {
		out = append(out, Reason{r, n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Reason < out[j].Reason
	})
	return out
}

// Reason is a bad-line reason and how often it occurred.
type Reason struct {
	Reason string
	Count  uint64
}
