package nats

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/stockade-ids/stockade/pipeline"
)

// template is a compiled subject template: literal text and fields, in
// order.
type template struct {
	src   string
	parts []part
}

type part struct {
	lit   string
	field string // "" for a literal
}

var fields = []string{"origin", "rule", "action", "scope", "target"}

func parseTemplate(s string) (*template, error) {
	t := &template{src: s}
	rest := s
	for rest != "" {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			t.parts = append(t.parts, part{lit: rest})
			break
		}
		if i > 0 {
			t.parts = append(t.parts, part{lit: rest[:i]})
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return nil, fmt.Errorf("%q: unclosed '{'", s)
		}
		name := rest[i+1 : i+j]
		known := false
		for _, f := range fields {
			known = known || f == name
		}
		if !known {
			return nil, fmt.Errorf("%q: unknown field {%s} (known: {origin} {rule} {action} {scope} {target})", s, name)
		}
		t.parts = append(t.parts, part{field: name})
		rest = rest[i+j+1:]
	}
	// Every field renders as at least one safe character, so checking the
	// template with "x" in each field checks every subject it can make.
	if err := checkSubject(t.render(func(string) string { return "x" })); err != nil {
		return nil, fmt.Errorf("%q: %v", s, err)
	}
	return t, nil
}

// checkSubject accepts a publishable subject: non-empty tokens, no
// wildcards, no whitespace.
func checkSubject(s string) error {
	if s == "" {
		return fmt.Errorf("empty subject")
	}
	for tok := range strings.SplitSeq(s, ".") {
		switch {
		case tok == "":
			return fmt.Errorf("empty token (a leading, trailing or doubled '.')")
		case tok == "*" || tok == ">":
			return fmt.Errorf("wildcard %q: decisions are published to one subject each", tok)
		case strings.IndexFunc(tok, unicode.IsSpace) >= 0:
			return fmt.Errorf("whitespace in token %q", tok)
		}
	}
	return nil
}

func (t *template) render(value func(field string) string) string {
	var b strings.Builder
	for _, p := range t.parts {
		if p.field == "" {
			b.WriteString(p.lit)
		} else {
			b.WriteString(value(p.field))
		}
	}
	return b.String()
}

// Subject is where d goes.
func (t *template) Subject(d *pipeline.Decision) string {
	return t.render(func(f string) string {
		switch f {
		case "origin":
			return token(d.Origin)
		case "rule":
			return token(d.Rule)
		case "action":
			return token(string(d.Action))
		case "target":
			// 203.0.113.7 is the token 203_0_113_7: one token, so that
			// the server's partition() can hash it and every decision
			// about one target reaches the same correlator.
			return token(d.Target.String())
		default:
			return token(string(d.Scope))
		}
	})
}

// token makes s one safe subject token: '.' (a token separator), '*' and
// '>' (wildcards), whitespace and control characters become '_', as does a
// leading '$' (reserved prefixes like $JS); an empty value becomes "_".
// Anything else, UTF-8 included, is kept so subjects stay readable.
func token(s string) string {
	if s == "" {
		return "_"
	}
	clean := true
	for i, r := range s {
		if unsafeRune(r) || i == 0 && r == '$' {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i, r := range s {
		if unsafeRune(r) || i == 0 && r == '$' {
			r = '_'
		}
		b.WriteRune(r)
	}
	return b.String()
}

func unsafeRune(r rune) bool {
	return r == '.' || r == '*' || r == '>' || unicode.IsSpace(r) || unicode.IsControl(r) || r == unicode.ReplacementChar
}

// streamSubject is the subject filter covering every subject t can make:
// its fixed leading tokens and ">" (or the subject itself when it has no
// fields).
func (t *template) streamSubject() string {
	var fixed []string
	hasField := false
	for _, p := range t.parts {
		if p.field != "" {
			hasField = true
			break
		}
		fixed = append(fixed, p.lit)
	}
	lit := strings.Join(fixed, "")
	if !hasField {
		return lit
	}
	// The token the first field sits in is variable, and so is all after it.
	i := strings.LastIndexByte(lit, '.')
	if i < 0 {
		return ">"
	}
	return lit[:i+1] + ">"
}
