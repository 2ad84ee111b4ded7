package syslog

import (
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

// parse5424 parses what follows "<PRI>VERSION " in an RFC 5424 line:
//
//	TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA [MSG]
//
// i is the index of TIMESTAMP. The header fields are single-space separated
// and "-" is their NILVALUE. A NILVALUE timestamp is refused: the parser is
// pure and has no receive time to substitute, and an event without a time
// cannot be windowed.
func (p *Parser) parse5424(line []byte, i int, ev *pipeline.Event) error {
	if i >= len(line) || line[i] == '-' {
		return errNoTime
	}
	c, n, err := isoStamp(line[i:])
	if err != nil {
		return err
	}
	i += n
	if i < len(line) && line[i] != ' ' {
		return errBadTime
	}
	i++
	if i >= len(line) {
		return errNoHost
	}
	host, i, ok := field(line, i)
	if !ok {
		return errNoHost
	}
	app, i, ok := field(line, i)
	if !ok {
		return errHeader
	}
	procid, i, ok := field(line, i)
	if !ok {
		return errHeader
	}
	if _, i, ok = field(line, i); !ok { // MSGID
		return errHeader
	}
	if i >= len(line) {
		return errHeader
	}
	if i, ok = skipSD(line, i); !ok {
		return errBadSD
	}
	if i < len(line) {
		i++ // the space before MSG
		if len(line)-i >= 3 && line[i] == 0xEF && line[i+1] == 0xBB && line[i+2] == 0xBF {
			i += 3
		}
	}

	ev.Time = time.Unix(p.isoInstant(c), int64(c.nsec)).In(p.loc)
	ev.Host = pipeline.UnsafeString(host)
	ev.Program = pipeline.UnsafeString(app)
	ev.PID = atoi(procid)
	ev.Message = pipeline.UnsafeString(line[i:])
	ev.Line = pipeline.UnsafeString(line)
	ev.Format = pipeline.FormatSyslog
	return nil
}

// field returns the header field at b[i:], nil for the NILVALUE, and the
// index past its separating space. Every header field is followed by another
// field, so a missing space or an empty field is malformed.
func field(b []byte, i int) (v []byte, next int, ok bool) {
	j := tokenEnd(b, i)
	if j == i || j == len(b) {
		return nil, 0, false
	}
	v = b[i:j]
	if len(v) == 1 && v[0] == '-' {
		v = nil
	}
	return v, j + 1, true
}

// skipSD returns the index just past the STRUCTURED-DATA at b[i:], which
// must be followed by a space or the end of the line. Inside a quoted PARAM-
// VALUE a backslash escapes the next byte, so `\]` and `\"` do not end
// anything, and an unescaped ']' is just a character.
func skipSD(b []byte, i int) (int, bool) {
	if b[i] == '-' {
		i++
	} else {
		if b[i] != '[' {
			return 0, false
		}
		for i < len(b) && b[i] == '[' {
			i++
			quoted := false
		element:
			for {
				if i >= len(b) {
					return 0, false
				}
				switch b[i] {
				case '\\':
					if quoted {
						i++
					}
				case '"':
					quoted = !quoted
				case ']':
					if !quoted {
						i++
						break element
					}
				}
				i++
			}
		}
	}
	return i, i == len(b) || b[i] == ' '
}
