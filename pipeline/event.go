// Package pipeline holds what every stage of stockade shares: the typed Event
// that sources produce, the Decision that rules emit and sinks carry, the
// event-time clock, the ban ledger and the engine that wires them. It imports
// none of sources, rules or sinks.
package pipeline

import (
	"net/netip"
	"strings"
	"time"
	"unsafe"
)

// Format names the log format an event was parsed from.
type Format uint8

const (
	FormatUnknown  Format = iota
	FormatSyslog          // RFC 3164, RFC 5424, rsyslog ISO 8601 prefix
	FormatNginx           // nginx/apache access log, combined or common
	FormatFastLog         // Suricata fast.log
	FormatEve             // Suricata eve.json
	FormatFail2ban        // fail2ban's own log
	FormatDecision        // stockade's own decisions (JSON lines, or from the bus)
	FormatPlain           // any line that starts with a timestamp (error logs): the rules read the raw line
)

var formatNames = [...]string{"unknown", "syslog", "nginx", "fastlog", "eve", "fail2ban", "decision", "plain"}

func (f Format) String() string {
	if int(f) < len(formatNames) {
		return formatNames[f]
	}
	return "unknown"
}

// ParseFormat is the inverse of Format.String; it also accepts a few aliases.
func ParseFormat(s string) (Format, bool) {
	switch strings.ToLower(s) {
	case "syslog", "auth", "authlog", "auth.log":
		return FormatSyslog, true
	case "nginx", "access", "apache", "http":
		return FormatNginx, true
	case "fastlog", "fast", "fast.log", "suricata-fast":
		return FormatFastLog, true
	case "eve", "eve.json", "suricata-eve", "json":
		return FormatEve, true
	case "fail2ban", "f2b":
		return FormatFail2ban, true
	case "decision", "decisions", "stockade":
		return FormatDecision, true
	case "plain", "lines", "raw", "text", "error", "errorlog":
		return FormatPlain, true
	}
	return FormatUnknown, false
}

// Event is one parsed log line. Parsers fill it in place; string fields may
// alias the line buffer they were parsed from (see UnsafeString), so an Event
// is valid only until its source reads its next line. Anything kept longer
// (evidence, captures, keys) must be copied: Clone does that.
//
// The expr tags are the names rule predicates (`when:`) see.
type Event struct {
	Time   time.Time `expr:"time"`
	Source string    `expr:"source"` // source id: file path or listener name
	Format Format    `expr:"-"`
	Line   string    `expr:"line"` // the raw line, for evidence
	// Offset is the byte offset just after this line in its source file
	// (0 when the source has none). The daemon checkpoints it together with
	// the engine's state, so a restart resumes exactly after the last line
	// whose effects were saved: none lost, none counted twice.
	Offset int64 `expr:"-"`
	// WarmUp marks an event read again to rebuild counts another
	// correlator kept (a Kafka partition handed over): the engine judges
	// it, but what it decides was decided and published already.
	WarmUp bool `expr:"-"`
	// Topic and Partition place a Kafka record (Topic: an id the daemon
	// gives each topic it reads, from 1; 0 for any other event), with
	// Offset the record's offset plus one: the daemon saves, per
	// partition, up to which record its state counts, so that a restart
	// warms a partition up from after it. They sit in WarmUp's padding.
	Topic     uint16 `expr:"-"`
	Partition int32  `expr:"-"`

	// Addr is the offending address when the format states it structurally:
	// the nginx client, the Suricata attacker (alert.source when present,
	// else the source address), the address in a fail2ban log line. Syslog
	// leaves it invalid; rules take it from the message with <HOST>.
	Addr netip.Addr `expr:"addr"`

	// Syslog header; also set by formats that carry them.
	Host    string `expr:"host"`
	Program string `expr:"program"`
	PID     int    `expr:"pid"`
	Message string `expr:"message"` // the text after the header: what filters match

	// Suricata (fast.log and eve.json). Priority is fast.log's Priority and
	// eve's alert.severity: 1 is the most severe.
	Priority       int        `expr:"priority"`
	Classification string     `expr:"classification"` // fast.log Classification, eve alert.category
	Signature      string     `expr:"signature"`
	GID            int        `expr:"gid"`
	SID            int        `expr:"sid"`
	Rev            int        `expr:"rev"`
	Action         string     `expr:"action"` // eve alert.action: allowed, blocked
	Proto          string     `expr:"proto"`  // TCP, UDP, ICMP, or the number as written
	SrcAddr        netip.Addr `expr:"src_addr"`
	SrcPort        int        `expr:"src_port"`
	DstAddr        netip.Addr `expr:"dst_addr"`
	DstPort        int        `expr:"dst_port"`
	// SideReason says why Addr is the side of the alert it is (the
	// sources/suricata Side* constants): explain shows it.
	SideReason string `expr:"side_reason"`
	// Spoofable: one packet with a forged source could have caused the
	// alert (UDP, ICMP, a TCP flow whose handshake did not complete).
	Spoofable bool `expr:"spoofable"`
	// Fingerprint identifies one alert independently of the file it was
	// logged in, so that the same alert in fast.log and eve.json counts once.
	// Zero means "no fingerprint". Its top 12 bits group it in the engine's
	// table: the source makes them equal for alerts logged near in time
	// (Suricata's: the alert's offset in its quarter hour), so that
	// lookups in time order stay in a few KB of memory.
	Fingerprint uint64 `expr:"-"`

	// HTTP access logs.
	Method      string `expr:"method"`
	Path        string `expr:"path"`
	HTTPVersion string `expr:"http_version"`
	Status      int    `expr:"status"`
	Bytes       int64  `expr:"bytes"`
	Referer     string `expr:"referer"`
	UserAgent   string `expr:"user_agent"`
	User        string `expr:"user"` // remote user (access logs); rules also capture <F-USER> here

	// fail2ban's own log; stockade's decisions fill Jail with the rule, Verb
	// with Ban or Unban and Host with the origin.
	Jail  string `expr:"jail"`
	Verb  string `expr:"verb"`  // Found, Ban, Unban, Restore Ban, ...
	Level string `expr:"level"` // NOTICE, WARNING, INFO, ...

	// Captures are the named groups of the regex that matched (F-USER is
	// "user", F-ID "id", any other F-NAME "name" lowercased). Filled by rules.
	Captures map[string]string `expr:"captures"`
}

// Reset clears e for reuse, keeping the Captures map's storage.
func (e *Event) Reset() {
	c := e.Captures
	clear(c)
	*e = Event{Captures: c}
}

// Clone returns a deep copy of e whose strings no longer alias any buffer.
// The fields a parser sliced from the line are slices of the copy of the
// line, as they were of the line: one copy instead of one per field, and
// a matcher that scans the line once for the literals of every field
// (rules' gates) still can, where separate copies would make it match
// every field's regexes on their own.
func (e *Event) Clone() Event {
	c := *e
	line := strings.Clone(e.Line)
	in := func(s string) string { return sliceOrClone(s, e.Line, line) }
	c.Line = line
	c.Source = strings.Clone(e.Source)
	c.Host = in(e.Host)
	c.Program = in(e.Program)
	c.Message = in(e.Message)
	c.Classification = in(e.Classification)
	c.Signature = in(e.Signature)
	c.Action = in(e.Action)
	c.Proto = in(e.Proto)
	c.Method = in(e.Method)
	c.Path = in(e.Path)
	c.HTTPVersion = in(e.HTTPVersion)
	c.Referer = in(e.Referer)
	c.UserAgent = in(e.UserAgent)
	c.User = in(e.User)
	c.Jail = in(e.Jail)
	c.Verb = in(e.Verb)
	c.Level = in(e.Level)
	if e.Captures != nil {
		c.Captures = make(map[string]string, len(e.Captures))
		for k, v := range e.Captures {
			c.Captures[strings.Clone(k)] = strings.Clone(v)
		}
	}
	return c
}

// sliceOrClone returns s as the same part of dup, a copy of line, when s
// lies within line, and a copy of its own otherwise.
func sliceOrClone(s, line, dup string) string {
	if s == "" {
		return ""
	}
	if off, ok := offsetIn(s, line); ok {
		return dup[off : off+len(s)]
	}
	return strings.Clone(s)
}

// offsetIn reports where s starts in line when s's bytes are part of
// line's (parsers slice their fields from the line), by address.
func offsetIn(s, line string) (int, bool) {
	sp, lp := uintptr(unsafe.Pointer(unsafe.StringData(s))), uintptr(unsafe.Pointer(unsafe.StringData(line)))
	if sp >= lp && sp+uintptr(len(s)) <= lp+uintptr(len(line)) {
		return int(sp - lp), true
	}
	return 0, false
}
