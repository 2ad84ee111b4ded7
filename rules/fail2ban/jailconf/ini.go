// Package fail2ban reads fail2ban's configuration (jail.conf, jail.local,
// jail.d/, filter.d/ with their .local overrides and includes) with
// Python's configparser semantics and fail2ban's interpolation, and turns
// its enabled jails into a stockade rule pack in fail2ban's dialect.
package jailconf

import (
	"bytes"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/stockade-ids/stockade/internal/srcpos"
)

// defaultSection is configparser's DEFAULT: its options are seen from
// every section.
const defaultSection = "DEFAULT"

// value is an option's raw text and where it was set.
type value struct {
	s   string
	pos srcpos.Pos
}

// section is an ordered map of lower-cased option names to values.
type section struct {
	name  string
	pos   srcpos.Pos
	keys  []string
	opts  map[string]value
	bySrc string // the file that created it
}

func newSection(name string, pos srcpos.Pos) *section {
	return &section{name: name, pos: pos, opts: map[string]value{}}
}

func (s *section) set(k string, v value) {
	if _, ok := s.opts[k]; !ok {
		s.keys = append(s.keys, k)
	}
	s.opts[k] = v
}

func (s *section) get(k string) (value, bool) {
	v, ok := s.opts[k]
	return v, ok
}

func (s *section) clone() *section {
	c := newSection(s.name, s.pos)
	for _, k := range s.keys {
		c.set(k, s.opts[k])
	}
	return c
}

// iniFile is one parsed file: its DEFAULT section and its sections in the
// order they first appear.
type iniFile struct {
	path     string
	defaults *section
	sections []*section
	byName   map[string]*section
}

// maxConfLine bounds one line of a configuration file.
const maxConfLine = 1 << 20

// parseINI reads a file as Python's ConfigParser does with fail2ban's
// settings: "=" and ":" delimit, option names are lower-cased, "#" and ";"
// start comment lines and "; " an inline comment, an indented line
// continues the value above (its indentation dropped), blank lines inside
// a value are kept, and a section or option given twice in one file is an
// error (strict mode). Every error is reported, with its line.
func parseINI(path string, data []byte) (*iniFile, srcpos.Errors) {
	f := &iniFile{path: path, defaults: newSection(defaultSection, srcpos.Pos{File: path, Line: 1, Col: 1}), byName: map[string]*section{}}
	var es srcpos.Errors
	add := func(line, col int, format string, args ...any) {
		es = append(es, srcpos.Error{Pos: srcpos.Pos{File: path, Line: line, Col: col}, Msg: fmt.Sprintf(format, args...)})
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if !utf8.Valid(data) {
		add(1, 1, "not UTF-8 text")
		return nil, es
	}
	var cur *section
	var optName string
	var optLines []string
	var optPos srcpos.Pos
	indentLevel := 0
	seenSections := map[string]bool{}
	seenOpts := map[string]bool{}
	flush := func() {
		if cur != nil && optName != "" {
			cur.set(optName, value{s: strings.TrimRightFunc(strings.Join(optLines, "\n"), unicode.IsSpace), pos: optPos})
		}
		optName, optLines = "", nil
	}
	lines := strings.Split(string(data), "\n")
	for i, raw := range lines {
		lineno := i + 1
		line := strings.TrimSuffix(raw, "\r")
		if len(line) > maxConfLine {
			add(lineno, 1, "line too long")
			continue
		}
		commentAt := inlineComment(line)
		if trimmed := strings.TrimSpace(line); strings.HasPrefix(trimmed, "#") || strings.HasPrefix(trimmed, ";") {
			commentAt = 0
		}
		text := line
		if commentAt >= 0 {
			text = line[:commentAt]
		}
		stripped := strings.TrimSpace(text)
		if stripped == "" {
			// A blank line is part of the value above; a comment is not.
			if commentAt < 0 && cur != nil && optName != "" {
				optLines = append(optLines, "")
			}
			continue
		}
		indent := len(line) - len(strings.TrimLeftFunc(line, unicode.IsSpace))
		if cur != nil && optName != "" && indent > indentLevel {
			optLines = append(optLines, stripped)
			continue
		}
		flush()
		indentLevel = indent
		if end := strings.LastIndexByte(stripped, ']'); strings.HasPrefix(stripped, "[") && end > 1 {
			// configparser's \[(?P<header>.+)\]: up to the last bracket,
			// whatever follows it.
			name := stripped[1:end]
			pos := srcpos.Pos{File: path, Line: lineno, Col: indent + 1}
			if seenSections[name] && name != defaultSection {
				add(lineno, indent+1, "section [%s] is given twice in this file", name)
			}
			seenSections[name] = true
			switch {
			case name == defaultSection:
				cur = f.defaults
			case f.byName[name] != nil:
				cur = f.byName[name]
			default:
				cur = newSection(name, pos)
				cur.bySrc = path
				f.sections = append(f.sections, cur)
				f.byName[name] = cur
			}
			continue
		}
		if cur == nil {
			add(lineno, indent+1, "an option before any [section]")
			continue
		}
		d := strings.IndexAny(stripped, "=:")
		if d <= 0 {
			add(lineno, indent+1, "not an option (NAME = VALUE), a [section] or a comment: %q", clip(stripped))
			continue
		}
		name := strings.ToLower(strings.TrimRightFunc(stripped[:d], unicode.IsSpace))
		if seenOpts[cur.name+"\x00"+name] {
			add(lineno, indent+1, "option %q is given twice in [%s] in this file", name, cur.name)
		}
		seenOpts[cur.name+"\x00"+name] = true
		optName = name
		optPos = srcpos.Pos{File: path, Line: lineno, Col: indent + 1}
		optLines = []string{strings.TrimSpace(stripped[d+1:])}
	}
	flush()
	if len(es) > 0 {
		return nil, es
	}
	return f, nil
}

// inlineComment finds a ";" that starts an inline comment (at the start of
// the line or after white space), or -1.
func inlineComment(line string) int {
	for i := 0; i < len(line); i++ {
		if line[i] == ';' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t') {
			return i
		}
	}
	return -1
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}
