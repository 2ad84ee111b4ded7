package jailconf

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/stockade-ids/stockade/internal/srcpos"
)

// config is a set of files read together, merged as fail2ban's
// SafeConfigParserWithIncludes.read merges them: later files override
// earlier ones option by option, DEFAULT included, and an overridden
// option stays readable as known/OPTION (in section KNOWN/SECTION).
type config struct {
	defaults *section
	sections []*section
	byName   map[string]*section
	files    []string
}

func newConfig() *config {
	return &config{defaults: newSection(defaultSection, srcpos.Pos{}), byName: map[string]*section{}}
}

// conditional section names: [Definition?family=inet6].
var conditionalSection = regexp.MustCompile(`^(\w+)(\?.+)$`)

func (c *config) merge(f *iniFile) {
	c.files = append(c.files, f.path)
	for _, k := range f.defaults.keys {
		c.defaults.set(k, f.defaults.opts[k])
	}
	for _, s := range f.sections {
		name := s.name
		src := s
		if m := conditionalSection.FindStringSubmatch(name); m != nil {
			name = m[1]
			src = newSection(name, s.pos)
			for _, k := range s.keys {
				src.set(k+m[2], s.opts[k])
			}
		}
		if dst := c.byName[name]; dst != nil {
			known := c.section("KNOWN/"+name, s.pos)
			for _, k := range src.keys {
				if v, ok := dst.get(k); ok {
					known.set(k, v)
				}
			}
			for _, k := range src.keys {
				dst.set(k, src.opts[k])
			}
			continue
		}
		cp := src.clone()
		cp.name = name
		c.byName[name] = cp
		c.sections = append(c.sections, cp)
	}
}

// section returns a section, created empty if missing.
func (c *config) section(name string, pos srcpos.Pos) *section {
	if s := c.byName[name]; s != nil {
		return s
	}
	s := newSection(name, pos)
	c.byName[name] = s
	c.sections = append(c.sections, s)
	return s
}

// Errors of option lookup, as configparser's.
var (
	errNoSection = errors.New("no such section")
	errNoOption  = errors.New("no such option")
)

// lookupError names what was looked up.
type lookupError struct {
	kind    error
	section string
	option  string
}

func (e *lookupError) Error() string {
	if e.kind == errNoSection {
		return fmt.Sprintf("no section [%s]", e.section)
	}
	return fmt.Sprintf("no option %q in [%s]", e.option, e.section)
}

func (e *lookupError) Unwrap() error { return e.kind }

// options lists a section's own option names, with DEFAULT's too when
// withDefault.
func (c *config) options(sec string, withDefault bool) ([]string, error) {
	s := c.byName[sec]
	if s == nil {
		return nil, &lookupError{kind: errNoSection, section: sec}
	}
	out := append([]string(nil), s.keys...)
	if withDefault {
		for _, k := range c.defaults.keys {
			if _, ok := s.opts[k]; !ok {
				out = append(out, k)
			}
		}
	}
	return out, nil
}

// rawGet finds an option's raw value: vars, then the section, then DEFAULT.
func (c *config) rawGet(sec, option string, vars map[string]string) (value, error) {
	s := c.byName[sec]
	if s == nil && sec != defaultSection {
		return value{}, &lookupError{kind: errNoSection, section: sec}
	}
	opt := strings.ToLower(option)
	for k, v := range vars {
		if strings.ToLower(k) == opt {
			return value{s: v}, nil
		}
	}
	if s != nil {
		if v, ok := s.get(opt); ok {
			return v, nil
		}
	}
	if v, ok := c.defaults.get(opt); ok {
		return v, nil
	}
	return value{}, &lookupError{kind: errNoOption, section: sec, option: opt}
}

// get is configparser's get with fail2ban's interpolation: %(name)s reads
// an option of the same section (or DEFAULT, or vars), %(sec/name)s one of
// another section, %(known/name)s the value it overrode, %(__name__)s the
// section's name, %% a percent sign.
func (c *config) get(sec, option string, vars map[string]string) (string, error) {
	v, err := c.rawGet(sec, option, vars)
	if err != nil {
		return "", err
	}
	m := &interpMap{c: c, sec: c.byName[sec], vars: map[string]string{}}
	for k, val := range vars {
		m.vars[strings.ToLower(k)] = val
	}
	var b strings.Builder
	if err := c.interpolate(sec, option, v, v.s, m, 1, &b); err != nil {
		return "", err
	}
	return b.String(), nil
}

// maxInterpolationDepth is configparser's MAX_INTERPOLATION_DEPTH.
const maxInterpolationDepth = 10

// maxValueLen bounds an interpolated value: references repeated at every
// level would otherwise grow one exponentially.
const maxValueLen = 1 << 20

// interpMap is configparser's ChainMap of vars (and what fail2ban adds to
// it), the section and DEFAULT.
type interpMap struct {
	c    *config
	vars map[string]string
	sec  *section
}

func (m *interpMap) has(k string) bool {
	if _, ok := m.vars[k]; ok {
		return true
	}
	if m.sec != nil {
		if _, ok := m.sec.get(k); ok {
			return true
		}
	}
	_, ok := m.c.defaults.get(k)
	return ok
}

func (m *interpMap) lookup(k string) (string, bool) {
	if v, ok := m.vars[k]; ok {
		return v, true
	}
	if m.sec != nil {
		if v, ok := m.sec.get(k); ok {
			return v.s, true
		}
	}
	if v, ok := m.c.defaults.get(k); ok {
		return v.s, true
	}
	return "", false
}

func (m *interpMap) with(k, v string) *interpMap {
	n := &interpMap{c: m.c, sec: m.sec, vars: make(map[string]string, len(m.vars)+1)}
	for a, b := range m.vars {
		n.vars[a] = b
	}
	n.vars[k] = v
	return n
}

var (
	interpRef     = regexp.MustCompile(`^%\(([^)]+)\)s`)
	sectionOptRef = regexp.MustCompile(`%\(([\w\-]+/([^\)]+))\)s`)
)

func (c *config) interpolate(sec, option string, at value, rest string, m *interpMap, depth int, b *strings.Builder) error {
	if depth > maxInterpolationDepth {
		return srcpos.Error{Pos: at.pos, Msg: fmt.Sprintf("option %q in [%s]: interpolation too deep (a reference loop?)", option, sec)}
	}
	m = m.with("__name__", sec)
	c.mapSectionOptions(sec, rest, m)
	for rest != "" {
		if b.Len() > maxValueLen {
			return srcpos.Error{Pos: at.pos, Msg: fmt.Sprintf("option %q in [%s]: the value grows beyond %d bytes", option, sec, maxValueLen)}
		}
		p := strings.IndexByte(rest, '%')
		if p < 0 {
			b.WriteString(rest)
			return nil
		}
		b.WriteString(rest[:p])
		rest = rest[p:]
		switch {
		case strings.HasPrefix(rest, "%%"):
			b.WriteByte('%')
			rest = rest[2:]
		case strings.HasPrefix(rest, "%("):
			ref := interpRef.FindStringSubmatch(rest)
			if ref == nil {
				return srcpos.Error{Pos: at.pos, Msg: fmt.Sprintf("option %q in [%s]: bad interpolation variable reference %q", option, sec, clip(rest))}
			}
			rest = rest[len(ref[0]):]
			v, ok := m.lookup(strings.ToLower(ref[1]))
			if !ok {
				return srcpos.Error{Pos: at.pos, Msg: fmt.Sprintf("option %q in [%s]: %%(%s)s refers to an option that is not defined", option, sec, ref[1])}
			}
			if strings.Contains(v, "%") {
				if err := c.interpolate(sec, option, at, v, m, depth+1, b); err != nil {
					return err
				}
			} else {
				b.WriteString(v)
			}
		default:
			return srcpos.Error{Pos: at.pos, Msg: fmt.Sprintf("option %q in [%s]: '%%' must be followed by '%%' or '(' (write %%%% for a percent sign), found %q", option, sec, clip(rest))}
		}
	}
	return nil
}

// mapSectionOptions is fail2ban's _map_section_options: %(sec/opt)s,
// %(default/opt)s and %(known/opt)s become entries of the map.
func (c *config) mapSectionOptions(sec, rest string, m *interpMap) {
	if !strings.Contains(rest, "/") || !strings.Contains(rest, "%(") {
		return
	}
	for _, ref := range sectionOptRef.FindAllStringSubmatch(rest, -1) {
		sopt, opt := ref[1], ref[2]
		if m.has(sopt) {
			continue
		}
		secName := sopt[:len(sopt)-len(opt)-1]
		useDefault := false
		var v value
		switch strings.ToLower(secName) {
		case "default":
			useDefault = true
		case "known":
			var ok bool
			if k := c.byName["KNOWN/"+sec]; k != nil {
				v, ok = k.get(opt)
			}
			useDefault = !ok
		default:
			s := c.byName[secName]
			if s == nil {
				continue
			}
			var ok bool
			v, ok = s.get(opt)
			useDefault = !ok
		}
		if useDefault {
			var ok bool
			if v, ok = c.defaults.get(opt); !ok {
				continue
			}
		}
		m.vars[sopt] = v.s
	}
}

// sectionOptName is fail2ban's SECTION_OPTNAME_CRE.
var sectionOptName = regexp.MustCompile(`^([\w\-]+)/([^\s>]+)$`)

// getEx is fail2ban's get_ex: "sec/opt" names an option of another
// section ("known/opt" the overridden one, "default/opt" DEFAULT's).
func (c *config) getEx(sec, option string, vars map[string]string) (string, error) {
	if strings.Contains(option, "/") {
		if m := sectionOptName.FindStringSubmatch(option); m != nil {
			var cands []string
			switch strings.ToLower(m[1]) {
			case "known":
				cands = []string{"KNOWN/" + sec, sec}
			case "default":
				cands = []string{defaultSection}
			default:
				cands = []string{m[1]}
			}
			for _, s := range cands {
				v, err := c.get(s, m[2], nil)
				var le *lookupError
				if err == nil {
					return v, nil
				}
				if !errors.As(err, &le) {
					return "", err
				}
			}
		}
	}
	return c.get(sec, option, vars)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func containsErr(es srcpos.Errors, e srcpos.Error) bool {
	for _, x := range es {
		if x == e {
			return true
		}
	}
	return false
}

// toError gives an error a position: its own (a bad interpolation is at
// the option where it was written), or at.
func toError(err error, at srcpos.Pos) srcpos.Error {
	var re srcpos.Error
	if errors.As(err, &re) {
		return re
	}
	return srcpos.Error{Pos: at, Msg: err.Error()}
}
