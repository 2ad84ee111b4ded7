package nginx

import (
	"bytes"
	"strings"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

// errLayout: the line does not follow the layout (the source's log_format, or Nginx Proxy Manager's).
var errLayout = pipeline.Bad("does not match the layout")

// LayoutParser parses the lines of one compiled log format. Like every
// pipeline.Parser it serves one source.
type LayoutParser struct {
	l *Layout
	p Parser // the zone cache and the trusted proxies
}

// Parser returns a parser of l's lines.
func (l *Layout) Parser() *LayoutParser { return &LayoutParser{l: l} }

// SetRealIPFrom sets the proxies whose forwarded-for list is believed.
func (lp *LayoutParser) SetRealIPFrom(r RealIP) { lp.p.realIP = r }

var _ pipeline.Parser = (*LayoutParser)(nil)

// Parse implements pipeline.Parser. It finds the literals of the format in
// order. A field between quotes runs to its closing quote (honouring
// backslash escapes), so that what a client writes there cannot end it
// early and move the fields after; another field runs to an occurrence of
// the next literal, the first one that lets the rest of the line match,
// where an address field must hold an address and a time field a time.
// So a forwarded-for list with spaces written before $remote_addr is read
// whole, and a forged `VICTIM -` in it cannot become the address.
func (lp *LayoutParser) Parse(line []byte, ev *pipeline.Event) error {
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if len(line) == 0 {
		return errEmpty
	}
	var vals [fieldAgent + 1][]byte
	budget := matchBudget
	if !lp.match(line, 0, 0, &vals, &budget) {
		return errLayout
	}
	return lp.fill(line, &vals, ev)
}

// matchBudget bounds the split points tried per line, so that a line
// full of the literals a format repeats costs little.
const matchBudget = 64

func (lp *LayoutParser) match(line []byte, k, i int, vals *[fieldAgent + 1][]byte, budget *int) bool {
	pt := lp.l.parts[k]
	if !strings.HasPrefix(pipeline.UnsafeString(line[i:]), pt.lit) {
		return false
	}
	i += len(pt.lit)
	if !pt.set {
		return true // anything after the format's end is tolerated
	}
	next := lp.l.parts[k+1].lit
	try := func(end int) bool {
		v := line[i:end]
		if !plausible(pt.field, v) {
			return false
		}
		vals[pt.field] = v
		return lp.match(line, k+1, end, vals, budget)
	}
	switch {
	case strings.HasSuffix(pt.lit, `"`) && strings.HasPrefix(next, `"`):
		end := closeQuote(line, i)
		return end >= 0 && try(end)
	case next == "":
		return try(len(line))
	}
	for from := i; ; {
		j := bytes.Index(line[from:], []byte(next))
		if *budget--; j < 0 || *budget < 0 {
			return false
		}
		if try(from + j) {
			return true
		}
		from += j + 1
	}
}

// plausible reports whether v can be the value of a field: an address
// field holds an address, $time_local its fixed length, anything else
// anything.
func plausible(f field, v []byte) bool {
	switch f {
	case fieldAddr:
		_, ok := pipeline.ParseAddr(pipeline.UnsafeString(v))
		return ok
	case fieldTimeLocal:
		return len(v) == timeLen
	}
	return true
}

func (lp *LayoutParser) fill(line []byte, vals *[fieldAgent + 1][]byte, ev *pipeline.Event) error {
	peer, xff := vals[fieldAddr], vals[fieldXFF]
	if l := vals[fieldXFFPeer]; len(l) > 0 && peer == nil {
		j := bytes.LastIndexAny(l, ", ")
		peer, xff = l[j+1:], l[:max(j, 0)]
	}
	addr, ok := pipeline.ParseAddr(pipeline.UnsafeString(peer))
	if !ok {
		return errAddr
	}
	t, ok := lp.time(vals)
	if !ok {
		return errTime
	}
	status := 0
	if s := vals[fieldStatus]; s != nil && !isDash(s) { // `-`: no answer
		if len(s) != 3 {
			return errStatus
		}
		if status, ok = digits3(s); !ok {
			return errStatus
		}
	}
	var nbytes int64
	if b := vals[fieldBytes]; b != nil {
		n, e, ok := parseBytes(b, 0)
		if !ok || e != len(b) {
			return errBytes
		}
		nbytes = n
	}
	ev.Time = t
	ev.Format = pipeline.FormatNginx
	ev.Program = "nginx"
	ev.Line = pipeline.UnsafeString(line)
	ev.Message = ev.Line
	ev.Addr = lp.p.realIP.Client(addr, xff)
	ev.User = dash(vals[fieldUser])
	if r := vals[fieldRequest]; r != nil {
		ev.Method, ev.Path, ev.HTTPVersion = splitRequest(r)
	} else {
		ev.Method = dash(vals[fieldMethod])
		ev.Path = dash(vals[fieldURI])
		ev.HTTPVersion = dash(vals[fieldProto])
	}
	ev.Status = status
	ev.Bytes = nbytes
	ev.Referer = dash(vals[fieldReferer])
	ev.UserAgent = dash(vals[fieldAgent])
	return nil
}

// time reads the first time field the format has.
func (lp *LayoutParser) time(vals *[fieldAgent + 1][]byte) (time.Time, bool) {
	if b := vals[fieldTimeLocal]; len(b) == timeLen {
		return lp.p.parseTime(b)
	}
	if b := vals[fieldTimeISO]; b != nil {
		t, err := time.Parse(time.RFC3339, pipeline.UnsafeString(b))
		return t, err == nil && t.Year() >= 1970
	}
	if b := vals[fieldTimeMsec]; b != nil {
		return parseMsec(b)
	}
	return time.Time{}, false
}

// parseMsec reads $msec: seconds since the epoch with milliseconds.
func parseMsec(b []byte) (time.Time, bool) {
	var sec, ms int64
	i := 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		if i == 12 {
			return time.Time{}, false
		}
		sec = sec*10 + int64(b[i]-'0')
	}
	if i == 0 {
		return time.Time{}, false
	}
	if i < len(b) {
		if b[i] != '.' || len(b)-i-1 != 3 {
			return time.Time{}, false
		}
		for _, c := range b[i+1:] {
			if c < '0' || c > '9' {
				return time.Time{}, false
			}
			ms = ms*10 + int64(c-'0')
		}
	}
	return time.Unix(sec, ms*int64(time.Millisecond)).UTC(), true
}
