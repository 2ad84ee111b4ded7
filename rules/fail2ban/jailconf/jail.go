package jailconf

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/stockade-ids/stockade/internal/srcpos"
)

// Jail is one jail of jail.conf / jail.local / jail.d, read as fail2ban's
// JailReader does.
type Jail struct {
	Name    string
	Pos     srcpos.Pos // its section header
	Enabled bool

	FilterSpec string  // as written: sshd[mode=aggressive]
	Filter     *Filter // nil when the jail has none
	Backend    string
	LogPath    []string // globs, as written ("path tail" keeps only the path)

	MaxRetry    int
	FindTime    time.Duration
	BanTime     time.Duration // negative: permanent
	Increment   bool          // bantime.increment
	Factor      float64       // bantime.factor (1 when unset)
	Formula     string        // bantime.formula as written
	Multiplier  []float64     // bantime.multipliers
	MaxTime     time.Duration // bantime.maxtime (0: none)
	RndTime     time.Duration // bantime.rndtime (not translated)
	Overall     bool          // bantime.overalljails
	IgnoreIP    []string
	MaxMatches  int
	LogTimezone string

	// Jail-level filter options, added to (failregex, ignoreregex) or
	// replacing (the others) the filter's.
	FailRegex   []string
	IgnoreRegex []string
	PrefRegex   *string
	DatePattern []string
	MaxLines    int
	UseDNS      string

	// Notes are what could not be translated, said once each.
	Notes []string
}

// jailOpts1st are the options read first (JailReader._configOpts1st).
var jailOpts1st = []string{"enabled", "backend", "filter"}

// jailOpts are the jail's options (JailReader._configOpts), the filter's
// options included.
var jailOpts = []string{"enabled", "backend", "maxretry", "maxmatches", "findtime", "bantime",
	"bantime.increment", "bantime.factor", "bantime.formula", "bantime.multipliers", "bantime.maxtime",
	"bantime.rndtime", "bantime.overalljails", "ignorecommand", "ignoreself", "ignoreip", "ignorecache",
	"filter", "logtimezone", "logencoding", "logpath", "action",
	"usedns", "prefregex", "ignoreregex", "failregex", "maxlines", "datepattern", "journalmatch"}

// Jails reads jail.conf, jail.d/*.conf, jail.local and jail.d/*.local
// (and what they include) and returns every jail, enabled or not, in the
// order of the files. A jail whose options cannot be read is an error
// with the file and line where it is defined; errors of all jails are
// returned together.
func (d *Dir) Jails() ([]*Jail, error) {
	cfg, err := d.read("jail")
	if err != nil {
		return nil, err
	}
	cfg.defaults.set("fail2ban_version", value{s: "1.1.0"})
	cfg.defaults.set("fail2ban_confpath", value{s: d.root})
	var jails []*Jail
	var es srcpos.Errors
	for _, s := range cfg.sections {
		if s.name == "INCLUDES" || strings.HasPrefix(s.name, "KNOWN/") {
			continue
		}
		j, err := d.readJail(cfg, s)
		if err != nil {
			var more srcpos.Errors
			if errors.As(err, &more) {
				es = append(es, more...)
			} else {
				es = append(es, toError(err, s.pos))
			}
			continue
		}
		jails = append(jails, j)
	}
	if len(es) > 0 {
		return jails, es
	}
	return jails, nil
}

// readJail reads one jail as fail2ban's JailReader does: the first
// options, the filter with its options, then the jail's options, every
// bad one reported at its line.
func (d *Dir) readJail(cfg *config, s *section) (*Jail, error) {
	j := &Jail{Name: s.name, Pos: s.pos, Factor: 1}
	first, err := readOptions(cfg, s.name, jailOpts1st)
	if err != nil {
		return nil, err
	}
	if first["enabled"] != "" {
		b, ok := asBool(first["enabled"])
		if !ok {
			return nil, srcpos.Error{Pos: optPos(cfg, s.name, "enabled"), Msg: fmt.Sprintf("jail %s: enabled: want true or false, not %q", s.name, first["enabled"])}
		}
		j.Enabled = b
	}
	if !j.Enabled {
		return j, nil
	}
	j.FilterSpec = strings.TrimSpace(first["filter"])
	j.Backend = first["backend"]
	var fr *filterReader
	if j.FilterSpec != "" {
		if fr, err = d.jailFilterReader(cfg, s, j.FilterSpec, first); err != nil {
			return nil, err
		}
	} else {
		j.Notes = append(j.Notes, "no filter: nothing to match")
	}
	opts, err := readOptions(cfg, s.name, jailOpts)
	if err != nil {
		return nil, err
	}
	if fr != nil {
		if err := fr.getOptions(opts, false); err != nil {
			return nil, withPos(err, optPos(cfg, s.name, "filter"))
		}
		name, fopts, _ := extractOptions(j.FilterSpec)
		f, err := fr.filter(strings.TrimSpace(name), fopts, fr.cfg)
		if err != nil {
			return nil, srcpos.Error{Pos: optPos(cfg, s.name, "filter"), Msg: fmt.Sprintf("jail %s: %v", s.name, err)}
		}
		j.Filter = f
	}
	bad := &optErrors{cfg: cfg, jail: s.name}
	j.readCounting(opts, bad)
	j.readBanTime(opts, bad)
	j.readSources(opts)
	j.readFilterOptions(opts, bad)
	j.readNotes(opts)
	if len(bad.es) > 0 {
		return nil, bad.es
	}
	return j, nil
}

// readOptions reads the options of a jail that are set.
func readOptions(cfg *config, jail string, names []string) (map[string]string, error) {
	opts := map[string]string{}
	for _, opt := range names {
		v, err := cfg.get(jail, opt, nil)
		var le *lookupError
		switch {
		case err == nil:
			opts[opt] = v
		case errors.As(err, &le):
		default:
			return nil, err
		}
	}
	return opts, nil
}

// jailFilterReader reads the files of the jail's filter, with the options
// of its spec (sshd[mode=aggressive]) and the jail's first options; the
// filter's options become known/OPTION of the jail.
func (d *Dir) jailFilterReader(cfg *config, s *section, spec string, first map[string]string) (*filterReader, error) {
	at := optPos(cfg, s.name, "filter")
	name, fopts, err := extractOptions(spec)
	if err != nil {
		return nil, srcpos.Error{Pos: at, Msg: fmt.Sprintf("jail %s: filter %q: %v", s.name, spec, err)}
	}
	name = strings.TrimSpace(name)
	r, err := d.filterReaderFor(name, fopts)
	if err != nil {
		return nil, srcpos.Error{Pos: at, Msg: fmt.Sprintf("jail %s: filter %s: %v", s.name, name, err)}
	}
	// applyAutoOptions: the log type follows the backend.
	if _, ok := r.initOpts.get("logtype"); !ok {
		if def := r.cfg.byName["Definition"]; def == nil || !hasOwn(def, "logtype") {
			lt := "file"
			if strings.HasPrefix(first["backend"], "systemd") {
				lt = "journal"
			}
			r.initOpts.set("logtype", lt)
		}
	}
	if err := r.getOptions(first, true); err != nil {
		return nil, withPos(err, at)
	}
	comb, err := r.combined()
	if err != nil {
		return nil, srcpos.Error{Pos: at, Msg: fmt.Sprintf("jail %s: filter %s: %v", s.name, name, err)}
	}
	for _, k := range comb.keys {
		if !strings.HasPrefix(k, "known/") {
			s.set("known/"+k, value{s: comb.m[k], pos: s.pos})
		}
	}
	return r, nil
}

// optErrors collects the errors of a jail's options, each at the line
// that sets the option.
type optErrors struct {
	cfg  *config
	jail string
	es   srcpos.Errors
}

func (b *optErrors) add(opt, format string, args ...any) {
	b.es = append(b.es, srcpos.Error{Pos: optPos(b.cfg, b.jail, opt), Msg: fmt.Sprintf("jail %s: %s: ", b.jail, opt) + fmt.Sprintf(format, args...)})
}

// readCounting reads how failures are counted: maxretry, maxmatches,
// findtime.
func (j *Jail) readCounting(opts map[string]string, bad *optErrors) {
	j.MaxRetry = 3 // fail2ban's default when no value is given anywhere
	if v, ok := opts["maxretry"]; ok {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 1 {
			bad.add("maxretry", "want a number of failures, not %q", v)
		} else {
			j.MaxRetry = n
		}
	}
	j.MaxMatches = j.MaxRetry
	if v, ok := opts["maxmatches"]; ok {
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
			j.MaxMatches = n
		}
	}
	j.FindTime = 10 * time.Minute
	if v, ok := opts["findtime"]; ok {
		d, err := str2seconds(v)
		if err != nil || d <= 0 {
			bad.add("findtime", "%v", errOr(err, "want a positive time"))
		} else {
			j.FindTime = d
		}
	}
}

// readBanTime reads how long bans last: bantime and its bantime.* options.
func (j *Jail) readBanTime(opts map[string]string, bad *optErrors) {
	j.BanTime = 10 * time.Minute
	if v, ok := opts["bantime"]; ok {
		d, err := str2seconds(v)
		if err != nil {
			bad.add("bantime", "%v", err)
		} else {
			j.BanTime = d
		}
	}
	if v, ok := opts["bantime.increment"]; ok {
		b, ok := asBool(v)
		if !ok {
			bad.add("bantime.increment", "want true or false, not %q", v)
		}
		j.Increment = b
	}
	if v, ok := opts["bantime.factor"]; ok && strings.TrimSpace(v) != "" {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || f <= 0 {
			bad.add("bantime.factor", "want a positive number, not %q", v)
		} else {
			j.Factor = f
		}
	}
	if v, ok := opts["bantime.formula"]; ok {
		j.Formula = strings.TrimSpace(v)
	}
	if v, ok := opts["bantime.multipliers"]; ok && strings.TrimSpace(v) != "" {
		for _, w := range strings.Fields(v) {
			f, err := strconv.ParseFloat(w, 64)
			if err != nil || f <= 0 {
				bad.add("bantime.multipliers", "want positive numbers, not %q", w)
				break
			}
			j.Multiplier = append(j.Multiplier, f)
		}
	}
	j.readBanLimits(opts, bad)
}

// readBanLimits reads bantime.maxtime, bantime.rndtime and
// bantime.overalljails.
func (j *Jail) readBanLimits(opts map[string]string, bad *optErrors) {
	if v, ok := opts["bantime.maxtime"]; ok && strings.TrimSpace(v) != "" {
		d, err := str2seconds(v)
		if err != nil {
			bad.add("bantime.maxtime", "%v", err)
		} else {
			j.MaxTime = d
		}
	}
	if v, ok := opts["bantime.rndtime"]; ok && strings.TrimSpace(v) != "" {
		if d, err := str2seconds(v); err == nil {
			j.RndTime = d
		}
	}
	if v, ok := opts["bantime.overalljails"]; ok {
		b, ok := asBool(v)
		if !ok {
			bad.add("bantime.overalljails", "want true or false, not %q", v)
		}
		j.Overall = b
	}
}

// readSources reads what the jail watches and whom it spares: ignoreip,
// logtimezone, logpath (without its head/tail word; none for the journal).
func (j *Jail) readSources(opts map[string]string) {
	if v, ok := opts["ignoreip"]; ok {
		j.IgnoreIP = splitWords(v)
	}
	if v, ok := opts["logtimezone"]; ok {
		j.LogTimezone = strings.TrimSpace(v)
	}
	v, ok := opts["logpath"]
	if !ok || strings.HasPrefix(j.Backend, "systemd") {
		return
	}
	for _, p := range strings.Split(v, "\n") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if i := strings.LastIndexByte(p, ' '); i > 0 {
			if t := p[i+1:]; t == "head" || t == "tail" {
				p = strings.TrimSpace(p[:i])
			}
		}
		j.LogPath = append(j.LogPath, p)
	}
}

// readFilterOptions reads the filter options set on the jail.
func (j *Jail) readFilterOptions(opts map[string]string, bad *optErrors) {
	if v, ok := opts["failregex"]; ok {
		j.FailRegex = nonEmptyLines(v)
	}
	if v, ok := opts["ignoreregex"]; ok {
		j.IgnoreRegex = nonEmptyLines(v)
	}
	if v, ok := opts["prefregex"]; ok {
		j.PrefRegex = &v
	}
	if v, ok := opts["datepattern"]; ok {
		j.DatePattern = nonEmptyLines(v)
	}
	if v, ok := opts["maxlines"]; ok {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 1 {
			bad.add("maxlines", "want a number of lines, not %q", v)
		} else {
			j.MaxLines = n
		}
	}
	if v, ok := opts["usedns"]; ok {
		j.UseDNS = strings.ToLower(strings.TrimSpace(v))
	}
}

// readNotes notes the options stockade does not translate.
func (j *Jail) readNotes(opts map[string]string) {
	if v, ok := opts["action"]; ok && strings.TrimSpace(v) != "" {
		j.Notes = append(j.Notes, "actions are not translated: stockade's sinks enforce its decisions")
	}
	if v, ok := opts["ignorecommand"]; ok && strings.TrimSpace(v) != "" {
		j.Notes = append(j.Notes, "ignorecommand is not supported")
	}
}

// filterReaderFor reads a filter's files for a jail.
func (d *Dir) filterReaderFor(name string, fopts map[string]string) (*filterReader, error) {
	if name == "" || strings.Contains(name, "..") {
		return nil, fmt.Errorf("bad filter name %q", name)
	}
	cfg, err := d.read("filter.d/" + name)
	if err != nil {
		return nil, err
	}
	r := &filterReader{cfg: cfg, initOpts: newOrderedOpts(), defCache: map[string]*string{}, pos: map[string]srcpos.Pos{}}
	for _, k := range sortedKeys(fopts) {
		r.initOpts.set(k, fopts[k])
	}
	return r, nil
}

func hasOwn(s *section, k string) bool {
	_, ok := s.opts[k]
	return ok
}

// optPos is where an option of a section was set (or the section).
func optPos(cfg *config, sec, opt string) srcpos.Pos {
	if v, err := cfg.rawGet(sec, opt, nil); err == nil && v.pos.File != "" {
		return v.pos
	}
	if s := cfg.byName[sec]; s != nil {
		return s.pos
	}
	return srcpos.Pos{}
}

func withPos(err error, at srcpos.Pos) error {
	var es srcpos.Errors
	if errors.As(err, &es) {
		return es
	}
	return srcpos.Errors{toError(err, at)}
}

func errOr(err error, msg string) any {
	if err != nil {
		return err
	}
	return msg
}

// asBool is fail2ban's _as_bool.
func asBool(v string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "yes", "true", "on":
		return true, true
	case "0", "no", "false", "off", "":
		return false, true
	}
	return false, false
}

var timeTerm = regexp.MustCompile(`(?i)^([+-]?\d+(?:\.\d+)?)\s*(years?|yea?|yy?|months?|mon?|mo|weeks?|wee?|ww?|days?|da|dd?|hours?|hou?|hh?|minutes?|mins?|mi|mm?|seconds?|secs?|se|ss?)?`)

// str2seconds reads fail2ban's times: a number of seconds, or terms like
// 10m, 1h 30m, 1d12h, 2w, 1mo, 1y (a month is 30 days, a year 365); a
// negative ban (-1) is permanent.
func str2seconds(v string) (time.Duration, error) {
	s := strings.TrimSpace(v)
	if s == "" {
		return 0, fmt.Errorf("empty time")
	}
	var total float64
	for s != "" {
		m := timeTerm.FindStringSubmatch(s)
		if m == nil {
			return 0, fmt.Errorf("bad time %q (use 600, 10m, 1h, 1d, 1w)", v)
		}
		n, _ := strconv.ParseFloat(m[1], 64)
		unit := strings.ToLower(m[2])
		mult := 1.0
		switch {
		case unit == "":
		case strings.HasPrefix(unit, "y"):
			mult = 365 * 86400
		case strings.HasPrefix(unit, "mo"):
			mult = 30 * 86400
		case strings.HasPrefix(unit, "w"):
			mult = 7 * 86400
		case strings.HasPrefix(unit, "d"):
			mult = 86400
		case strings.HasPrefix(unit, "h"):
			mult = 3600
		case strings.HasPrefix(unit, "mi") || unit == "m" || unit == "mm":
			mult = 60
		}
		total += n * mult
		s = strings.TrimSpace(s[len(m[0]):])
	}
	if total > 1e12 {
		return 0, fmt.Errorf("time %q is too long", v)
	}
	return time.Duration(total * float64(time.Second)), nil
}
