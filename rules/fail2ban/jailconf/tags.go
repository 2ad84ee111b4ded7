package jailconf

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// maxTagReplace is fail2ban's MAX_TAG_REPLACE_COUNT: how often one tag may
// be replaced inside another before it counts as a reference loop.
const maxTagReplace = 25

var tagRef = regexp.MustCompile(`<([^ <>]+)>`)

// orderedOpts is an insertion-ordered map of options (Python's dict).
type orderedOpts struct {
	keys []string
	m    map[string]string
}

func newOrderedOpts() *orderedOpts { return &orderedOpts{m: map[string]string{}} }

func (o *orderedOpts) set(k, v string) {
	if _, ok := o.m[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.m[k] = v
}

func (o *orderedOpts) get(k string) (string, bool) {
	v, ok := o.m[k]
	return v, ok
}

func (o *orderedOpts) clone() *orderedOpts {
	c := newOrderedOpts()
	for _, k := range o.keys {
		c.set(k, o.m[k])
	}
	return c
}

// substituteTags is fail2ban's substituteRecursiveTags: every <tag> in the
// values is replaced by the option of that name (or what addrepl finds),
// again and again while replacements bring new tags; unknown tags (<HOST>,
// <F-USER>) stay as they are.
func substituteTags(in *orderedOpts, ignore map[string]bool, addrepl func(string) (string, bool, error)) (*orderedOpts, error) {
	tags := in.clone()
	done := map[string]bool{}
	repCounts := map[string]map[string]int{}
	for round := 0; ; round++ {
		if round > 10000 {
			return nil, fmt.Errorf("tags cannot be resolved")
		}
		again := false
		for _, tag := range tags.keys {
			if ignore[tag] || done[tag] {
				continue
			}
			value, _ := tags.get(tag)
			orig := value
			rplc := repCounts[tag]
			if rplc == nil {
				rplc = map[string]int{}
			}
			from := 0
			for {
				loc := tagRef.FindStringSubmatchIndex(value[from:])
				if loc == nil {
					break
				}
				start, end := from+loc[0], from+loc[1]
				rtag := value[from+loc[2] : from+loc[3]]
				if ignore[rtag] {
					from = end
					continue
				}
				n, seen := rplc[rtag]
				if !seen {
					n = 1
				}
				if rtag == tag || n > maxTagReplace {
					return nil, fmt.Errorf("option %q refers to itself through <%s> and cannot be resolved", tag, rtag)
				}
				repl, ok := tags.get(rtag)
				if !ok && addrepl != nil {
					var err error
					repl, ok, err = addrepl(rtag)
					if err != nil {
						return nil, err
					}
				}
				if !ok {
					from = end
					continue
				}
				value = strings.ReplaceAll(value, "<"+rtag+">", repl)
				rplc[rtag]++
				from = start
				if len(value) > maxValueLen {
					return nil, fmt.Errorf("option %q grows without end through <%s>", tag, rtag)
				}
			}
			if value != orig {
				if tagRef.MatchString(value) {
					repCounts[tag] = rplc
					again = true
				}
				tags.set(tag, value)
			}
			if !strings.Contains(value, "<") {
				done[tag] = true
			}
		}
		if !again {
			return tags, nil
		}
	}
}

// optionSpec is fail2ban's OPTION_CRE: name[opts].
var (
	optionSpec    = regexp.MustCompile(`(?s)^([^\[]+)(?:\[(.*)\])?\s*$`)
	optionExtract = regexp.MustCompile(`(?s)\s*([\w\-_\.]+)=(?:"([^"]*)"|'([^']*)'|([^,\]]*))(?:,|\]\s*\[|$|(.+))|,?\s*$|(.+)`)
)

// extractOptions reads "name[opt=value, opt2='value']" (fail2ban's
// extractOptions), as used by `filter = sshd[mode=aggressive]`.
func extractOptions(spec string) (string, map[string]string, error) {
	m := optionSpec.FindStringSubmatch(spec)
	if m == nil {
		return "", nil, fmt.Errorf("unexpected option syntax %q", spec)
	}
	name, optstr := m[1], m[2]
	opts := map[string]string{}
	if optstr == "" {
		return name, opts, nil
	}
	for _, om := range optionExtract.FindAllStringSubmatchIndex(optstr, -1) {
		if om[10] >= 0 {
			return "", nil, fmt.Errorf("unexpected syntax at %d after option %q: %s", om[10], optstr[om[2]:om[3]], clip(optstr[om[10]:om[11]]))
		}
		if om[12] >= 0 {
			return "", nil, fmt.Errorf("expected option, wrong syntax at %d: %s", om[12], clip(optstr[om[12]:om[13]]))
		}
		if om[2] < 0 {
			continue
		}
		key := strings.TrimSpace(optstr[om[2]:om[3]])
		var val string
		for g := 2; g <= 4; g++ {
			if om[2*g] >= 0 {
				val = optstr[om[2*g]:om[2*g+1]]
				break
			}
		}
		opts[key] = strings.TrimSpace(val)
	}
	return name, opts, nil
}

// splitWords is fail2ban's splitwords: words separated by white space or
// commas.
func splitWords(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r' })
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
