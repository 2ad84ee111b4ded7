package rules

import (
	"strings"

	"gopkg.in/yaml.v3"
)

// f2bRuleNodes are the keys of a rule in fail2ban's dialect:
//
//	dialect: fail2ban          # regexes are fail2ban's: Python syntax, fail2ban's tags
//	prefregex: '^<F-MLFID>...</F-MLFID><F-CONTENT>.+</F-CONTENT>$'
//	datepattern: '{^LN-BEG}'   # or a list; default: fail2ban's default templates
//	maxlines: 1                # lines searched together
//	usedns: warn               # yes, warn, no (<HOST> then takes addresses only), raw
//
// Such a rule reads the whole line with its date cut out (match: line is
// the default), as fail2ban's filter does.
type f2bRuleNodes struct {
	dialect, pref, dates, maxLines, useDNS *yaml.Node
}

// fail2ban reports whether the rule is in fail2ban's dialect, and refuses
// the fail2ban keys in a stockade rule.
func (n f2bRuleNodes) fail2ban(pos func(*yaml.Node) Pos, es *Errors) bool {
	on := false
	if n.dialect != nil {
		switch d := scalar(n.dialect, pos, es); d {
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

// parseF2BRule compiles the regexes of a fail2ban-dialect rule.
func parseF2BRule(r *Rule, n f2bRuleNodes, matchNode *yaml.Node, failNodes []failItem, ignoreNodes []*yaml.Node, pos func(*yaml.Node) Pos, es *Errors) {
	f := &f2bFilter{maxLines: 1, useDNS: "warn"}
	if matchNode == nil {
		r.UseLine = true
	}
	if n.maxLines != nil {
		if err := n.maxLines.Decode(&f.maxLines); err != nil || f.maxLines < 1 || f.maxLines > 1000 {
			es.Add(pos(n.maxLines), "maxlines: want a number of lines from 1 to 1000")
			f.maxLines = 1
		}
	}
	if n.useDNS != nil {
		switch v := strings.ToLower(scalar(n.useDNS, pos, es)); v {
		case "yes", "warn", "no", "raw":
			f.useDNS = v
		default:
			es.Add(pos(n.useDNS), "usedns: want yes, warn, no or raw, not %q", v)
		}
	}
	single := f.maxLines == 1
	var patterns []string
	if n.dates != nil {
		for _, s := range stringList(n.dates, pos, es) {
			for _, l := range strings.Split(s.Value, "\n") {
				if l = strings.TrimSpace(l); l != "" {
					patterns = append(patterns, l)
				}
			}
		}
	}
	d, err := newDateDetector(patterns)
	if err != nil {
		p := r.Pos
		if n.dates != nil {
			p = pos(n.dates)
		}
		es.Add(p, "datepattern: %v", err)
	}
	f.dates = d
	if n.pref != nil {
		if src := scalar(n.pref, pos, es); strings.TrimSpace(src) != "" {
			re, err := compileF2BRegex(src, f2bPrefRegex, f.useDNS, single)
			if err != nil {
				es.Add(pos(n.pref), "prefregex: %v", err)
			} else {
				f.pref = re
			}
		}
	}
	for _, it := range failNodes {
		re, err := compileF2BRegex(it.node.Value, f2bFailRegex, f.useDNS, single)
		if err != nil {
			es.Add(pos(it.node), "failregex: %v", err)
			continue
		}
		if !re.hasIDGroup() && (f.pref == nil || !f.pref.hasIDGroup()) {
			es.Add(pos(it.node), "failregex: no failure-id group: add <HOST> (or <ADDR>, <IP4>, <IP6>, <F-ID>)")
			continue
		}
		re.pair = it.pair
		r.fail = append(r.fail, re)
	}
	for _, s := range ignoreNodes {
		re, err := compileF2BRegex(s.Value, f2bIgnoreRegex, f.useDNS, single)
		if err != nil {
			es.Add(pos(s), "ignoreregex: %v", err)
			continue
		}
		r.ignore = append(r.ignore, re)
	}
	r.f2b = f
}

// Dialect returns "fail2ban" for a rule whose regexes are fail2ban's, else
// "stockade".
func (r *Rule) Dialect() string {
	if r.f2b != nil {
		return "fail2ban"
	}
	return "stockade"
}

// RegexEngines names the engine each regex of the rule runs on ("re2",
// "regexp2"): failregexes, then ignoreregexes, and the prefregex's ("" for
// none).
func (r *Rule) RegexEngines() (fail, ignore []string, pref string) {
	for _, f := range r.fail {
		fail = append(fail, f.re.Kind())
	}
	for _, f := range r.ignore {
		ignore = append(ignore, f.re.Kind())
	}
	if r.f2b != nil && r.f2b.pref != nil {
		pref = r.f2b.pref.re.Kind()
	}
	return fail, ignore, pref
}

// PrefRegex returns the rule's prefregex as written ("" for none).
func (r *Rule) PrefRegex() string {
	if r.f2b == nil || r.f2b.pref == nil {
		return ""
	}
	return r.f2b.pref.src
}
