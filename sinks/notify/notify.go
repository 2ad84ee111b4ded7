// Package notify is what the notification sinks (webhook, mail) share:
// the Batch their templates see, the template functions, and the hostile
// decisions a template is tried against when it loads.
//
// Everything a decision says about the attack comes from a log line the
// attacker wrote (the evidence, the reason, the user name in it, the URL
// requested), so a template must treat it as hostile: json quotes it for a
// JSON body, safe takes out what a chat client or a terminal would act on
// (control characters, mentions, markup, links) and bounds its length.
package notify

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/template"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/sinks/queue"
)

// Batch is what a notification template sees.
type Batch struct {
	Decisions []pipeline.Decision // oldest first
	Count     int                 // len(Decisions)
	Bans      int                 // how many of them are bans
	Unbans    int
	Host      string    // the host stockade runs on
	Now       time.Time // when the notification is made
}

// NewBatch decodes the queued messages (each a decision's JSON). A message
// that does not decode is left out and counted in bad.
func NewBatch(ms []queue.Message, host string, now time.Time) (b Batch, bad int) {
	b = Batch{Decisions: make([]pipeline.Decision, 0, len(ms)), Host: host, Now: now}
	for i := range ms {
		var d pipeline.Decision
		if err := json.Unmarshal(ms[i].Data, &d); err != nil {
			bad++
			continue
		}
		b.Decisions = append(b.Decisions, d)
		switch d.Action {
		case pipeline.ActionBan:
			b.Bans++
		case pipeline.ActionUnban:
			b.Unbans++
		}
	}
	b.Count = len(b.Decisions)
	return b, bad
}

// Hostname is the host's name, or "stockade".
func Hostname() string {
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "stockade"
}

// Funcs are the template functions:
//
//	json X        X as JSON (a string quoted and escaped): the only safe
//	              way to put a value in a JSON body
//	safe S        S with control characters, mentions (@everyone), markup
//	              (<...>, [..](..), backticks) and links (://) defused,
//	              cut at 200 characters
//	truncate N S  S cut at N characters, with "…"
//	join SEP L    the strings of L joined by SEP
//	duration S    a number of seconds as 1h30m
//	time T        T in RFC 3339, UTC
//	line D        one line about decision D, its log-derived parts safe:
//	              "ban 203.0.113.7 for 10m0s by sshd (offense 2): 5 failures"
//	lines L       line of each decision of L
func Funcs() template.FuncMap {
	return template.FuncMap{
		"line": Line,
		"lines": func(ds []pipeline.Decision) []string {
			out := make([]string, len(ds))
			for i := range ds {
				out[i] = Line(ds[i])
			}
			return out
		},
		"json": func(v any) (string, error) {
			j, err := json.Marshal(v)
			return string(j), err
		},
		"safe":     func(v any) string { return Safe(fmt.Sprint(v), 200) },
		"truncate": func(n int, s string) string { return truncate(s, n) },
		"join":     func(sep string, l []string) string { return strings.Join(l, sep) },
		"duration": func(s int64) string { return (time.Duration(s) * time.Second).String() },
		"time":     func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	}
}

// Line is one line about d; what came from a log is made Safe.
func Line(d pipeline.Decision) string {
	if d.Action == pipeline.ActionUnban {
		return fmt.Sprintf("unban %s: %s", d.Target, Safe(d.Reason, 120))
	}
	return fmt.Sprintf("ban %s for %s by %s (offense %d): %s", d.Target, time.Duration(d.Duration)*time.Second,
		Safe(d.Rule, 60), d.Offense, Safe(d.Reason, 120))
}

// Safe makes attacker-written text inert in a chat message or a mail read
// in a terminal, and at most max characters long: what it can still say is
// plain words.
func Safe(s string, max int) string {
	var b strings.Builder
	n := 0
	for i, r := range s {
		if n == max {
			b.WriteString("…")
			break
		}
		if r == utf8.RuneError && i < len(s) {
			r = '?'
		}
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			r = ' '
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Bidi_Control, r):
			continue // escape sequences, invisible and reordering characters
		}
		switch r {
		case '@': // @everyone, @channel, @room do not ping
			b.WriteString("@\u2060")
		case '<':
			b.WriteRune('‹') // Slack's <!channel> and <url|text>, HTML
		case '>':
			b.WriteRune('›')
		case '[':
			b.WriteRune('⟦') // markdown links [text](url)
		case ']':
			b.WriteRune('⟧')
		case '`', '*', '_', '~', '|':
			b.WriteRune('\'') // code spans, emphasis, spoilers, tables
		default:
			b.WriteRune(r)
		}
		n++
	}
	// A link a client would make clickable by itself is defanged.
	return strings.ReplaceAll(b.String(), "://", "[:]//")
}

func truncate(s string, n int) string {
	if n < 0 || utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}

// Hostile are decisions whose every log-derived field holds what breaks a
// careless template: quotes, backslashes, newlines, markup, mentions,
// template syntax. A template is rendered against them at load.
func Hostile() []pipeline.Decision {
	evil := "x\" } ], \"text\": \"pwned\\\n<!channel> @everyone [click](http://evil.example/) {{.}} \x1b[31m\u202e"
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	d := pipeline.Decision{
		ID: "00000000000000000000000000000000", Action: pipeline.ActionBan,
		Target: pipeline.MustTarget("203.0.113.7"), Scope: pipeline.ScopeIP,
		Rule: "sshd" + evil, Pack: "sshd", Reason: evil, At: at, Duration: 600, Expires: at.Add(10 * time.Minute),
		Offense: 2, Origin: "web1" + evil, Source: "/var/log/" + evil, Evidence: []string{evil, evil},
	}
	u := d
	u.Action, u.Target = pipeline.ActionUnban, pipeline.MustTarget("2001:db8:bad::/64")
	return []pipeline.Decision{d, u}
}
