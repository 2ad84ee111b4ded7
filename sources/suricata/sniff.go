package suricata

import (
	"bytes"
	"time"
)

// SniffFast reports whether line looks like a fast.log line: the
// MM/DD/YYYY-hh:mm:ss.uuuuuu timestamp, white space, then a '[' (the
// [**] or a [Drop] marker), with a "[**] [" somewhere after. No syslog,
// access log or fail2ban line starts with a slash-separated date.
func SniffFast(line []byte) bool {
	_, n, ok := fastTime(line, time.UTC)
	if !ok || n >= len(line) || line[n] != ' ' {
		return false
	}
	rest := bytes.TrimLeft(line[n:], " ")
	return len(rest) > 0 && rest[0] == '[' && bytes.Contains(rest, []byte("[**] ["))
}

// SniffEve reports whether line looks like an eve.json record: a JSON
// object with a top-level "event_type" member, or at least the "timestamp"
// and "flow_id" members every flow-bound record has.
func SniffEve(line []byte) bool {
	obj := trimSpace(trimCR(line))
	if len(obj) < 2 || obj[0] != '{' || obj[len(obj)-1] != '}' {
		return false
	}
	if _, found, ok := eventType(obj); found && ok {
		return true
	}
	return bytes.Contains(obj, []byte(`"timestamp"`)) && bytes.Contains(obj, []byte(`"flow_id"`))
}
