// Package decision parses stockade's own decisions (the JSON of
// pipeline.Decision, one per line or per bus message) into events, so that
// a correlator can judge the fleet's bans with rule packs: an address
// banned by three sensors is banned everywhere.
//
// The event carries the target in Addr (single addresses only: a range
// ban names no host), the origin in Host, the rule in Jail, "Ban" or
// "Unban" in Verb (the words of fail2ban's log, so recidive-style rules
// read both alike), the reason in Message and the decision's time.
package decision

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

var (
	errJSON   = pipeline.Bad("bad json")
	errAction = pipeline.Bad("bad action")
	errTarget = pipeline.Bad("bad target")
	errTime   = pipeline.Bad("no time")
)

// Verbs the events carry.
const (
	VerbBan   = "Ban"
	VerbUnban = "Unban"
)

// Parser is a pipeline.Parser for decisions. It holds no state.
type Parser struct{}

// New returns a parser.
func New() *Parser { return &Parser{} }

// wire is the part of a decision an event needs; the rest is ignored, so
// decisions from newer sensors (fields are only ever added) still parse.
type wire struct {
	Action pipeline.Action `json:"action"`
	Target string          `json:"target"`
	Rule   string          `json:"rule"`
	Reason string          `json:"reason"`
	At     time.Time       `json:"at"`
	Origin string          `json:"origin"`
}

// Parse implements pipeline.Parser.
func (Parser) Parse(line []byte, ev *pipeline.Event) error {
	line = bytes.TrimSpace(line)
	if len(line) == 0 || line[0] != '{' {
		return errJSON
	}
	var w wire
	if Strict(line) != nil {
		return errJSON
	}
	if err := json.Unmarshal(line, &w); err != nil {
		return errJSON
	}
	switch w.Action {
	case pipeline.ActionBan:
		ev.Verb = VerbBan
	case pipeline.ActionUnban:
		ev.Verb = VerbUnban
	default:
		return errAction
	}
	t, err := pipeline.ParseTarget(w.Target)
	if err != nil {
		return errTarget
	}
	if w.At.IsZero() {
		return errTime
	}
	if t.IsSingleIP() {
		ev.Addr = t.Addr()
	}
	ev.Format = pipeline.FormatDecision
	ev.Time = w.At
	ev.Line = pipeline.UnsafeString(line)
	ev.Host = w.Origin
	ev.Jail = w.Rule
	ev.Message = w.Reason
	ev.Program = "stockade"
	return nil
}

// Sniff reports whether line looks like a decision: a JSON object with an
// action and a target, what no other format writes.
func Sniff(line []byte) bool {
	line = bytes.TrimSpace(line)
	return len(line) > 2 && line[0] == '{' && line[len(line)-1] == '}' &&
		bytes.Contains(line, []byte(`"action":`)) && bytes.Contains(line, []byte(`"target":`)) &&
		bytes.Contains(line, []byte(`"origin":`))
}
