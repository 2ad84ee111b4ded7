package listen

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

// The reasons a journal record is refused.
var (
	errBadJSON   = pipeline.Bad("bad json")
	errNoMessage = pipeline.Bad("no message")
	errNoTime    = pipeline.Bad("no timestamp")
)

// journalRecord holds the fields of a `journalctl -o json` record that
// become an event; the decoder skips the rest. Each is kept raw because a
// field's JSON type depends on its value (see fieldText).
type journalRecord struct {
	Message    json.RawMessage `json:"MESSAGE"`
	Identifier json.RawMessage `json:"SYSLOG_IDENTIFIER"`
	Comm       json.RawMessage `json:"_COMM"`
	Exe        json.RawMessage `json:"_EXE"`
	Unit       json.RawMessage `json:"_SYSTEMD_UNIT"`
	UID        json.RawMessage `json:"_UID"`
	PID        json.RawMessage `json:"_PID"`
	SyslogPID  json.RawMessage `json:"SYSLOG_PID"`
	Hostname   json.RawMessage `json:"_HOSTNAME"`
	Realtime   json.RawMessage `json:"__REALTIME_TIMESTAMP"`
	Cursor     json.RawMessage `json:"__CURSOR"`
}

// recordParser is parseRecord as the parser of a Decoder: it keeps the
// cursor and the writer of the record it parsed last.
type recordParser struct {
	loc    *time.Location
	cursor string
	who    Identity
}

func (p *recordParser) Parse(line []byte, ev *pipeline.Event) error {
	var err error
	p.cursor, err = parseRecord(line, p.loc, ev, &p.who)
	return err
}

// parseRecord maps one JSON record to ev and who to the process that wrote
// it, and returns its cursor (empty if it has none), which is returned even
// when the record is refused so that a restart does not read it again. The
// event's strings are its own.
//
// _PID, _COMM and _HOSTNAME are set by journald itself; SYSLOG_IDENTIFIER
// and SYSLOG_PID are whatever the logging process claims, and are used the
// way a syslog header would be: the identifier names the program (sshd
// logs as "sshd" whatever its executable), the pid only when journald's
// own is missing. Fields starting with "_" cannot be written by the
// logging process (journald drops them from what it is sent), so who is
// the sender as journald saw it.
func parseRecord(line []byte, loc *time.Location, ev *pipeline.Event, who *Identity) (cursor string, err error) {
	var r journalRecord
	if json.Unmarshal(line, &r) != nil {
		return "", errBadJSON
	}
	cursor, _ = fieldText(r.Cursor)
	msg, ok := fieldText(r.Message)
	if !ok {
		return cursor, errNoMessage
	}
	us, ok := fieldText(r.Realtime)
	if !ok {
		return cursor, errNoTime
	}
	usec, perr := strconv.ParseInt(us, 10, 64)
	if perr != nil || usec <= 0 {
		return cursor, errNoTime
	}
	prog, ok := fieldText(r.Identifier)
	if !ok {
		prog, _ = fieldText(r.Comm)
	}
	pid, ok := fieldInt(r.PID)
	if !ok {
		pid, _ = fieldInt(r.SyslogPID)
	}
	host, _ := fieldText(r.Hostname)
	comm, _ := fieldText(r.Comm)
	exe, _ := fieldText(r.Exe)
	unit, _ := fieldText(r.Unit)
	uid, hasUID := fieldInt(r.UID)
	*who = Identity{Comm: comm, Exe: exe, Unit: unit, UID: uint32(uid), HasUID: hasUID && uid <= math.MaxUint32}

	ev.Time = time.UnixMicro(usec).In(loc)
	ev.Message = msg
	ev.Line = msg
	ev.Program = prog
	ev.PID = pid
	ev.Host = host
	ev.Format = pipeline.FormatSyslog
	return cursor, nil
}

// fieldText returns a journal field's value as text. journalctl writes a
// value as a JSON string when it is printable UTF-8, as an array of byte
// values when it is not, and as null when it is too large to show without
// --all; a field that occurs more than once becomes an array of such values,
// of which the first is used.
func fieldText(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 1 && raw[0] == '[' {
		if first := bytes.TrimLeft(raw[1:], " \t\r\n"); len(first) > 0 && (first[0] == '"' || first[0] == '[' || first[0] == 'n') {
			var vals []json.RawMessage
			if json.Unmarshal(raw, &vals) != nil || len(vals) == 0 {
				return "", false
			}
			raw = bytes.TrimSpace(vals[0])
		}
	}
	return value(raw)
}

// value decodes one value of a field: a string or an array of bytes.
func value(raw []byte) (string, bool) {
	if len(raw) == 0 {
		return "", false
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return "", false
		}
		return s, true
	case '[':
		var vals []uint16
		if json.Unmarshal(raw, &vals) != nil {
			return "", false
		}
		b := make([]byte, len(vals))
		for i, v := range vals {
			if v > 0xff {
				return "", false
			}
			b[i] = byte(v)
		}
		return string(b), true
	}
	return "", false
}

// fieldInt returns a decimal journal field as an int.
func fieldInt(raw json.RawMessage) (int, bool) {
	s, ok := fieldText(raw)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}
