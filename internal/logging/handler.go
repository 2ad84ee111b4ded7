// Package logging makes the daemon's logger in the format an admin asks
// for (--log-format text|json|journal) and writes its audit log: one line
// per ban, unban, refusal and allowlist change, rate-limited (see Audit).
//
// The journal format talks systemd-journald's native protocol (one
// datagram of KEY=value fields to /run/systemd/journal/socket), so that
// each line has its PRIORITY (`journalctl -p warning` shows refusals and
// errors only) and its attributes as fields (`journalctl
// STOCKADE_TARGET=203.0.113.7`). Without that socket it writes to stderr
// with sd-daemon's <N> prefixes, which journald reads from a service's
// stderr.
package logging

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"unicode"
)

// LevelNotice is fail2ban's NOTICE, the level of bans and unbans: above
// the daemon's chatter, below what needs an admin.
const LevelNotice = slog.LevelInfo + 2

// JournalSocket is where journald listens for native messages.
const JournalSocket = "/run/systemd/journal/socket"

// Options say how New makes the handler.
type Options struct {
	Format string // text (default), json, journal
	Level  slog.Leveler
	// Journal is the journald socket (default JournalSocket); when it
	// cannot be reached, journal lines go to W with <N> prefixes.
	Journal string
	W       io.Writer // where text, json and the fallback go
}

// Formats are the values of --log-format.
var Formats = []string{"text", "json", "journal"}

// New returns the handler opts ask for.
func New(opts Options) (slog.Handler, error) {
	ho := &slog.HandlerOptions{Level: opts.Level, ReplaceAttr: levelNames}
	switch opts.Format {
	case "", "text":
		return slog.NewTextHandler(opts.W, ho), nil
	case "json":
		return slog.NewJSONHandler(opts.W, ho), nil
	case "journal":
		return newJournal(opts), nil
	}
	return nil, fmt.Errorf("--log-format: want one of %s, not %q", strings.Join(Formats, ", "), opts.Format)
}

// levelNames prints LevelNotice as NOTICE rather than INFO+2.
func levelNames(groups []string, a slog.Attr) slog.Attr {
	if a.Key == slog.LevelKey && len(groups) == 0 {
		if l, ok := a.Value.Any().(slog.Level); ok && l == LevelNotice {
			a.Value = slog.StringValue("NOTICE")
		}
	}
	return a
}

// priority is syslog's for a level: err 3, warning 4, notice 5, info 6,
// debug 7.
func priority(l slog.Level) int {
	switch {
	case l >= slog.LevelError:
		return 3
	case l >= slog.LevelWarn:
		return 4
	case l >= LevelNotice:
		return 5
	case l >= slog.LevelInfo:
		return 6
	}
	return 7
}

// journal is a slog.Handler writing journald's native protocol.
type journal struct {
	level  slog.Leveler
	mu     *sync.Mutex
	conn   *net.UnixConn // nil: the fallback
	w      io.Writer
	attrs  []slog.Attr
	prefix string // group prefix of attributes added
}

func newJournal(opts Options) *journal {
	j := &journal{level: opts.Level, mu: &sync.Mutex{}, w: opts.W}
	if j.level == nil {
		j.level = slog.LevelInfo
	}
	path := opts.Journal
	if path == "" {
		path = JournalSocket
	}
	if c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"}); err == nil {
		j.conn = c
	}
	return j
}

func (j *journal) Enabled(_ context.Context, l slog.Level) bool { return l >= j.level.Level() }

func (j *journal) WithAttrs(as []slog.Attr) slog.Handler {
	c := *j
	c.attrs = append(append([]slog.Attr(nil), j.attrs...), prefixed(j.prefix, as)...)
	return &c
}

func (j *journal) WithGroup(name string) slog.Handler {
	c := *j
	c.prefix = j.prefix + name + "_"
	return &c
}

func prefixed(prefix string, as []slog.Attr) []slog.Attr {
	if prefix == "" {
		return as
	}
	out := make([]slog.Attr, len(as))
	for i, a := range as {
		out[i] = slog.Attr{Key: prefix + a.Key, Value: a.Value}
	}
	return out
}

func (j *journal) Handle(_ context.Context, r slog.Record) error {
	attrs := append([]slog.Attr(nil), j.attrs...)
	r.Attrs(func(a slog.Attr) bool {
		attrs = append(attrs, prefixed(j.prefix, []slog.Attr{a})...)
		return true
	})
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.conn != nil {
		var b bytes.Buffer
		field(&b, "MESSAGE", r.Message)
		field(&b, "PRIORITY", fmt.Sprint(priority(r.Level)))
		field(&b, "SYSLOG_IDENTIFIER", "stockade")
		for _, a := range attrs {
			field(&b, "STOCKADE_"+fieldName(a.Key), a.Value.Resolve().String())
		}
		if _, err := j.conn.Write(b.Bytes()); err == nil {
			return nil
		}
		// journald gone (restarted, or the datagram too big): the line
		// still goes out, on stderr.
	}
	var b strings.Builder
	fmt.Fprintf(&b, "<%d>%s", priority(r.Level), oneLine(r.Message))
	for _, a := range attrs {
		fmt.Fprintf(&b, " %s=%q", a.Key, a.Value.Resolve().String())
	}
	b.WriteByte('\n')
	_, err := io.WriteString(j.w, b.String())
	return err
}

// field appends one field; a value holding a newline takes the binary
// form (name, newline, little-endian 64-bit length, value).
func field(b *bytes.Buffer, name, value string) {
	b.WriteString(name)
	if !strings.Contains(value, "\n") {
		b.WriteByte('=')
		b.WriteString(value)
		b.WriteByte('\n')
		return
	}
	b.WriteByte('\n')
	binary.Write(b, binary.LittleEndian, uint64(len(value)))
	b.WriteString(value)
	b.WriteByte('\n')
}

// fieldName is a journal field name: upper-case letters, digits and
// underscores, not starting with a digit or an underscore.
func fieldName(k string) string {
	out := []byte(strings.ToUpper(k))
	for i, c := range out {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			out[i] = '_'
		}
	}
	return strings.TrimLeftFunc(string(out), func(r rune) bool { return r == '_' || unicode.IsDigit(r) })
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }
