package jailconf

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode"

	"go.yaml.in/yaml/v3"

	"github.com/stockade-ids/stockade/internal/srcpos"
	"github.com/stockade-ids/stockade/rules"
)

// longestBan stands in for fail2ban's permanent ban (a negative bantime):
// stockade's bans always end.
const longestBan = 100 * 365 * 24 * time.Hour

// Import reads the jails of dir and returns an equivalent stockade pack
// (YAML): one rule per enabled jail, in fail2ban's dialect, each with a
// comment saying where it came from and what was not translated. Errors
// carry the file and line of the fail2ban configuration.
func Import(dir string) ([]byte, error) {
	d := Open(dir)
	jails, err := d.Jails()
	if err != nil {
		return nil, err
	}
	return PackYAML(d, jails)
}

// PackYAML writes the enabled jails as a pack.
func PackYAML(d *Dir, jails []*Jail) ([]byte, error) {
	root := &yaml.Node{Kind: yaml.MappingNode}
	root.HeadComment = fmt.Sprintf("Imported from fail2ban configuration %s by `stockade import fail2ban`.\n"+
		"Rules in dialect fail2ban read whole lines with the date cut out, as fail2ban's filters do.", d.root)
	addScalar(root, "pack", "fail2ban")
	addScalar(root, "description", "fail2ban jails imported from "+d.root)
	list := &yaml.Node{Kind: yaml.SequenceNode}
	var skipped []string
	for _, j := range jails {
		if !j.Enabled {
			continue
		}
		if j.Filter == nil {
			skipped = append(skipped, j.Name+" (no filter)")
			continue
		}
		list.Content = append(list.Content, jailRule(d, j))
	}
	if len(list.Content) == 0 {
		return nil, fmt.Errorf("%s: no enabled jail with a filter (enable one with `enabled = true` in jail.local)", d.root)
	}
	if len(skipped) > 0 {
		root.HeadComment += "\nNot imported: " + strings.Join(skipped, ", ") + "."
	}
	return packYAML(root, list)
}

// Load imports dir (see Import) and loads the pack it makes: what
// `stockade import fail2ban DIR` prints is exactly what runs, and what it
// would print is refused if it would not load. It returns the pack's YAML
// and the pack, named PackName(dir).
func Load(dir string) ([]byte, *rules.Pack, error) {
	data, err := Import(dir)
	if err != nil {
		var es srcpos.Errors
		if errors.As(err, &es) {
			return nil, nil, fmt.Errorf("fail2ban configuration refused, %d error(s):\n%w", len(es), es)
		}
		return nil, nil, fmt.Errorf("fail2ban: %w", err)
	}
	p, err := rules.Parse(PackName(dir), data)
	if err != nil {
		return nil, nil, fmt.Errorf("the pack imported from %s does not load:\n%w", dir, err)
	}
	return data, p, nil
}

// PackName names the pack imported from dir in messages.
func PackName(dir string) string { return "fail2ban:" + dir }

func jailRule(d *Dir, j *Jail) *yaml.Node {
	f := j.Filter
	r := &yaml.Node{Kind: yaml.MappingNode}
	var notes []string
	rel := func(p srcpos.Pos) string {
		if rp, err := filepath.Rel(d.root, p.File); err == nil && !strings.HasPrefix(rp, "..") {
			p.File = rp
		}
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	head := fmt.Sprintf("jail [%s] at %s, filter %s", j.Name, rel(j.Pos), j.FilterSpec)
	if f.Pos.File != "" {
		head += " (failregex at " + rel(f.Pos) + ")"
	}
	addScalar(r, "name", j.Name)
	addScalar(r, "description", "fail2ban jail "+j.Name+", filter "+j.FilterSpec)
	addScalar(r, "dialect", "fail2ban")
	formats, sources, srcNote := jailSources(j, f)
	addList(r, "formats", formats, yaml.FlowStyle)
	if len(sources) > 0 {
		addList(r, "sources", sources, 0)
	}
	if srcNote != "" {
		notes = append(notes, srcNote)
	}
	filterRegexes(r, f, j)
	jailCounting(r, j, &notes)
	if j.LogTimezone != "" {
		notes = append(notes, "logtimezone "+j.LogTimezone+" is not translated: use --tz")
	}
	if f.UseDNS != "no" && j.UseDNS != "no" {
		notes = append(notes, "<HOST> may match a host name: stockade does not resolve DNS and counts such lines as \"host name\", not failures")
	}
	if f.PrefRegex == "" || !strings.Contains(f.PrefRegex, "F-MLFID") {
		for _, re := range f.FailRegex {
			if strings.Contains(re, "F-MLFID") {
				notes = append(notes, "sessions (<F-MLFID>) are kept per log file, for 5 minutes of log time")
				break
			}
		}
	} else {
		notes = append(notes, "sessions (<F-MLFID>) are kept per log file, for 5 minutes of log time")
	}
	notes = append(notes, j.Notes...)
	r.HeadComment = head
	if len(notes) > 0 {
		r.HeadComment += "\nNot translated as is: " + strings.Join(notes, "; ") + "."
	}
	return r
}

// jailCounting writes how the jail counts and bans: fail2ban bans at
// maxretry failures within findtime, for bantime, sparing ignoreip.
func jailCounting(r *yaml.Node, j *Jail, notes *[]string) {
	addScalar(r, "threshold", strconv.Itoa(j.MaxRetry))
	if j.MaxRetry > 1 {
		addScalar(r, "window", rules.FormatDuration(j.FindTime))
	}
	ban := j.BanTime
	if ban < 0 {
		ban = longestBan
		*notes = append(*notes, "bantime is negative (permanent): banned for 100 years")
	} else if ban < time.Second {
		ban = time.Second
	}
	addScalar(r, "ban", rules.FormatDuration(ban))
	if j.BanTime < 0 {
		addScalar(r, "escalate", "false")
	} else {
		escalation(r, j, notes)
	}
	var allow []string
	for _, ip := range j.IgnoreIP {
		if _, err := rules.ParsePrefix(ip); err == nil {
			allow = append(allow, ip)
		} else {
			*notes = append(*notes, fmt.Sprintf("ignoreip %s is a host name: not supported (no DNS)", ip))
		}
	}
	if len(allow) > 0 {
		addList(r, "allow", allow, yaml.FlowStyle)
	}
	if j.MaxMatches > 0 {
		addScalar(r, "evidence", strconv.Itoa(min(j.MaxMatches, 100)))
	}
}

// jailSources maps the jail's logs to what a rule sees: the journal for a
// systemd backend, else the logpath globs (and their base names, so that
// archived copies replay through the same rule). Every line format is
// taken: the rule reads the raw line.
func jailSources(j *Jail, f *Filter) (formats, sources []string, note string) {
	formats = []string{"syslog", "nginx", "fail2ban", "plain"}
	if strings.HasPrefix(j.Backend, "systemd") {
		return []string{"syslog"}, []string{"journald"}, "journalmatch is not applied: the rule sees every journal entry"
	}
	seen := map[string]bool{}
	for _, p := range j.LogPath {
		for _, s := range []string{p, filepath.Base(p)} {
			if !seen[s] {
				seen[s] = true
				sources = append(sources, s)
			}
		}
	}
	if len(sources) == 0 {
		note = "no logpath: the rule reads every log"
	}
	return formats, sources, note
}

// filterRegexes writes the filter's options, with the jail's additions
// and overrides.
func filterRegexes(r *yaml.Node, f *Filter, j *Jail) {
	pref := f.PrefRegex
	if j != nil && j.PrefRegex != nil {
		pref = *j.PrefRegex
	}
	if strings.TrimSpace(pref) != "" {
		addRegex(r, "prefregex", pref)
	}
	dates := f.DatePattern
	if j != nil && j.DatePattern != nil {
		dates = j.DatePattern
	}
	if len(dates) > 0 {
		addList(r, "datepattern", dates, 0)
	}
	maxLines := f.MaxLines
	if j != nil && j.MaxLines > 0 {
		maxLines = j.MaxLines
	}
	if maxLines > 1 {
		addScalar(r, "maxlines", strconv.Itoa(maxLines))
	}
	useDNS := f.UseDNS
	if j != nil && j.UseDNS != "" {
		useDNS = j.UseDNS
	}
	if useDNS != "" {
		addScalar(r, "usedns", useDNS)
	}
	fail := append([]string(nil), f.FailRegex...)
	ignore := append([]string(nil), f.IgnoreRegex...)
	if j != nil {
		fail = append(fail, j.FailRegex...)
		ignore = append(ignore, j.IgnoreRegex...)
	}
	addRegexList(r, "failregex", fail)
	if len(ignore) > 0 {
		addRegexList(r, "ignoreregex", ignore)
	}
}

// escalation maps bantime.increment and friends to escalate:.
func escalation(r *yaml.Node, j *Jail, notes *[]string) {
	if !j.Increment {
		addScalar(r, "escalate", "false")
		return
	}
	e := &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle}
	switch {
	case len(j.Multiplier) > 0:
		var ms []string
		for _, m := range j.Multiplier {
			ms = append(ms, strconv.FormatFloat(m*j.Factor, 'g', -1, 64))
		}
		seq := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
		for _, m := range ms {
			seq.Content = append(seq.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: m})
		}
		e.Content = append(e.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "multipliers"}, seq)
	case j.Formula != "" && j.Formula != defaultFormula:
		*notes = append(*notes, "bantime.formula "+j.Formula+" is not translated: the ban doubles with each offense")
		addScalar(e, "factor", "2")
	case j.Factor == 1:
		addScalar(e, "factor", "2")
	default:
		// fail2ban: ban × 2^count × factor after the first ban.
		f := strconv.FormatFloat(j.Factor, 'g', -1, 64)
		addScalar(e, "formula", "offense == 1 ? ban : ban * "+f+" * 2 ** min(offense - 1, 20)")
	}
	// bantime.maxtime caps the increments; a ban is never shorter than
	// bantime.
	max := j.MaxTime
	if max <= 0 {
		max = longestBan
	}
	max = maxDuration(max, j.BanTime)
	addScalar(e, "max", rules.FormatDuration(max))
	if !j.Overall {
		addScalar(e, "per_rule", "true")
	}
	if j.RndTime > 0 {
		*notes = append(*notes, "bantime.rndtime is not translated: bans are exact")
	}
	key := &yaml.Node{Kind: yaml.ScalarNode, Value: "escalate"}
	r.Content = append(r.Content, key, e)
}

const defaultFormula = "ban.Time * (1<<(ban.Count if ban.Count<20 else 20)) * banFactor"

// FilterRule writes one filter as a rule named name that bans at the first
// failure: what the conformance test and `stockade lint` of a single
// filter load.
func FilterRule(f *Filter, name string) ([]byte, error) {
	root := &yaml.Node{Kind: yaml.MappingNode}
	addScalar(root, "pack", "fail2ban-filter")
	r := &yaml.Node{Kind: yaml.MappingNode}
	addScalar(r, "name", name)
	addScalar(r, "dialect", "fail2ban")
	addList(r, "formats", []string{"syslog", "nginx", "fail2ban", "plain"}, yaml.FlowStyle)
	filterRegexes(r, f, nil)
	addScalar(r, "threshold", "1")
	addScalar(r, "ban", "1m")
	addScalar(r, "escalate", "false")
	return packYAML(root, &yaml.Node{Kind: yaml.SequenceNode, Content: []*yaml.Node{r}})
}

// packYAML writes a pack: root's fields, then the rules in list.
func packYAML(root, list *yaml.Node) ([]byte, error) {
	root.Content = append(root.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "rules"}, list)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func addScalar(m *yaml.Node, k, v string) {
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: k}, &yaml.Node{Kind: yaml.ScalarNode, Value: v})
}

func addRegex(m *yaml.Node, k, v string) {
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: k}, quoted(v))
}

func addList(m *yaml.Node, k string, vs []string, style yaml.Style) {
	seq := &yaml.Node{Kind: yaml.SequenceNode, Style: style}
	for _, v := range vs {
		seq.Content = append(seq.Content, quoted(v))
	}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: k}, seq)
}

func addRegexList(m *yaml.Node, k string, vs []string) {
	addList(m, k, vs, 0)
}

// quoted writes a string so that YAML gives it back exactly: single
// quotes when it is printable on one line, double quotes (with escapes)
// otherwise.
func quoted(s string) *yaml.Node {
	style := yaml.SingleQuotedStyle
	for _, r := range s {
		if !unicode.IsPrint(r) || r == '\n' || r == '\t' {
			style = yaml.DoubleQuotedStyle
			break
		}
	}
	if s == "" || strings.TrimSpace(s) != s {
		style = yaml.DoubleQuotedStyle
	}
	if isPlainWord(s) {
		style = 0
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Value: s, Style: style, Tag: "!!str"}
}

func isPlainWord(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' || r == '/' || r == '*') {
			return false
		}
	}
	switch strings.ToLower(s) {
	case "yes", "no", "true", "false", "on", "off", "null", "y", "n", "~":
		return false
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return false
	}
	return !strings.HasPrefix(s, "*") && !strings.HasPrefix(s, "-")
}

func maxDuration(a, b time.Duration) time.Duration {
	if a > b {
		return a
	}
	return b
}
