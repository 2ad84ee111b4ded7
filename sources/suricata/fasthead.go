package suricata

import (
	"bytes"

	"github.com/stockade-ids/stockade/pipeline"
)

// headCache remembers, by sid, the head of the last fast.log lines read:
// the bytes between "[gid:sid:rev] " and "{proto}", which are the rule's
// message, class and priority, and what they say of the sides. A log holds
// the same few hundred rules again and again, so most lines' heads are the
// bytes of an earlier line's, and one comparison stands for the searches
// from the right and the reading of the rule's words (a third of a line's
// parse). The head's meaning depends on its bytes alone, so an entry is
// used only for the very same bytes; a rule whose text changed (a new
// ruleset), or another rule in the slot, is read again.
type headCache struct {
	slots [256]fastHead
}

// maxCachedHead bounds the head kept per slot: a longer one (no rule's
// message comes near) is read every time, so a garbled log cannot make the
// cache hold 256 long lines.
const maxCachedHead = 1 << 10

// fastHead is what a head says, its texts as offsets into it.
type fastHead struct {
	head                 []byte // a copy, the key
	prio                 int
	msgEnd               int
	classStart, classEnd int  // classEnd 0: no class
	msgNull, classNull   bool // "(null)": see nullText
	sides                textSides
	set                  bool
}

// read returns what head says, from the cache when its bytes were the
// head of the last line of sid's slot.
func (c *headCache) read(sid int, head []byte) (*fastHead, error) {
	h := &c.slots[uint(sid)%uint(len(c.slots))]
	if h.set && string(h.head) == string(head) {
		return h, nil
	}
	h.set = false
	if err := h.parse(head); err != nil {
		return nil, err
	}
	if len(head) <= maxCachedHead {
		h.head = append(h.head[:0], head...)
		h.set = true
	}
	return h, nil
}

// parse reads head, "message [**] [Classification: c] [Priority: n] ",
// from the right: the message is free text and may hold any marker.
func (h *fastHead) parse(head []byte) error {
	if !bytes.HasSuffix(head, []byte("] ")) {
		return errFastPriority
	}
	pr := lastIndex(head, tagPriority, 0)
	if pr < 0 {
		return errFastPriority
	}
	prio, ok := atoi(head[pr+len(tagPriority) : len(head)-2])
	if !ok {
		return errFastPriority
	}
	rest := head[:pr]

	// Classification is optional (Snort and old Suricata leave it out for
	// rules without classtype): when the head already ends with the
	// closing [**], a "[Classification: " further left belongs to the
	// message.
	classStart, classEnd := 0, 0
	if !bytes.HasSuffix(rest, sepStars) && bytes.HasSuffix(rest, []byte("] ")) {
		if c := lastIndex(rest, tagClass, 0); c >= 0 {
			classStart, classEnd = c+len(tagClass), len(rest)-2
			rest = rest[:c]
		}
	}
	if !bytes.HasSuffix(rest, sepStars) {
		return errFastSig
	}
	msg := rest[:len(rest)-len(sepStars)]
	if len(msg) > 0 && msg[len(msg)-1] == ' ' {
		msg = msg[:len(msg)-1]
	}
	class := head[classStart:classEnd]
	*h = fastHead{
		head: h.head, prio: prio, msgEnd: len(msg),
		classStart: classStart, classEnd: classEnd,
		msgNull: string(msg) == "(null)", classNull: string(class) == "(null)",
		sides: readText(nullText(msg), nullText(class)),
	}
	return nil
}

// texts returns the message and the class of the line whose head, equal
// to h's, begins b: they alias b, not the cache, which the next line may
// overwrite.
func (h *fastHead) texts(b []byte) (msg, class string) {
	if !h.msgNull {
		msg = pipeline.UnsafeString(b[:h.msgEnd])
	}
	if !h.classNull {
		class = pipeline.UnsafeString(b[h.classStart:h.classEnd])
	}
	return msg, class
}
