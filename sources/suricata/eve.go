package suricata

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

var (
	errEveNotJSON   = pipeline.Bad("not json")
	errEveNoType    = pipeline.Bad("no event_type")
	errEveTime      = pipeline.Bad("bad timestamp")
	errEveAlert     = pipeline.Bad("bad alert")
	errEveAddr      = pipeline.Bad("bad address")
	errEveSignature = pipeline.Bad("no signature")
)

// EveParser parses Suricata's eve.json. Only alerts become events; every
// other record (flow, dns, http, tls, stats, ...) is ErrSkip, and since
// those are most of an eve.json they are recognised without decoding them.
type EveParser struct {
	// loc is the zone of timestamps written without an offset.
	loc  *time.Location
	home HomeNet
	// The zone of the last timestamp: eve.json writes one offset for a
	// whole run, so caching it keeps time.FixedZone's allocation off the
	// per-line path while Time keeps the offset it was written with.
	zoneOff int
	zone    *time.Location
	second  eveSecondCache
	texts   textCache
	// fullWalk (tests) walks an alert from its first member, as if
	// leadingHead had not read its head.
	fullWalk bool
}

// eveSecondCache is the last timestamp read up to its seconds, with its
// offset, and its time (see eveTime).
type eveSecondCache struct {
	stamp  [19]byte
	offset [6]byte
	n      int // 1 + the bytes of offset used; 0: nothing cached
	at     time.Time
}

// NewEve returns an eve.json parser reading timestamps written without a
// UTC offset in loc (nil: time.Local).
func NewEve(loc *time.Location) *EveParser {
	if loc == nil {
		loc = time.Local
	}
	return &EveParser{loc: loc}
}

// SetHomeNet sets the network the sensor protects: see HomeNet.
func (p *EveParser) SetHomeNet(h HomeNet) { p.home = h }

// Parse implements pipeline.Parser.
func (p *EveParser) Parse(line []byte, ev *pipeline.Event) error {
	line = trimCR(line)
	obj := trimSpace(line)
	if len(obj) < 2 || obj[0] != '{' || obj[len(obj)-1] != '}' {
		return errEveNotJSON
	}
	h, decided := leadingHead(obj)
	typ := h.eventType
	if !decided {
		var found, ok bool
		if typ, found, ok = eventType(obj); !found || !ok {
			return errEveNoType
		}
	}
	if string(typ) != "alert" {
		return pipeline.ErrSkip
	}
	if p.fullWalk {
		h = head{} // leadingHead gives head{} whenever it leaves decided false
	}
	return p.alert(line, obj, h, ev)
}

var keyEventType = []byte(`"event_type"`)

// leadingMembers bounds the members leadingHead reads before
// event_type: Suricata writes at most three (flow_id, in_iface, pcap_cnt)
// after the timestamp.
const leadingMembers = 4

// head is what leadingHead read of a record: its event_type, its
// timestamp, and where the member after event_type starts (at the comma
// or closing brace after its value).
type head struct {
	eventType, timestamp []byte
	next                 int
}

// leadingHead is eventType's fast path for the shape Suricata writes,
// which is most records of an eve.json: the timestamp first, then the
// members it writes before event_type (flow_id, in_iface, pcap_cnt), then
// event_type. It reads that shape byte by byte from the object's first
// byte, as JSON: the strings hold no escape (so no quote), the numbers are
// digits, and no white space or other member comes between. event_type is
// then a member name of the outer object and the first one of that name,
// and no "event_type" inside a value can be taken for it. Any other shape
// (white space, an escape, another member or order, a nested value) leaves
// decided false, and eventType, which is right for every shape, decides:
// the fast path is only ever faster, never the judge of a forged record.
//
// It gives what else it read too: an alert's walk goes on from there,
// since the members it passed over are all read (the timestamp) or
// skipped (the others) as the walk would.
func leadingHead(b []byte) (h head, decided bool) {
	const open = `{"timestamp":"`
	if len(b) < len(open) || string(b[:len(open)]) != open {
		return head{}, false
	}
	i := plainStringEnd(b, len(open))
	if i >= 0 {
		h.timestamp = b[len(open) : i-1]
	}
	for range leadingMembers {
		if i < 0 || len(b)-i < len(`,"event_type":"`) {
			return head{}, false
		}
		// The constant comparisons are written out where they are made:
		// so the compiler makes them a few word loads, not calls.
		switch rest := b[i:]; {
		case string(rest[:len(`,"event_type":"`)]) == `,"event_type":"`:
			start := i + len(`,"event_type":"`)
			end := plainStringEnd(b, start)
			if end < 0 {
				return head{}, false
			}
			h.eventType, h.next = b[start:end-1], end
			return h, true
		case string(rest[:len(`,"flow_id":`)]) == `,"flow_id":`:
			i = digitsEnd(b, i+len(`,"flow_id":`))
		case string(rest[:len(`,"in_iface":"`)]) == `,"in_iface":"`:
			i = plainStringEnd(b, i+len(`,"in_iface":"`))
		case string(rest[:len(`,"pcap_cnt":`)]) == `,"pcap_cnt":`:
			i = digitsEnd(b, i+len(`,"pcap_cnt":`))
		default:
			return head{}, false
		}
	}
	return head{}, false
}

// digitsEnd returns the index just past the run of digits starting at
// b[i], or -1 when there is none.
func digitsEnd(b []byte, i int) int {
	start := i
	// A flow_id has 15 or 16 digits: eight a step. Adding 6 to a digit
	// (0x30-0x39) leaves its high nibble 3 and carries nothing; any other
	// byte has a high nibble other than 3 before or after the add, and
	// only such a byte (>= 0xfa) carries into the next.
	const ones, highs = 0x0101010101010101, 0xf0f0f0f0f0f0f0f0
	for ; i+8 <= len(b); i += 8 {
		w := binary.LittleEndian.Uint64(b[i:])
		if w&highs != 0x30*ones || (w+6*ones)&highs != 0x30*ones {
			break
		}
	}
	for i < len(b) && b[i]-'0' <= 9 {
		i++
	}
	if i == start {
		return -1
	}
	return i
}

// eventType finds the value of the top-level "event_type" member by byte
// search instead of walking the record: non-alert records are skipped for
// the cost of finding a dozen bytes near the front of the line.
//
// A match is the member name and not text inside some string, by the
// grammar of JSON: inside a string every '"' is escaped, so a match whose
// first quote is not preceded by a backslash starts at a real quote. That
// quote cannot close a string (a closing quote is followed by white space
// or one of ",:]}", never by a letter), so it opens one, and since
// "event_type" holds no quote or backslash the string ends with the match.
// Followed by a colon, that string is a member name. In valid JSON a
// preceding backslash always means an escaped quote (an escaped backslash
// before a real quote would make that quote a closing one, followed by a
// letter), so such matches are passed over.
//
// What the byte search cannot tell is the depth: a nested object may have
// an event_type member too. Suricata writes only scalars before event_type
// (timestamp, flow_id, in_iface, ...), so when nothing in the bytes before
// the match opens an object or array the match is top-level; otherwise the
// prefix is scanned for its depth, which stays correct wherever the member
// is.
//
// found is false when there is no top-level event_type; ok is false when it
// has a value that is not a string.
func eventType(b []byte) (value []byte, found, ok bool) {
	var depth depthScan
	off := 0
	for {
		k := index(b[off:], keyEventType)
		if k < 0 {
			return nil, false, false
		}
		k += off
		off = k + len(keyEventType)
		if k == 0 || b[k-1] == '\\' {
			continue
		}
		j := skipSpace(b, off)
		if j >= len(b) || b[j] != ':' || !depth.topLevelAt(b, k) {
			continue
		}
		raw, _, ok := readString(b, skipSpace(b, j+1))
		return raw, true, ok
	}
}

// index is bytes.Index for JSON. bytes.Index finds candidates with
// IndexByte on the needle's first byte and only moves to its vectorised
// brute force after many false candidates; JSON is full of quotes, which
// keeps it on the slow path (tens of microseconds on a stats record).
// Searching windows of at most bytealg.MaxBruteForce (64) bytes sends every
// call straight to the vectorised search.
func index(b, needle []byte) int {
	const window = 64
	for off := 0; len(b)-off >= len(needle); off += window - len(needle) + 1 {
		if k := bytes.Index(b[off:min(off+window, len(b))], needle); k >= 0 {
			return off + k
		}
	}
	return -1
}

// depthScan follows the nesting of an object from its first byte, one
// stretch at a time, so that checking many nested matches in one record
// scans it once.
type depthScan struct {
	pos, depth int
	inString   bool
}

// topLevelAt reports whether b[k] lies directly in the outer object of b,
// outside any string.
func (s *depthScan) topLevelAt(b []byte, k int) bool {
	if s.pos == 0 && bytes.IndexByte(b[1:k], '{') < 0 && bytes.IndexByte(b[1:k], '[') < 0 {
		// Nothing opened, so the depth is one, unless a '}' or ']' closed
		// the outer object early: that is not JSON, and the walk of an
		// alert refuses it.
		return true
	}
	i := s.pos
	for ; i < k; i++ {
		c := b[i]
		if s.inString {
			switch c {
			case '\\':
				i++
			case '"':
				s.inString = false
			}
			continue
		}
		switch c {
		case '"':
			s.inString = true
		case '{', '[':
			s.depth++
		case '}', ']':
			s.depth--
		}
	}
	s.pos = i
	return s.depth == 1 && !s.inString
}

// eveAlert collects what an alert record says before it is checked and
// copied into the Event.
type eveAlert struct {
	timestamp, srcIP, dstIP, proto, sourceIP, targetIP, direction []byte
	srcPort, dstPort                                              int
	hasAlert, hasSID, hasSource                                   bool

	action, signature, category []byte
	gid, sid, rev, severity     int
	attackTarget                attackTarget

	// The flow so far (alert records carry it): who opened it, and
	// whether both sides spoke; the TCP state and flags when the alert
	// carries a tcp object.
	flowSrcIP, flowState       []byte
	pktsToServer, pktsToClt    int
	tcpState, flagsTS, flagsTC []byte
}

// alert walks the whole record: an alert is worth the full parse, and only
// a full walk knows which members are top-level. What leadingHead read
// (h.next > 0) is not read again: its members were the timestamp, read
// as the walk reads it, and plain scalars the walk skips.
func (p *EveParser) alert(line, obj []byte, h head, ev *pipeline.Event) error {
	a := eveAlert{pktsToServer: -1, pktsToClt: -1, timestamp: h.timestamp}
	badAlert := false
	field := func(key []byte, i int) (int, bool) {
		return a.member(obj, key, i, &badAlert, p.fullWalk)
	}
	var end int
	var ok bool
	if h.next > 0 {
		end, ok = membersAfter(obj, a.addresses(obj, h.next), field)
	} else {
		end, ok = objectFields(obj, 0, field)
	}
	if !ok || end != len(obj) {
		return errEveNotJSON
	}
	if badAlert || !a.hasAlert || !a.hasSID {
		return errEveAlert
	}

	t, ok := p.eveTime(a.timestamp)
	if !ok {
		return errEveTime
	}
	if a.srcIP == nil && a.dstIP == nil && !a.hasSource {
		// A decoder event on a packet that is not IP: nobody to ban (as
		// fast.log's "[Raw pkt: ...]" lines).
		return pipeline.ErrSkip
	}
	src, ok1 := addrField(a.srcIP)
	dst, ok2 := addrField(a.dstIP)
	if !ok1 || !ok2 || a.srcPort > 65535 || a.dstPort > 65535 {
		return errEveAddr
	}
	sig, ok1 := unquote(a.signature)
	class, ok2 := unquote(a.category)
	action, ok3 := unquote(a.action)
	if !ok1 || !ok2 || !ok3 {
		return errEveSignature
	}
	proto, protoKey := "", uint64(256) // no proto: a key no protocol number has
	if a.proto != nil {
		raw := a.proto
		if bytes.IndexByte(raw, '\\') >= 0 {
			s, ok := unquote(raw)
			if !ok {
				return errEveAlert
			}
			raw = []byte(s)
		}
		if proto, protoKey, ok = parseProto(raw); !ok {
			return errEveAlert
		}
	}

	ev.Time = t
	ev.Format = pipeline.FormatEve
	ev.Line = pipeline.UnsafeString(line)
	ev.Program = "suricata"
	ev.Action = action
	ev.GID, ev.SID, ev.Rev = a.gid, a.sid, a.rev
	ev.Signature = sig
	ev.Classification = class
	ev.Priority = a.severity
	ev.Proto = proto
	ev.SrcAddr, ev.SrcPort = src, a.srcPort
	ev.DstAddr, ev.DstPort = dst, a.dstPort
	sides := alertSides{
		proto: protoKey, src: src, dst: dst, sport: a.srcPort, dport: a.dstPort,
		direction: pipeline.UnsafeString(a.direction), attackTarget: a.attackTarget,
		signature: sig, class: class, text: p.texts.get(a.sid, sig, class),
	}
	if a.hasSource {
		if sides.source, ok = addrField(a.sourceIP); !ok {
			return errEveAddr
		}
	}
	if a.targetIP != nil {
		if sides.target, ok = addrField(a.targetIP); !ok {
			return errEveAddr
		}
	}
	if a.flowSrcIP != nil {
		sides.client, _ = addrField(a.flowSrcIP) // Suricata's; a bad one says nothing
	}
	ev.Addr, ev.SideReason = sides.choose(&p.home)
	flow := flowSeen{state: pipeline.UnsafeString(a.flowState), flagsTS: -1, flagsTC: -1, toServer: a.pktsToServer, toClient: a.pktsToClt}
	if flow.state == "" {
		flow.state = pipeline.UnsafeString(a.tcpState)
	}
	flow.flagsTS, _ = hexFlags(a.flagsTS)
	flow.flagsTC, _ = hexFlags(a.flagsTC)
	ev.Spoofable = spoofable(protoKey, flow)
	ev.Fingerprint = fingerprint(ev, protoKey)
	return nil
}

// member reads the top-level member key of an alert record b, whose
// value is at b[i]; fullWalk (tests) reads the alert object without
// alertHead.
func (a *eveAlert) member(b, key []byte, i int, bad *bool, fullWalk bool) (int, bool) {
	switch string(key) {
	case "timestamp":
		return stringField(b, i, &a.timestamp, bad)
	case "src_ip":
		return stringField(b, i, &a.srcIP, bad)
	case "dest_ip":
		return stringField(b, i, &a.dstIP, bad)
	case "proto":
		return stringField(b, i, &a.proto, bad)
	case "direction":
		return stringField(b, i, &a.direction, bad)
	case "src_port":
		return intField(b, i, &a.srcPort, bad)
	case "dest_port":
		return intField(b, i, &a.dstPort, bad)
	case "flow":
		return a.flowFields(b, i, bad)
	case "tcp":
		return a.tcpFields(b, i, bad)
	case "alert":
		return a.alertObject(b, i, bad, fullWalk)
	}
	return skipValue(b, i)
}

// addresses reads the members Suricata writes after event_type
// (src_ip, src_port, dest_ip, dest_port, proto) from b[i], just past a
// value, while they come in the shape leadingHead reads: no white space,
// strings with no escape, ports of digits. Each is read as the walk would
// read it, and the walk goes on from the index returned, the first member
// of another name or shape; a member read twice is read twice, the last
// one kept, as by the walk.
func (a *eveAlert) addresses(b []byte, i int) int {
	return a.shaped(b, i, ',', false)
}

// addressMember says where the value of the member whose key starts
// rest goes, and the key's length with its colon: 0 for another key.
// The constant comparisons are written out, as leadingHead's.
func (a *eveAlert) addressMember(rest []byte) (*[]byte, *int, int) {
	switch {
	case len(rest) >= len(`"src_ip":`) && string(rest[:len(`"src_ip":`)]) == `"src_ip":`:
		return &a.srcIP, nil, len(`"src_ip":`)
	case len(rest) >= len(`"src_port":`) && string(rest[:len(`"src_port":`)]) == `"src_port":`:
		return nil, &a.srcPort, len(`"src_port":`)
	case len(rest) >= len(`"dest_ip":`) && string(rest[:len(`"dest_ip":`)]) == `"dest_ip":`:
		return &a.dstIP, nil, len(`"dest_ip":`)
	case len(rest) >= len(`"dest_port":`) && string(rest[:len(`"dest_port":`)]) == `"dest_port":`:
		return nil, &a.dstPort, len(`"dest_port":`)
	case len(rest) >= len(`"proto":`) && string(rest[:len(`"proto":`)]) == `"proto":`:
		return &a.proto, nil, len(`"proto":`)
	}
	return nil, nil, 0
}

// shaped reads members from b[i] while each follows its separator (sep,
// then a comma), has a key alertMember (in the alert object) or
// addressMember knows and a value in shape (see shapeValue), and returns
// the index of the first it did not read. The two are called by name,
// not through a func value, which would make a escape.
func (a *eveAlert) shaped(b []byte, i int, sep byte, inAlert bool) int {
	for ; i < len(b) && b[i] == sep; sep = ',' {
		var str *[]byte
		var num *int
		var n int
		if inAlert {
			str, num, n = a.alertMember(b[i+1:])
		} else {
			str, num, n = a.addressMember(b[i+1:])
		}
		if n == 0 {
			return i
		}
		next, ok := shapeValue(b, i+1+n, str, num)
		if !ok {
			return i
		}
		if num == &a.sid {
			a.hasSID = true
		}
		i = next
	}
	return i
}

// alertObject reads the alert object at b[i]; any other value is a bad
// alert. fullWalk (tests) reads it without alertHead.
func (a *eveAlert) alertObject(b []byte, i int, bad *bool, fullWalk bool) (int, bool) {
	if i >= len(b) || b[i] != '{' {
		*bad = true
		return skipValue(b, i)
	}
	a.hasAlert = true
	field := func(key []byte, i int) (int, bool) {
		return a.alertField(b, key, i, bad)
	}
	if !fullWalk {
		if j := a.alertHead(b, i); j > i {
			return membersAfter(b, j, field)
		}
	}
	return objectFields(b, i, field)
}

// alertHead is addresses for the alert object at b[i] ('{'), whose
// members Suricata writes in the order action, gid, signature_id, rev,
// signature, category, severity: it returns i when it read none.
func (a *eveAlert) alertHead(b []byte, i int) int {
	return a.shaped(b, i, '{', true)
}

// alertMember is addressMember for the alert object's members.
func (a *eveAlert) alertMember(rest []byte) (*[]byte, *int, int) {
	switch {
	case len(rest) >= len(`"action":`) && string(rest[:len(`"action":`)]) == `"action":`:
		return &a.action, nil, len(`"action":`)
	case len(rest) >= len(`"gid":`) && string(rest[:len(`"gid":`)]) == `"gid":`:
		return nil, &a.gid, len(`"gid":`)
	case len(rest) >= len(`"signature_id":`) && string(rest[:len(`"signature_id":`)]) == `"signature_id":`:
		return nil, &a.sid, len(`"signature_id":`)
	case len(rest) >= len(`"rev":`) && string(rest[:len(`"rev":`)]) == `"rev":`:
		return nil, &a.rev, len(`"rev":`)
	case len(rest) >= len(`"signature":`) && string(rest[:len(`"signature":`)]) == `"signature":`:
		return &a.signature, nil, len(`"signature":`)
	case len(rest) >= len(`"category":`) && string(rest[:len(`"category":`)]) == `"category":`:
		return &a.category, nil, len(`"category":`)
	case len(rest) >= len(`"severity":`) && string(rest[:len(`"severity":`)]) == `"severity":`:
		return nil, &a.severity, len(`"severity":`)
	}
	return nil, nil, 0
}

// shapeValue reads the value at b[i] of a member addresses or alertHead
// matched: into str, a string with no escape, as stringField reads it;
// into num, digits, as intField reads them. Not ok is any other value,
// the walk's to read.
func shapeValue(b []byte, i int, str *[]byte, num *int) (int, bool) {
	if str != nil {
		if i >= len(b) || b[i] != '"' {
			return 0, false
		}
		end := plainStringEnd(b, i+1)
		if end < 0 {
			return 0, false
		}
		*str = b[i+1 : end-1]
		return end, true
	}
	if i >= len(b) || b[i]-'0' > 9 {
		return 0, false
	}
	n, next, ok := readInt(b, i)
	if !ok {
		return 0, false
	}
	*num = n
	return next, true
}

func (a *eveAlert) alertField(b, key []byte, i int, bad *bool) (int, bool) {
	switch string(key) {
	case "action":
		return stringField(b, i, &a.action, bad)
	case "signature":
		return stringField(b, i, &a.signature, bad)
	case "category":
		return stringField(b, i, &a.category, bad)
	case "gid":
		return intField(b, i, &a.gid, bad)
	case "signature_id":
		a.hasSID = true
		return intField(b, i, &a.sid, bad)
	case "rev":
		return intField(b, i, &a.rev, bad)
	case "severity":
		return intField(b, i, &a.severity, bad)
	case "source":
		// Present when the rule names its target (the target keyword):
		// then it, not the packet's source, is the attacker.
		if i < len(b) && b[i] == '{' {
			next, ok := ipMember(b, i, &a.sourceIP, bad)
			a.hasSource = a.sourceIP != nil
			return next, ok
		}
	case "target":
		if i < len(b) && b[i] == '{' {
			return ipMember(b, i, &a.targetIP, bad)
		}
	case "metadata":
		// ET rules say what they protect: attack_target Client_Endpoint,
		// Web_Server, ... (a list of strings).
		if i < len(b) && b[i] == '{' {
			return objectFields(b, i, func(key []byte, i int) (int, bool) {
				if string(key) == "attack_target" && i < len(b) && b[i] == '[' {
					return a.attackTargets(b, i)
				}
				return skipValue(b, i)
			})
		}
	}
	return skipValue(b, i)
}

// ipMember reads the "ip" member of the object at b[i].
func ipMember(b []byte, i int, dst *[]byte, bad *bool) (int, bool) {
	return objectFields(b, i, func(key []byte, i int) (int, bool) {
		if string(key) == "ip" {
			return stringField(b, i, dst, bad)
		}
		return skipValue(b, i)
	})
}

// attackTargets reads the array of strings at b[i]; anything else in it is
// skipped, since metadata is the rule writer's free text.
func (a *eveAlert) attackTargets(b []byte, i int) (int, bool) {
	i = skipSpace(b, i+1)
	for n := 0; i < len(b); n++ {
		if b[i] == ']' && n == 0 {
			return i + 1, true
		}
		if b[i] == '"' {
			raw, next, ok := readString(b, i)
			if !ok {
				return 0, false
			}
			a.attackTarget = a.attackTarget.add(pipeline.UnsafeString(raw))
			i = next
		} else {
			next, ok := skipValue(b, i)
			if !ok {
				return 0, false
			}
			i = next
		}
		i = skipSpace(b, i)
		if i >= len(b) {
			return 0, false
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case ']':
			return i + 1, true
		default:
			return 0, false
		}
	}
	return 0, false
}

// tcpFields reads the tcp object of an alert record.
func (a *eveAlert) tcpFields(b []byte, i int, bad *bool) (int, bool) {
	if i >= len(b) || b[i] != '{' {
		return skipValue(b, i)
	}
	return objectFields(b, i, func(key []byte, i int) (int, bool) {
		switch string(key) {
		case "state":
			return stringField(b, i, &a.tcpState, bad)
		case "tcp_flags_ts":
			return stringField(b, i, &a.flagsTS, bad)
		case "tcp_flags_tc":
			return stringField(b, i, &a.flagsTC, bad)
		}
		return skipValue(b, i)
	})
}

// hexFlags reads TCP flags as eve writes them ("1b"); -1 when absent or
// not hex.
func hexFlags(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 4 {
		return -1, false
	}
	n := 0
	for _, c := range b {
		switch {
		case '0' <= c && c <= '9':
			n = n<<4 | int(c-'0')
		case 'a' <= c && c <= 'f':
			n = n<<4 | int(c-'a'+10)
		case 'A' <= c && c <= 'F':
			n = n<<4 | int(c-'A'+10)
		default:
			return -1, false
		}
	}
	return n, true
}

// flowFields reads the flow object of an alert record.
func (a *eveAlert) flowFields(b []byte, i int, bad *bool) (int, bool) {
	if i >= len(b) || b[i] != '{' {
		return skipValue(b, i)
	}
	return objectFields(b, i, func(key []byte, i int) (int, bool) {
		switch string(key) {
		case "src_ip":
			return stringField(b, i, &a.flowSrcIP, bad)
		case "state":
			return stringField(b, i, &a.flowState, bad)
		case "pkts_toserver":
			return intField(b, i, &a.pktsToServer, bad)
		case "pkts_toclient":
			return intField(b, i, &a.pktsToClt, bad)
		}
		return skipValue(b, i)
	})
}

// stringField stores the raw content of a string value; null leaves dst
// as it was, anything else sets *bad.
func stringField(b []byte, i int, dst *[]byte, bad *bool) (int, bool) {
	if i < len(b) && b[i] == '"' {
		raw, next, ok := readString(b, i)
		*dst = raw
		return next, ok
	}
	if i >= len(b) || b[i] != 'n' {
		*bad = true
	}
	return skipValue(b, i)
}

// intField stores an integer value; null leaves dst as it was, anything
// else sets *bad.
func intField(b []byte, i int, dst *int, bad *bool) (int, bool) {
	if i < len(b) && b[i]-'0' <= 9 {
		n, next, ok := readInt(b, i)
		if ok {
			*dst = n
			return next, true
		}
	}
	if i >= len(b) || b[i] != 'n' {
		*bad = true
	}
	return skipValue(b, i)
}

// addrField reads an address member's raw string: a dotted quad in one
// pass (fast.log's reader, which leaves to netip whatever it does not
// take), anything else as pipeline.ParseAddr reads it.
func addrField(raw []byte) (netip.Addr, bool) {
	if len(raw) == 0 {
		return netip.Addr{}, false
	}
	if a, ok := parseIPv4(raw); ok {
		return a, true
	}
	return pipeline.ParseAddr(pipeline.UnsafeString(raw))
}

// eveTime reads Suricata's timestamp, 2025-11-08T22:00:01.123456+0100,
// also accepting the RFC 3339 offsets +01:00 and Z, and no offset at all
// (then in the parser's zone). The lines of one second with one offset
// (most of a busy sensor's) reuse the last one's time of the whole
// second, as fast.log's reader does: only the fraction is new.
func (p *EveParser) eveTime(b []byte) (time.Time, bool) {
	if len(b) < 19 {
		return time.Time{}, false
	}
	rest := b[19:]
	nsec := 0
	if len(rest) > 0 && rest[0] == '.' {
		var n int
		nsec, n = fraction(rest[1:])
		if n == 0 {
			return time.Time{}, false
		}
		rest = rest[1+n:]
	}
	c := &p.second
	if c.n > 0 && string(b[:19]) == string(c.stamp[:]) && string(rest) == string(c.offset[:c.n-1]) {
		return c.at.Add(time.Duration(nsec)), true
	}
	at, ok := p.eveSecond(b[:19], rest)
	if !ok {
		return time.Time{}, false
	}
	c.n = 0
	if len(rest) <= len(c.offset) {
		copy(c.stamp[:], b)
		c.n = copy(c.offset[:], rest) + 1
		c.at = at
	}
	// time.Date's own result for those nanoseconds, bit for bit: they
	// never reach the seconds it looks the zone up by.
	return at.Add(time.Duration(nsec)), true
}

// eveSecond reads an eve timestamp's date and time to the second, b, and
// its offset (none, Z, +hhmm or +hh:mm).
func (p *EveParser) eveSecond(b, offset []byte) (time.Time, bool) {
	if b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	year, ok1 := num4(b)
	month, ok2 := num2(b[5:])
	day, ok3 := num2(b[8:])
	hour, ok4 := num2(b[11:])
	min, ok5 := num2(b[14:])
	sec, ok6 := num2(b[17:])
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 || !validDate(year, month, day, hour, min, sec) {
		return time.Time{}, false
	}
	rest := offset
	var off int
	switch {
	case len(rest) == 0:
		// No offset (a hand-made or converted eve): the configured zone,
		// as fast.log's timestamps are read.
		return time.Date(year, time.Month(month), day, hour, min, sec, 0, p.loc), true
	case len(rest) == 1 && rest[0] == 'Z':
	case len(rest) == 5 || (len(rest) == 6 && rest[3] == ':'):
		oh, ok1 := num2(rest[1:])
		om, ok2 := num2(rest[len(rest)-2:])
		if !ok1 || !ok2 || oh > 23 || om > 59 || (rest[0] != '+' && rest[0] != '-') {
			return time.Time{}, false
		}
		off = oh*3600 + om*60
		if rest[0] == '-' {
			off = -off
		}
	default:
		return time.Time{}, false
	}
	loc := time.UTC
	if off != 0 {
		if p.zone == nil || p.zoneOff != off {
			p.zoneOff, p.zone = off, time.FixedZone("", off)
		}
		loc = p.zone
	}
	return time.Date(year, time.Month(month), day, hour, min, sec, 0, loc), true
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}
