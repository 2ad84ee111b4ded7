// Package fail2ban parses fail2ban's own log (logtarget = a file), the log
// its recidive jail reads, in the layouts of 0.8 to 1.x:
//
//	2025-11-08 22:00:01,123 fail2ban.actions        [1234]: NOTICE  [sshd] Ban 198.51.100.9
//	2013-05-27 10:21:13,123 fail2ban.actions: WARNING [ssh] Ban 1.2.3.4
//
// An event is a line about one address: Found, Ban, Unban, Restore Ban,
// Increase Ban or Already banned. Other well-formed lines (jail start and
// stop, settings, errors) are skipped.
//
// fail2ban copies client-controlled text into its log (debug lines quote the
// lines it matched), so the jail and verb are taken only from where fail2ban
// puts them: the bracketed jail first in the message, the verb right after.
package fail2ban

import (
	"bytes"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

// Bad-line reasons. They are metric labels: keep the set small and fixed.
var (
	errNoTime = pipeline.Bad("no timestamp")
	errTime   = pipeline.Bad("bad timestamp")
	errLogger = pipeline.Bad("bad logger")
	errLevel  = pipeline.Bad("bad level")
	errJail   = pipeline.Bad("bad jail")
	errAddr   = pipeline.Bad("bad address")
)

// Verbs, normalised: the values Event.Verb takes.
const (
	VerbFound         = "Found"
	VerbBan           = "Ban"
	VerbUnban         = "Unban"
	VerbRestoreBan    = "Restore Ban"
	VerbIncreaseBan   = "Increase Ban"
	VerbAlreadyBanned = "Already banned"
)

// Parser parses fail2ban log lines. It holds only the zone the log is
// written in: fail2ban writes local wall-clock time with no offset.
type Parser struct {
	loc *time.Location
}

// New returns a Parser reading times in loc, the zone of the host that
// wrote the log; nil means time.Local.
func New(loc *time.Location) *Parser {
	if loc == nil {
		loc = time.Local
	}
	return &Parser{loc: loc}
}

var _ pipeline.Parser = (*Parser)(nil)

// Parse implements pipeline.Parser.
func (p *Parser) Parse(line []byte, ev *pipeline.Event) error {
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	h, err := p.header(line)
	if err != nil {
		return err
	}
	msg := line[h.msg:]

	// `[jail] ` opens every message about an address.
	if len(msg) == 0 || msg[0] != '[' {
		return pipeline.ErrSkip
	}
	j := bytes.IndexByte(msg, ']')
	if j < 0 {
		return errJail
	}
	jail := msg[1:j]
	if !validJail(jail) {
		return errJail
	}
	rest := msg[j+1:]
	if len(rest) == 0 {
		return pipeline.ErrSkip
	}
	if rest[0] != ' ' {
		return errJail
	}
	verb, target := splitVerb(rest[1:])
	if verb == "" {
		return pipeline.ErrSkip
	}
	addr, ok := pipeline.ParseAddr(pipeline.UnsafeString(target))
	if !ok {
		// Also a ban of a non-address failure ID (a user name caught
		// with <F-ID>): nothing a firewall can act on, but counted.
		return errAddr
	}

	ev.Time = h.time
	ev.Format = pipeline.FormatFail2ban
	ev.Line = pipeline.UnsafeString(line)
	ev.Program = pipeline.UnsafeString(line[h.name:h.nameEnd])
	ev.PID = h.pid
	ev.Level = pipeline.UnsafeString(line[h.level:h.levelEnd])
	ev.Message = pipeline.UnsafeString(msg)
	ev.Jail = pipeline.UnsafeString(jail)
	ev.Verb = verb
	ev.Addr = addr
	return nil
}

// header holds the offsets of the parts of a line before the message.
type header struct {
	time            time.Time
	name, nameEnd   int
	pid             int
	level, levelEnd int
	msg             int
}

// header parses `TIME NAME[ ...][[PID]]: LEVEL[ ...] ` and returns where the
// message starts. The padding is fail2ban's %(name)-24s and
// %(levelname)-7s (%(name)-16s and -6s in 0.8), so any run of spaces goes.
func (p *Parser) header(line []byte) (header, error) {
	var h header
	t, i, err := p.parseTime(line)
	if err != nil {
		return h, err
	}
	h.time = t
	i++ // the space parseTime checked

	h.name = i
	for i < len(line) && line[i] != ' ' && line[i] != '[' && line[i] != ':' {
		i++
	}
	h.nameEnd = i
	if h.nameEnd == h.name {
		return h, errLogger
	}
	for i < len(line) && line[i] == ' ' {
		i++
	}
	if i < len(line) && line[i] == '[' {
		i++
		s := i
		for i < len(line) && line[i] >= '0' && line[i] <= '9' && i-s < 10 {
			h.pid = h.pid*10 + int(line[i]-'0')
			i++
		}
		if i == s || i >= len(line) || line[i] != ']' {
			return h, errLogger
		}
		i++
	}
	if i >= len(line) || line[i] != ':' {
		return h, errLogger
	}
	i++
	if i >= len(line) || line[i] != ' ' {
		return h, errLevel
	}
	for i < len(line) && line[i] == ' ' {
		i++
	}

	h.level = i
	for i < len(line) && line[i] >= 'A' && line[i] <= 'Z' {
		i++
	}
	// Python names a level it does not know `Level 5`.
	if i-h.level == 1 && line[h.level] == 'L' && bytes.HasPrefix(line[i:], []byte("evel ")) {
		i += len("evel ")
		s := i
		for i < len(line) && line[i] >= '0' && line[i] <= '9' {
			i++
		}
		if i == s {
			return h, errLevel
		}
	}
	h.levelEnd = i
	if h.levelEnd == h.level || (i < len(line) && line[i] != ' ') {
		return h, errLevel
	}
	for i < len(line) && line[i] == ' ' {
		i++
	}
	h.msg = i
	return h, nil
}

// validJail refuses the empty name and bytes no jail section name holds,
// which are signs of a torn or foreign line.
func validJail(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < ' ' || c == '[' || c == 0x7f {
			return false
		}
	}
	return true
}

// splitVerb recognises the verbs fail2ban logs after `[jail] ` and returns
// the normalised verb and the address token, or "" for any other message.
// The address ends at a space or a comma (the observer writes
// `Found 1.2.3.4, bad - ...`).
func splitVerb(b []byte) (verb string, target []byte) {
	switch {
	case hasPrefix(b, "Found "):
		verb, b = VerbFound, b[len("Found "):]
	case hasPrefix(b, "Ban "):
		verb, b = VerbBan, b[len("Ban "):]
	case hasPrefix(b, "Unban "):
		verb, b = VerbUnban, b[len("Unban "):]
	case hasPrefix(b, "Restore Ban "):
		verb, b = VerbRestoreBan, b[len("Restore Ban "):]
	case hasPrefix(b, "Increase Ban "):
		verb, b = VerbIncreaseBan, b[len("Increase Ban "):]
	default:
		// `[jail] 1.2.3.4 already banned`
		sp := bytes.IndexByte(b, ' ')
		if sp <= 0 || !hasPrefix(b[sp:], " already banned") {
			return "", nil
		}
		return VerbAlreadyBanned, b[:sp]
	}
	e := 0
	for e < len(b) && b[e] != ' ' && b[e] != ',' {
		e++
	}
	return verb, b[:e]
}

func hasPrefix(b []byte, s string) bool {
	return len(b) >= len(s) && string(b[:len(s)]) == s
}
