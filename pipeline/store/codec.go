package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/netip"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

// The files are a header and a run of records, each framed as
//
//	length uint32 | CRC-32C of the payload uint32 | payload
//
// A log record's payload starts with its number in the log (from 1), so
// that a record left over past a torn end is never taken for the next
// one. A payload is a run of items, each a tag byte and its fields
// (unsigned varints, zig-zag varints for times, length-prefixed bytes):
//
//	N name                      a rule name; windows refer to the record's
//	                            names by number, in the order given
//	W rule addr times lines     a window, its evidence by line number
//	V rule addr times evidence  a window quoting its lines (an upgrade)
//	G id                        a window that fired or went stale
//	L seq at line               an evidence line
//	S next bytes                the evidence stream's position
//	T prefix json               a target (an empty json: forgotten)
//	O n (key value)…            the sources' checkpoints, all of them
//	K key 0|1 value             a record kept beside the ledger
//	D key n (value unix-ns)…    what distinct() saw under key, whole
//	                            (n 0: forgotten); from format 3
//	C unix-ns                   the engine's clock
//	H n                         the windows a snapshot holds
//	E                           the end of a snapshot
//
// addr is a kind byte, 4 or 16 and the address, or 0 and a key. Times are
// the first and the differences from one to the next; line numbers too.
// A window with one failure and one line of evidence is about 25 bytes.

var (
	magic   = [8]byte{'S', 'T', 'K', 'S', 'T', 'A', 'T', 'E'}
	castagn = crc32.MakeTable(crc32.Castagnoli)
)

const (
	// formatVersion is what is written; formats 2 (before D items) and 3
	// (before P items) are read as well: each is the next without them.
	formatVersion = 4
	oldestFormat  = 2
	kindSnapshot  = 'S'
	kindLog       = 'L'
	headerSize    = 8 + 1 + 1 + 8
	frameSize     = 8
	// maxRecord is the longest record a frame's 32-bit length can say. A
	// record read is also bounded by what is left of its file, so a
	// corrupt length never makes the reader allocate more than the file
	// holds. (A fixed bound of 64 MB read one commit of 22,000 banned
	// targets with ten bans of history each, or the snapshot holding
	// them, as torn or corrupt: the daemon dropped the commit and every
	// one after it, or refused to start.)
	maxRecord = 1<<32 - 1
	// chunkSize is the size past which a snapshot starts a new record.
	chunkSize = 1 << 20
)

func header(kind byte, gen uint64) []byte {
	b := append(magic[:0:0], magic[:]...)
	b = append(b, formatVersion, kind)
	return binary.LittleEndian.AppendUint64(b, gen)
}

// versionAt is where a header holds its format version.
const versionAt = 8

func parseHeader(b []byte) (kind byte, gen uint64, err error) {
	if len(b) < headerSize || [8]byte(b[:8]) != magic {
		return 0, 0, errors.New("not a stockade state file")
	}
	if b[8] < oldestFormat || b[8] > formatVersion {
		return 0, 0, fmt.Errorf("state format %d, this stockade reads %d to %d", b[8], oldestFormat, formatVersion)
	}
	return b[9], binary.LittleEndian.Uint64(b[10:]), nil
}

// frame appends payload as a record.
func frame(dst, payload []byte) []byte {
	h := frameHeader(payload)
	return append(append(dst, h[:]...), payload...)
}

// frameHeader is the frame that goes before payload.
func frameHeader(payload []byte) [frameSize]byte {
	var h [frameSize]byte
	binary.LittleEndian.PutUint32(h[:4], uint32(len(payload)))
	binary.LittleEndian.PutUint32(h[4:], crc32.Checksum(payload, castagn))
	return h
}

// frameInPlace frames a record whose payload follows frameSize bytes
// left for the frame.
func frameInPlace(b []byte) []byte {
	p := b[frameSize:]
	binary.LittleEndian.PutUint32(b[0:], uint32(len(p)))
	binary.LittleEndian.PutUint32(b[4:], crc32.Checksum(p, castagn))
	return b
}

// readRecord reads the next record's payload into buf, left the bytes
// left in its file after the frame. It returns io.EOF at a clean end and
// errTorn for a record that is cut short or corrupt.
func readRecord(r io.Reader, buf []byte, left int64) ([]byte, error) {
	var h [frameSize]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		if err == io.EOF {
			return nil, io.EOF
		}
		return nil, errTorn
	}
	n := binary.LittleEndian.Uint32(h[:4])
	if int64(n) > left {
		return nil, errTorn
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, errTorn
	}
	if crc32.Checksum(buf, castagn) != binary.LittleEndian.Uint32(h[4:]) {
		return nil, errTorn
	}
	return buf, nil
}

var errTorn = errors.New("torn record")

// encoder builds one record's payload.
type encoder struct {
	b     []byte
	rules map[string]uint64
}

func (e *encoder) reset() {
	e.b = e.b[:0]
	clear(e.rules)
}

func (e *encoder) uvarint(v uint64)   { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) varint(v int64)     { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) bytes(s []byte)     { e.uvarint(uint64(len(s))); e.b = append(e.b, s...) }
func (e *encoder) str(s string)       { e.uvarint(uint64(len(s))); e.b = append(e.b, s...) }
func (e *encoder) tag(t byte)         { e.b = append(e.b, t) }
func (e *encoder) clock(t time.Time)  { e.tag('C'); e.varint(unixNano(t)) }
func (e *encoder) stream(n, b uint64) { e.tag('S'); e.uvarint(n); e.uvarint(b) }

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// rule returns the record's number for a rule name, naming it first.
func (e *encoder) rule(name string) uint64 {
	if e.rules == nil {
		e.rules = map[string]uint64{}
	}
	i, ok := e.rules[name]
	if !ok {
		i = uint64(len(e.rules))
		e.rules[name] = i
		e.tag('N')
		e.str(name)
	}
	return i
}

func (e *encoder) addr(a netip.Addr, key string) {
	switch {
	case key != "":
		e.b = append(e.b, 0)
		e.str(key)
	case a.Is4():
		b := a.As4()
		e.b = append(append(e.b, 4), b[:]...)
	default:
		b := a.As16()
		e.b = append(append(e.b, 16), b[:]...)
	}
}

func (e *encoder) window(w *pipeline.WindowState) {
	r := e.rule(w.Rule)
	inline := w.Lines == nil && w.Evidence != nil
	if inline {
		e.tag('V')
	} else {
		e.tag('W')
	}
	e.uvarint(r)
	e.addr(w.Addr, w.Key)
	e.uvarint(uint64(len(w.Times)))
	prev := int64(0)
	for _, t := range w.Times {
		e.varint(t - prev)
		prev = t
	}
	if inline {
		e.uvarint(uint64(len(w.Evidence)))
		for _, l := range w.Evidence {
			e.str(l)
		}
		return
	}
	e.uvarint(uint64(len(w.Lines)))
	var q uint64
	for _, s := range w.Lines {
		e.varint(int64(s - q))
		q = s
	}
}

func (e *encoder) line(l pipeline.EvidenceLine) {
	e.tag('L')
	e.uvarint(l.Seq)
	e.uvarint(l.At)
	e.str(l.Line)
}

func (e *encoder) target(p netip.Prefix, js []byte) {
	e.tag('T')
	e.b = append(e.b, byte(p.Bits()))
	e.addr(p.Addr(), "")
	e.bytes(js)
}

func (e *encoder) offsets(m map[string]json.RawMessage) {
	e.tag('O')
	e.uvarint(uint64(len(m)))
	for k, v := range m {
		e.str(k)
		e.bytes(v)
	}
}

// offsetChanges encodes what differs from old in m: a key set anew, or
// gone. It reports whether anything did.
func (e *encoder) offsetChanges(old, m map[string]json.RawMessage) bool {
	n := 0
	for k, v := range m {
		if w, ok := old[k]; !ok || !bytes.Equal(v, w) {
			n++
		}
	}
	for k := range old {
		if _, ok := m[k]; !ok {
			n++
		}
	}
	if n == 0 {
		return false
	}
	e.tag('P')
	e.uvarint(uint64(n))
	for k, v := range m {
		if w, ok := old[k]; !ok || !bytes.Equal(v, w) {
			e.str(k)
			e.b = append(e.b, 1)
			e.bytes(v)
		}
	}
	for k := range old {
		if _, ok := m[k]; !ok {
			e.str(k)
			e.b = append(e.b, 0)
		}
	}
	return true
}

func (e *encoder) kept(k string, v []byte) {
	e.tag('K')
	e.str(k)
	if v == nil {
		e.b = append(e.b, 0)
		return
	}
	e.b = append(e.b, 1)
	e.bytes(v)
}

// distinct encodes what distinct() saw under key, values in no fixed
// order (nil: forgotten).
func (e *encoder) distinct(key string, vals []pipeline.Sighted) {
	e.tag('D')
	e.str(key)
	e.uvarint(uint64(len(vals)))
	for _, s := range vals {
		e.str(s.Value)
		e.varint(s.At)
	}
}

// decoder reads one record's payload.
type decoder struct {
	b     []byte
	err   error
	rules []string
	ws    pipeline.WindowState
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errors.New("malformed record")
	}
	d.b = nil
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

// raw returns the next length-prefixed bytes, aliasing the record.
func (d *decoder) raw() []byte {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) str() string { return string(d.raw()) }

func (d *decoder) addr() (netip.Addr, string) {
	switch d.byte() {
	case 0:
		return netip.Addr{}, d.str()
	case 4:
		if len(d.b) < 4 {
			d.fail()
			return netip.Addr{}, ""
		}
		a := netip.AddrFrom4([4]byte(d.b[:4]))
		d.b = d.b[4:]
		return a, ""
	case 16:
		if len(d.b) < 16 {
			d.fail()
			return netip.Addr{}, ""
		}
		a := netip.AddrFrom16([16]byte(d.b[:16]))
		d.b = d.b[16:]
		return a, ""
	}
	d.fail()
	return netip.Addr{}, ""
}

// distinct decodes a D item: its key and values (nil: forgotten).
func (d *decoder) distinct() (string, []pipeline.Sighted) {
	key := d.str()
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return "", nil
	}
	if n == 0 {
		return key, nil
	}
	vals := make([]pipeline.Sighted, 0, n)
	for range n {
		v := d.str()
		vals = append(vals, pipeline.Sighted{Value: v, At: d.varint()})
	}
	return key, vals
}

// window decodes a W or V item into d.ws, whose slices the next call
// reuses.
func (d *decoder) window(inline bool) *pipeline.WindowState {
	r := d.uvarint()
	if r >= uint64(len(d.rules)) {
		d.fail()
		return nil
	}
	w := &d.ws
	w.Rule = d.rules[r]
	w.Addr, w.Key = d.addr()
	w.Times, w.Lines, w.Evidence = w.Times[:0], w.Lines[:0], nil
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	t := int64(0)
	for range n {
		t += d.varint()
		w.Times = append(w.Times, t)
	}
	n = d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	if inline {
		w.Lines = nil
		for range n {
			w.Evidence = append(w.Evidence, d.str())
		}
		return w
	}
	var q uint64
	for range n {
		q += uint64(d.varint())
		w.Lines = append(w.Lines, q)
	}
	return w
}
