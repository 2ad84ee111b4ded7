package rules

import (
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/stockade-ids/stockade/internal/yamlnode"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/rules/fail2ban/datepattern"
	"github.com/stockade-ids/stockade/rules/fail2ban/filter"
	"github.com/stockade-ids/stockade/rules/regex"
)

// dialectNodes are the keys of a rule in fail2ban's dialect:
//
//	dialect: fail2ban          # regexes are fail2ban's: Python syntax, fail2ban's tags
//	prefregex: '^<F-MLFID>...</F-MLFID><F-CONTENT>.+</F-CONTENT>$'
//	datepattern: '{^LN-BEG}'   # or a list; default: fail2ban's default templates
//	maxlines: 1                # lines searched together
//	usedns: warn               # yes, warn, no (<HOST> then takes addresses only), raw
//
// Such a rule reads the whole line with its date cut out (match: line is
// the default), as fail2ban's filter does.
type dialectNodes struct {
	dialect, pref, dates, maxLines, useDNS *yaml.Node
}

// fail2ban reports whether the rule is in fail2ban's dialect, and refuses
// the fail2ban keys in a stockade rule.
func (n dialectNodes) fail2ban(pos func(*yaml.Node) Pos, es *Errors) bool {
	on := false
	if n.dialect != nil {
		switch d := yamlnode.Scalar(n.dialect, pos, es); d {
		case "fail2ban":
			on = true
		case "stockade", "":
		default:
			es.Add(pos(n.dialect), "dialect: want stockade or fail2ban, not %q", d)
		}
	}
	if !on {
		for _, k := range []struct {
			name string
			node *yaml.Node
		}{{"prefregex", n.pref}, {"datepattern", n.dates}, {"maxlines", n.maxLines}, {"usedns", n.useDNS}} {
			if k.node != nil {
				es.Add(pos(k.node), "%s: only in a rule with dialect: fail2ban", k.name)
			}
		}
	}
	return on
}

// compileFail2ban compiles the regexes of a fail2ban-dialect rule into its
// filter.
func compileFail2ban(r *Rule, rn *ruleNodes, pos func(*yaml.Node) Pos, es *Errors) {
	n, failNodes, ignoreNodes := rn.dialect, rn.fail, rn.ignore
	f := &filter.Filter{MaxLines: 1}
	if rn.match == nil {
		r.UseLine = true
	}
	if n.maxLines != nil {
		if err := n.maxLines.Decode(&f.MaxLines); err != nil || f.MaxLines < 1 || f.MaxLines > 1000 {
			es.Add(pos(n.maxLines), "maxlines: want a number of lines from 1 to 1000")
			f.MaxLines = 1
		}
	}
	useDNS := "warn"
	if n.useDNS != nil {
		switch v := strings.ToLower(yamlnode.Scalar(n.useDNS, pos, es)); v {
		case "yes", "warn", "no", "raw":
			useDNS = v
		default:
			es.Add(pos(n.useDNS), "usedns: want yes, warn, no or raw, not %q", v)
		}
	}
	f.Dates = dateDetector(r, n.dates, pos, es)
	single := f.MaxLines == 1
	if n.pref != nil {
		if src := yamlnode.Scalar(n.pref, pos, es); strings.TrimSpace(src) != "" {
			re, err := filter.Compile(src, useDNS, single)
			if err != nil {
				es.Add(pos(n.pref), "prefregex: %v", err)
			} else {
				f.Pref = re
			}
		}
	}
	for _, it := range failNodes {
		re, err := filter.Compile(it.node.Value, useDNS, single)
		if err != nil {
			es.Add(pos(it.node), "failregex: %v", err)
			continue
		}
		if !filter.HasIDGroup(re) && (f.Pref == nil || !filter.HasIDGroup(f.Pref)) {
			es.Add(pos(it.node), "failregex: no failure-id group: add <HOST> (or <ADDR>, <IP4>, <IP6>, <F-ID>)")
			continue
		}
		f.Fail = append(f.Fail, re)
	}
	for _, s := range ignoreNodes {
		re, err := filter.Compile(s.Value, useDNS, single)
		if err != nil {
			es.Add(pos(s), "ignoreregex: %v", err)
			continue
		}
		f.Ignore = append(f.Ignore, re)
	}
	r.m = &fail2banMatcher{f: f}
}

// dateDetector builds the rule's date detector from its datepattern (a
// value or a list, each line a template), fail2ban's default without one.
func dateDetector(r *Rule, dates *yaml.Node, pos func(*yaml.Node) Pos, es *Errors) *datepattern.Detector {
	var patterns []string
	if dates != nil {
		for _, s := range yamlnode.StringList(dates, pos, es) {
			for _, l := range strings.Split(s.Value, "\n") {
				if l = strings.TrimSpace(l); l != "" {
					patterns = append(patterns, l)
				}
			}
		}
	}
	d, err := datepattern.New(patterns)
	if err != nil {
		p := r.Pos
		if dates != nil {
			p = pos(dates)
		}
		es.Add(p, "datepattern: %v", err)
	}
	return d
}

// fail2banMatcher is a fail2ban-dialect rule's: a fail2ban filter, with a
// session per source in each Set.
type fail2banMatcher struct{ f *filter.Filter }

// sessions are a fail2ban-dialect rule's state in a Set: a session per
// source (a log's date detector, line buffer and open connections).
type sessions map[string]*filter.Session

// verdictOf is the verdict of what a filter made of a line.
func verdictOf(o filter.Outcome) Verdict {
	switch o {
	case filter.Found:
		return Hit
	case filter.Ignored:
		return Ignored
	case filter.NoDate:
		return NoDate
	case filter.Helper:
		return Helper
	case filter.NoAddress:
		return NoAddress
	case filter.HostName:
		return HostName
	case filter.BadAddress:
		return BadAddress
	}
	return RegexMiss
}

func (m *fail2banMatcher) match(s *Set, r *Rule, ev *pipeline.Event, j *judgement) {
	sess := s.sessionOf(r, m.f, ev.Source)
	now := ev.Time
	if now.IsZero() {
		now = s.now()
	}
	loc := s.location()
	if !ev.Time.IsZero() {
		loc = ev.Time.Location()
	}
	text, findDate := fail2banText(r, ev)
	res := sess.Judge(filter.Line{Text: text, FindDate: findDate, Time: ev.Time}, now, loc)
	*j = judgement{verdict: verdictOf(res.Outcome), target: res.Addr, key: res.Key, regex: res.Regex, ignore: res.Ignore, failure: res.Failure}
	switch j.verdict {
	case Hit:
		s.setFailureCaptures(res.Failure)
	case HostName, NoDate:
		s.countUnbanned(r, j.verdict.String())
	}
}

// sessionOf returns the session of a fail2ban-dialect rule for a source.
func (s *Set) sessionOf(r *Rule, f *filter.Filter, source string) *filter.Session {
	st, _ := s.state[r.Policy.ID].(sessions)
	if st == nil {
		st = sessions{}
		s.state[r.Policy.ID] = st
	}
	sess := st[source]
	if sess == nil {
		sess = f.NewSession()
		st[source] = sess
	}
	return sess
}

// fail2banText is the line a fail2ban rule reads and whether its date is to be
// found in it. A syslog event whose line is only its message (the journal
// gives the header apart) is written as fail2ban's journal backend writes
// it: "HOST PROGRAM[PID]: MESSAGE", and dated by the event.
func fail2banText(r *Rule, ev *pipeline.Event) (string, bool) {
	if !r.UseLine {
		return ev.Message, false
	}
	if ev.Format == pipeline.FormatSyslog && ev.Line == ev.Message && ev.Program != "" {
		var b strings.Builder
		if ev.Host != "" {
			b.WriteString(ev.Host)
			b.WriteByte(' ')
		}
		b.WriteString(ev.Program)
		if ev.PID != 0 {
			b.WriteString("[" + strconv.Itoa(ev.PID) + "]")
		}
		b.WriteString(": ")
		b.WriteString(ev.Message)
		return b.String(), false
	}
	return ev.Line, true
}

// setFailureCaptures gives predicates the fields of a fail2ban failure
// under stockade's names (fid is id, fport is port), in order of the
// groups' names (the hit's captures are a list); the address groups and
// fail2ban's bookkeeping groups are left out.
func (s *Set) setFailureCaptures(f *filter.Failure) {
	for _, g := range f.Groups {
		k := g.Name
		switch k {
		case "ip4", "ip6", "dns", "cidr", "mlfid", "content", "nofail", "mlfforget", "mlfgained":
			continue
		case "fid":
			k = "id"
		case "fport":
			k = "port"
		}
		if strings.HasPrefix(k, "skiplines") || g.Value == "" {
			continue
		}
		s.capture(k, g.Value)
	}
}

func (m *fail2banMatcher) regexes() (fail, ignore []*regex.Regex, pref *regex.Regex) {
	return m.f.Fail, m.f.Ignore, m.f.Pref
}

// SetDates sets the reference of year inference for dates a fail2ban rule
// finds on lines that carry no time of their own (default: the wall
// clock), and the zone of dates written without one (default: local).
func (s *Set) SetDates(now func() time.Time, loc *time.Location) {
	s.clock, s.loc = now, loc
}

func (s *Set) now() time.Time {
	if s.clock != nil {
		return s.clock()
	}
	return time.Now()
}

func (s *Set) location() *time.Location {
	if s.loc != nil {
		return s.loc
	}
	return time.Local
}

// Dialect returns "fail2ban" for a rule whose regexes are fail2ban's, else
// "stockade".
func (r *Rule) Dialect() string {
	if _, ok := r.m.(*fail2banMatcher); ok {
		return "fail2ban"
	}
	return "stockade"
}
