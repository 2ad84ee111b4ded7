package jailconf

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/stockade-ids/stockade/internal/srcpos"
)

// Filter is a filter read from filter.d with a set of options, its
// options interpolated as fail2ban's FilterReader does.
type Filter struct {
	Name    string
	Options map[string]string // the options it was read with (mode=..., logtype=...)

	FailRegex    []string
	IgnoreRegex  []string
	PrefRegex    string
	DatePattern  []string // lines; none: fail2ban's default templates
	MaxLines     int      // 0: not set
	UseDNS       string   // "": not set
	JournalMatch []string

	// Pos is where the failregex was defined (for messages), Files the
	// files read, in order.
	Pos   srcpos.Pos
	Files []string

	reader *filterReader
}

// filterOpts are the options a filter gives fail2ban's server, in the
// order of FilterReader._configOpts.
var filterOpts = []string{"usedns", "prefregex", "ignoreregex", "failregex", "maxlines", "datepattern", "journalmatch"}

// filterReader is fail2ban's FilterReader (a DefinitionInitConfigReader).
type filterReader struct {
	cfg      *config
	initOpts *orderedOpts
	pOpts    map[string]string
	opts     *orderedOpts
	defCache map[string]*string
	pos      map[string]srcpos.Pos
}

// Filter reads filter.d/NAME.conf (.local, NAME.d/, includes) with the
// given options, as a jail's `filter = NAME[opt=value]` would.
func (d *Dir) Filter(name string, opts map[string]string) (*Filter, error) {
	return d.readFilter(name, opts, nil, false)
}

func (d *Dir) readFilter(name string, initOpts, jailOpts map[string]string, all bool) (*Filter, error) {
	if name == "" || strings.ContainsAny(name, "\x00") || strings.Contains(name, "..") {
		return nil, fmt.Errorf("bad filter name %q", name)
	}
	cfg, err := d.read(filepath.Join("filter.d", name))
	if err != nil {
		return nil, err
	}
	r := &filterReader{cfg: cfg, initOpts: newOrderedOpts(), defCache: map[string]*string{}, pos: map[string]srcpos.Pos{}}
	for _, k := range sortedKeys(initOpts) {
		r.initOpts.set(k, initOpts[k])
	}
	if err := r.getOptions(jailOpts, all); err != nil {
		return nil, err
	}
	return r.filter(name, initOpts, cfg)
}

// getOptions is DefinitionInitConfigReader.getOptions: the filter's own
// options from [Definition] (with the jail's and the filter options as
// vars), then [Init] as defaults of the filter options.
func (r *filterReader) getOptions(pOpts map[string]string, all bool) error {
	p := map[string]string{}
	for k, v := range pOpts {
		p[k] = v
	}
	for _, k := range r.initOpts.keys {
		p[k] = r.initOpts.m[k]
	}
	r.pOpts = p
	r.opts = newOrderedOpts()
	for _, opt := range filterOpts {
		if _, ok := p[opt]; ok {
			continue
		}
		v, err := r.cfg.get("Definition", opt, p)
		var le *lookupError
		switch {
		case err == nil:
			r.opts.set(opt, v)
			if raw, err := r.cfg.rawGet("Definition", opt, p); err == nil {
				r.pos[opt] = raw.pos
			}
		case errors.As(err, &le):
			// Not defined: fail2ban's default (None).
		default:
			return err
		}
	}
	if init := r.cfg.byName["Init"]; init != nil {
		for _, opt := range init.keys {
			v, err := r.cfg.get("Init", opt, nil)
			if err != nil {
				return err
			}
			if !strings.HasPrefix(opt, "known/") {
				r.initOpts.set("known/"+opt, v)
			}
			if _, ok := r.initOpts.get(opt); !ok {
				r.initOpts.set(opt, v)
			}
		}
	}
	if all && r.cfg.byName["Definition"] != nil {
		names, _ := r.cfg.options("Definition", true)
		for _, opt := range names {
			if _, ok := r.opts.get(opt); ok {
				continue
			}
			v, err := r.cfg.get("Definition", opt, nil)
			if err != nil {
				return err
			}
			r.opts.set(opt, v)
		}
	}
	return nil
}

// combOption is getCombOption: a definition option (or sec/opt) looked up
// for a tag, with the filter's options as vars.
func (r *filterReader) combOption(name string) (string, bool, error) {
	if v, ok := r.defCache[name]; ok {
		if v == nil {
			return "", false, nil
		}
		return *v, true, nil
	}
	v, err := r.cfg.getEx("Definition", name, r.pOpts)
	var le *lookupError
	switch {
	case err == nil:
		r.defCache[name] = &v
		return v, true, nil
	case errors.As(err, &le):
		r.defCache[name] = nil
		return "", false, nil
	}
	return "", false, err
}

// combined is getCombined: the options and the filter options, with every
// <tag> replaced.
func (r *filterReader) combined() (*orderedOpts, error) {
	all := r.opts.clone()
	for _, k := range r.initOpts.keys {
		all.set(k, r.initOpts.m[k])
	}
	ignore := map[string]bool{}
	for _, k := range all.keys {
		if m := conditionalOpt.FindStringSubmatch(k); m != nil {
			ignore[m[1]] = true
		}
	}
	return substituteTags(all, ignore, r.combOption)
}

var conditionalOpt = conditionalSection

func (r *filterReader) filter(name string, initOpts map[string]string, cfg *config) (*Filter, error) {
	opts, err := r.combined()
	if err != nil {
		return nil, fmt.Errorf("filter %s: %v", name, err)
	}
	f := &Filter{Name: name, Options: initOpts, Files: cfg.files, reader: r}
	f.Pos = r.pos["failregex"]
	if f.Pos.File == "" {
		f.Pos = srcpos.Pos{File: filepath.Join("filter.d", name+".conf"), Line: 1, Col: 1}
	}
	for _, opt := range filterOpts {
		v, ok := opts.get(opt)
		if !ok {
			continue
		}
		switch opt {
		case "failregex":
			f.FailRegex = nonEmptyLines(v)
		case "ignoreregex":
			f.IgnoreRegex = nonEmptyLines(v)
		case "prefregex":
			f.PrefRegex = v
		case "datepattern":
			f.DatePattern = nonEmptyLines(v)
		case "maxlines":
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				return nil, fmt.Errorf("%s: maxlines: want a number, not %q", r.pos[opt], v)
			}
			f.MaxLines = n
		case "usedns":
			f.UseDNS = v
		case "journalmatch":
			f.JournalMatch = nonEmptyLines(v)
		}
	}
	return f, nil
}

// nonEmptyLines splits a multi-line value, dropping empty lines (fail2ban
// adds each non-empty line of failregex as a regex).
func nonEmptyLines(v string) []string {
	var out []string
	for _, l := range strings.Split(v, "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}
