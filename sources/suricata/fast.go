package suricata

import (
	"bytes"
	"net/netip"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

var (
	errFastTime     = pipeline.Bad("bad timestamp")
	errFastSig      = pipeline.Bad("no signature")
	errFastPriority = pipeline.Bad("no priority")
	errFastProto    = pipeline.Bad("no protocol")
	errFastAddr     = pipeline.Bad("bad address")
)

// FastParser parses Suricata's fast.log:
//
//	11/08/2025-22:00:01.123456  [**] [1:2001219:20] ET SCAN Potential SSH Scan [**] [Classification: Attempted Information Leak] [Priority: 2] {TCP} 198.51.100.9:4711 -> 192.0.2.10:22
type FastParser struct {
	loc   *time.Location
	home  HomeNet
	heads headCache
	last  lastSecond
}

// lastSecond is the last timestamp read, up to its seconds, and its time:
// the lines of one second (most of a busy sensor's) reuse it instead of
// reading the date and asking the zone again.
type lastSecond struct {
	stamp [19]byte
	n     int // bytes of stamp used, 0 before the first
	at    time.Time
}

// time is fastTime, remembering the last second.
func (c *lastSecond) time(b []byte, loc *time.Location) (time.Time, int, bool) {
	if c.n > 0 && len(b) >= c.n && string(b[:c.n]) == string(c.stamp[:c.n]) {
		// The same bytes up to the seconds read the same way (the year's
		// width is decided within them); only the fraction is new.
		return withFraction(c.at, b, c.n)
	}
	at, i, ok := fastSecond(b, loc)
	if !ok {
		return time.Time{}, 0, false
	}
	c.n = copy(c.stamp[:], b[:i])
	c.at = at
	return withFraction(at, b, i)
}

// NewFast returns a fast.log parser reading timestamps in loc, the zone of
// the host Suricata runs on (fast.log does not say); nil means time.Local.
func NewFast(loc *time.Location) *FastParser {
	if loc == nil {
		loc = time.Local
	}
	return &FastParser{loc: loc}
}

// SetHomeNet sets the network the sensor protects: see HomeNet.
func (p *FastParser) SetHomeNet(h HomeNet) { p.home = h }

var (
	sepStars     = []byte("[**] ")
	sepArrow     = []byte(" -> ")
	tagPriority  = []byte("[Priority: ")
	tagClass     = []byte("[Classification: ")
	tagRawPacket = []byte("[Raw pkt: ")
)

// Parse implements pipeline.Parser.
//
// The message is free text from the rule, and may hold brackets, braces,
// arrows and even "[**]", so the line is taken apart from both ends: the
// fixed head (time, action, [gid:sid:rev]) from the left, the fixed tail
// ({proto} src -> dst, [Priority: n], the optional [Classification: c] and
// the closing [**]) from the right, each time at the last occurrence of its
// marker; what remains between them is the message.
func (p *FastParser) Parse(line []byte, ev *pipeline.Event) error {
	line = trimCR(line)
	t, n, ok := p.last.time(line, p.loc)
	if !ok {
		return errFastTime
	}
	rest := line[n:]
	if len(rest) == 0 || rest[0] != ' ' {
		return errFastSig
	}
	for len(rest) > 0 && rest[0] == ' ' {
		rest = rest[1:]
	}

	// Suricata marks an alert whose rule drops: [Drop] when it dropped the
	// packet (inline), [wDrop] when it would have (watching only). eve.json
	// calls the first "blocked" and the second "allowed" (the packet went
	// through); fast.log reads the same, so both files agree on Action.
	action := ""
	if bytes.HasPrefix(rest, []byte("[Drop] ")) {
		action, rest = "blocked", rest[len("[Drop] "):]
	} else if bytes.HasPrefix(rest, []byte("[wDrop] ")) {
		action, rest = "allowed", rest[len("[wDrop] "):]
	}

	if !bytes.HasPrefix(rest, sepStars) || len(rest) < 6 || rest[5] != '[' {
		return errFastSig
	}
	rest = rest[6:]
	gid, rest, ok := fastNum(rest, ':')
	if !ok {
		return errFastSig
	}
	sid, rest, ok := fastNum(rest, ':')
	if !ok {
		return errFastSig
	}
	rev, rest, ok := fastNum(rest, ']')
	if !ok || len(rest) == 0 || rest[0] != ' ' {
		return errFastSig
	}
	rest = rest[1:]
	if len(rest) == 0 {
		return errFastSig
	}

	// A decoder event on a packet that is not IP has no addresses: Suricata
	// writes a hex dump instead, and there is nobody to ban.
	if rest[len(rest)-1] == ']' && bytes.Contains(rest, tagRawPacket) {
		return pipeline.ErrSkip
	}

	arrow := lastIndex(rest, sepArrow, 2)
	if arrow < 0 {
		return errFastAddr
	}
	dst := rest[arrow+len(sepArrow):]
	open := lastByte(rest[:arrow], '{')
	if open < 0 {
		return errFastProto
	}
	closing := bytes.IndexByte(rest[open:arrow], '}')
	if closing < 0 || open+closing+1 >= arrow || rest[open+closing+1] != ' ' {
		return errFastProto
	}
	protoTok := rest[open+1 : open+closing]
	src := rest[open+closing+2 : arrow]

	// head is now "message [**] [Classification: c] [Priority: n] ".
	h, err := p.heads.read(sid, rest[:open])
	if err != nil {
		return err
	}
	msg, class := h.texts(rest)

	proto, protoKey, ok := parseProto(protoTok)
	if !ok {
		return errFastProto
	}
	srcAddr, srcPort, ok := hostPort(src)
	if !ok {
		return errFastAddr
	}
	dstAddr, dstPort, ok := hostPort(dst)
	if !ok {
		return errFastAddr
	}

	ev.Time = t
	ev.Format = pipeline.FormatFastLog
	ev.Line = pipeline.UnsafeString(line)
	ev.Program = "suricata"
	ev.Action = action
	ev.GID, ev.SID, ev.Rev = gid, sid, rev
	ev.Signature = msg
	ev.Classification = class
	ev.Priority = h.prio
	ev.Proto = proto
	ev.SrcAddr, ev.SrcPort = srcAddr, srcPort
	ev.DstAddr, ev.DstPort = dstAddr, dstPort
	// fast.log does not say which side attacked, nor the flow's direction:
	// the home net, the rule's class and name, then the ports decide
	// (rules written with the target keyword are better read from
	// eve.json). Nor does it say whether a TCP handshake completed: only a
	// protocol without one counts as spoofable.
	sides := alertSides{
		proto: protoKey, src: srcAddr, dst: dstAddr, sport: srcPort, dport: dstPort,
		signature: ev.Signature, class: ev.Classification,
		text: &h.sides,
	}
	ev.Addr, ev.SideReason = sides.choose(&p.home)
	ev.Spoofable = spoofable(protoKey, unknownFlow)
	ev.Fingerprint = fingerprint(ev, protoKey)
	return nil
}

// nullText maps the "(null)" that glibc's printf writes for the missing msg
// or classtype of a rule to the empty string eve.json has for it.
func nullText(b []byte) string {
	if string(b) == "(null)" {
		return ""
	}
	return pipeline.UnsafeString(b)
}

// fastTime reads MM/DD/YYYY-hh:mm:ss.uuuuuu, or the two-digit year of
// Suricata before 1.0. It returns the bytes used.
func fastTime(b []byte, loc *time.Location) (time.Time, int, bool) {
	at, i, ok := fastSecond(b, loc)
	if !ok {
		return time.Time{}, 0, false
	}
	return withFraction(at, b, i)
}

// fastSecond reads fastTime's timestamp up to its seconds, which end at
// the returned index: 19, or 17 with a two-digit year.
func fastSecond(b []byte, loc *time.Location) (time.Time, int, bool) {
	if len(b) < 17 || b[2] != '/' || b[5] != '/' {
		return time.Time{}, 0, false
	}
	month, ok1 := num2(b)
	day, ok2 := num2(b[3:])
	var year int
	var ok3 bool
	i := 6
	if b[8] == '-' {
		year, ok3 = num2(b[6:])
		year += 2000
		i = 8
	} else {
		year, ok3 = num4(b[6:])
		i = 10
	}
	if !ok1 || !ok2 || !ok3 || len(b) < i+9 || b[i] != '-' || b[i+3] != ':' || b[i+6] != ':' {
		return time.Time{}, 0, false
	}
	hour, ok1 := num2(b[i+1:])
	min, ok2 := num2(b[i+4:])
	sec, ok3 := num2(b[i+7:])
	if !ok1 || !ok2 || !ok3 || !validDate(year, month, day, hour, min, sec) {
		return time.Time{}, 0, false
	}
	return time.Date(year, time.Month(month), day, hour, min, sec, 0, loc), i + 9, true
}

// withFraction adds the optional ".uuuuuu" at b[i:] to at, the time of the
// whole second: time.Date's own result for those nanoseconds, bit for bit
// (nanoseconds below a second never reach the seconds time.Date looks the
// zone up by).
func withFraction(at time.Time, b []byte, i int) (time.Time, int, bool) {
	if i < len(b) && b[i] == '.' {
		nsec, n := fraction(b[i+1:])
		if n == 0 {
			return time.Time{}, 0, false
		}
		return at.Add(time.Duration(nsec)), i + 1 + n, true
	}
	return at, i, true
}

// fastNum reads one to twelve digits (atoi's) up to the byte end, a
// non-digit, in one pass.
func fastNum(b []byte, end byte) (int, []byte, bool) {
	n, i := 0, 0
	for ; i < len(b) && i <= 12; i++ {
		c := b[i] - '0'
		if c > 9 {
			break
		}
		n = n*10 + int(c)
	}
	if i == 0 || i > 12 || i >= len(b) || b[i] != end {
		return 0, b, false
	}
	return n, b[i+1:], true
}

// hostPort reads an address as fast.log writes it:
//
//	192.0.2.1:80                                  IPv4 and port
//	192.0.2.1                                     no port (older or other writers)
//	[2001:db8::1]:80                              bracketed IPv6 and port
//	2001:0db8:0000:0000:0000:0000:0000:0001:80    Suricata's fixed eight-group IPv6, then the port
//	2001:db8::1                                   IPv6 without port
//
// The unbracketed IPv6-and-port form is only unambiguous because Suricata
// prints IPv6 in full, eight groups and seven colons: an eighth colon with
// no "::" cannot belong to an address, so the port follows it. A compressed
// address with a port appended (2001:db8::1:80) would read as an address;
// no Suricata version writes that.
func hostPort(b []byte) (a netip.Addr, port int, ok bool) {
	if a, port, ok = hostPort4(b); ok {
		return a, port, true
	}
	if a, port, ok = hostPort6(b); ok {
		return a, port, true
	}
	if len(b) == 0 {
		return a, 0, false
	}
	host, portText := b, []byte(nil)
	if b[0] == '[' {
		end := bytes.IndexByte(b, ']')
		if end < 0 {
			return a, 0, false
		}
		host = b[1:end]
		switch rest := b[end+1:]; {
		case len(rest) == 0:
		case rest[0] == ':':
			portText = rest[1:]
		default:
			return a, 0, false
		}
	} else {
		// One pass for the colons: how many, the last, and whether two
		// touch (an IPv6 "::"). last starts at -2: at -1, a colon at 0
		// was taken for the second of a pair.
		colons, last, double := 0, -2, false
		for i, c := range b {
			if c == ':' {
				double = double || last == i-1
				colons, last = colons+1, i
			}
		}
		if colons == 1 || (colons == 8 && !double) {
			host, portText = b[:last], b[last+1:]
		}
	}
	if portText != nil {
		if port, ok = atoi(portText); !ok || port > 65535 {
			return a, 0, false
		}
	}
	if a, ok = parseIPv4(host); ok {
		return a, port, true
	}
	a, ok = pipeline.ParseAddr(pipeline.UnsafeString(host))
	return a, port, ok
}

// hostPort4 is hostPort for the dotted quad and port (or the quad alone)
// that fast.log writes for almost every address, read in one pass where
// hostPort counts the colons, then reads the address and the port. Not ok
// is "not this form", left to hostPort's general reading, which then
// decides as it always did: what hostPort4 takes is a quad that
// parseIPv4 takes and at most one colon, which hostPort reads the same
// way.
func hostPort4(b []byte) (netip.Addr, int, bool) {
	var ip [4]byte
	i := 0
	// A field is one to three digits, no leading zero, at most 255, as
	// parseIPv4 takes it; unrolled, where a loop's turn a byte with its
	// tests of what came before cost two thirds of the reading.
	for f := range ip {
		if f > 0 {
			if i >= len(b) || b[i] != '.' {
				return netip.Addr{}, 0, false
			}
			i++
		}
		if i >= len(b) || b[i]-'0' > 9 {
			return netip.Addr{}, 0, false
		}
		v := int(b[i] - '0')
		i++
		if i < len(b) && b[i]-'0' <= 9 {
			if v == 0 {
				return netip.Addr{}, 0, false // a leading zero
			}
			v = v*10 + int(b[i]-'0')
			i++
			if i < len(b) && b[i]-'0' <= 9 {
				v = v*10 + int(b[i]-'0')
				i++
				if v > 255 || i < len(b) && b[i]-'0' <= 9 {
					return netip.Addr{}, 0, false
				}
			}
		}
		ip[f] = byte(v)
	}
	port, ok := fastPort(b, i)
	if !ok {
		return netip.Addr{}, 0, false
	}
	return netip.AddrFrom4(ip), port, true
}

// hostPort6 is hostPort for the IPv6 address Suricata writes, eight
// groups of four hex digits, and its port, read in one pass where
// netip.ParseAddr reads every form of IPv6. Not ok is left to hostPort,
// as for hostPort4: what hostPort6 takes has seven or eight colons and no
// "::", which hostPort reads the same way.
func hostPort6(b []byte) (netip.Addr, int, bool) {
	const groups = 8*5 - 1
	if len(b) < groups || b[4] != ':' {
		return netip.Addr{}, 0, false
	}
	var ip [16]byte
	for g := range 8 {
		o := g * 5
		if g > 0 && b[o-1] != ':' {
			return netip.Addr{}, 0, false
		}
		v := 0
		for _, c := range b[o : o+4] {
			h := hexDigit(c)
			if h < 0 {
				return netip.Addr{}, 0, false
			}
			v = v<<4 | h
		}
		ip[2*g], ip[2*g+1] = byte(v>>8), byte(v)
	}
	port, ok := fastPort(b, groups)
	if !ok {
		return netip.Addr{}, 0, false
	}
	// pipeline.ParseAddr's canonical form: ::ffff:a.b.c.d is IPv4.
	return netip.AddrFrom16(ip).Unmap(), port, true
}

func hexDigit(c byte) int {
	switch {
	case c-'0' <= 9:
		return int(c - '0')
	case c|0x20-'a' <= 5:
		return int(c|0x20-'a') + 10
	}
	return -1
}

// fastPort reads the port after an address that ends at b[i]: nothing,
// or ":" and one to five digits up to 65535. Anything longer, or other,
// is not ok: hostPort's to read or refuse.
func fastPort(b []byte, i int) (int, bool) {
	if i == len(b) {
		return 0, true
	}
	if b[i] != ':' || len(b)-i < 2 || len(b)-i > 6 {
		return 0, false
	}
	port := 0
	for _, c := range b[i+1:] {
		if c-'0' > 9 {
			return 0, false
		}
		port = port*10 + int(c-'0')
	}
	return port, port <= 65535
}

// parseIPv4 reads the dotted quad that fast.log writes for almost every
// address in the one pass netip.ParseAddr's checks need; anything else
// (IPv6, a leading zero, a field over 255) is not ok, and left to
// netip.ParseAddr, which decides it as it always did.
func parseIPv4(b []byte) (netip.Addr, bool) {
	var (
		ip     [4]byte
		field  int
		digits int
		v      int
	)
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			if digits == 1 && v == 0 {
				return netip.Addr{}, false // a leading zero: netip's word
			}
			v = v*10 + int(c-'0')
			digits++
			if v > 255 {
				return netip.Addr{}, false
			}
		case c == '.' && digits > 0 && field < 3:
			ip[field] = byte(v)
			field, digits, v = field+1, 0, 0
		default:
			return netip.Addr{}, false
		}
	}
	if field != 3 || digits == 0 {
		return netip.Addr{}, false
	}
	ip[3] = byte(v)
	return netip.AddrFrom4(ip), true
}

// lastIndex is bytes.LastIndex for the markers of fast.log, which sit near
// the end of what is searched: it steps back over the occurrences of one
// rare byte of sep, sep[anchor], where bytes.LastIndex would hash its way
// through the line (a third of the parse time).
func lastIndex(b, sep []byte, anchor int) int {
	c := sep[anchor]
	for end := len(b); ; {
		i := lastByte(b[:end], c)
		if i < 0 {
			return -1
		}
		if start := i - anchor; start >= 0 && bytes.HasPrefix(b[start:], sep) {
			return start
		}
		end = i
	}
}

func trimCR(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] == '\r' {
		return b[:len(b)-1]
	}
	return b
}
