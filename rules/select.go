package rules

import (
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/stockade-ids/stockade/internal/yamlnode"
)

// Selection is the daemon's `packs:` key: which of the loaded packs and
// rules run, as fail2ban's `enabled = true` per jail and cscli's
// install/remove do. Two forms:
//
//	packs: [sshd, nginx, postfix]        # only these (Only)
//	packs: {enable: [portscan], disable: [web-cve]}
//
// A name is a pack's or a rule's. A pack named turns on its rules that
// are on by default; a rule that is off by default (`enabled: false`,
// each for a reason its pack says) is turned on only by its own name.
type Selection struct {
	Only    []Name // the list form: nothing else runs
	Enable  []Name
	Disable []Name
	list    bool // the list form was written (an empty list runs nothing)
}

// Name is one name of a Selection, where the file writes it.
type Name struct {
	Value string
	Pos   Pos
}

// IsZero is whether the selection changes nothing: no packs: key.
func (s Selection) IsZero() bool {
	return !s.list && len(s.Enable) == 0 && len(s.Disable) == 0
}

// DecodeYAML reads either form; names are checked against the packs
// loaded later, by Select.
func (s *Selection) DecodeYAML(d *yamlnode.Decoder, n *yaml.Node, path string) {
	n = yamlnode.Resolve(n)
	switch n.Kind {
	case yaml.SequenceNode:
		s.list = true
		s.Only = names(d, n, path)
	case yaml.MappingNode:
		fs, ok := d.Fields(n, path)
		if !ok {
			return
		}
		for _, f := range fs {
			p := path + "." + f.Key.Value
			switch f.Key.Value {
			case "enable":
				s.Enable = names(d, f.Value, p)
			case "disable":
				s.Disable = names(d, f.Value, p)
			default:
				d.Add(f.Key, p, "%s", yamlnode.Unknown(f.Key.Value, []string{"enable", "disable"}))
			}
		}
	default:
		d.Add(n, path, "want a list of packs ([sshd, nginx]) or a mapping of enable: and disable: lists")
	}
}

func names(d *yamlnode.Decoder, n *yaml.Node, path string) []Name {
	n = yamlnode.Resolve(n)
	if n.Kind != yaml.SequenceNode {
		d.Add(n, path, "want a list of pack, rule or allowlist names")
		return nil
	}
	out := []Name{}
	for i, e := range n.Content {
		e = yamlnode.Resolve(e)
		if e.Kind != yaml.ScalarNode || e.Value == "" {
			d.Add(e, yamlnode.Index(path, i), "want a pack, rule or allowlist name")
			continue
		}
		out = append(out, Name{Value: e.Value, Pos: d.Pos(e)})
	}
	return out
}

// RuleState is whether a rule or an allowlist runs after a Selection,
// and why.
type RuleState struct {
	Pack, Rule string
	Allowlist  bool // Rule names an allowlist of the pack
	On         bool
	Why        string // default, off by default, enabled by config, disabled by config, enabled by pack P, not selected by config
}

// index is what a Selection's names can name.
type index struct {
	packs  map[string]*Pack
	rules  map[string]*Rule
	allows map[string]*Allowlist
	known  []string
}

func newIndex(packs []*Pack) *index {
	x := &index{packs: map[string]*Pack{}, rules: map[string]*Rule{}, allows: map[string]*Allowlist{}}
	for _, p := range packs {
		if _, dup := x.packs[p.Name]; !dup {
			x.known = append(x.known, p.Name)
		}
		x.packs[p.Name] = p
		for _, r := range p.Rules {
			x.rules[r.Policy.Name] = r
			x.known = append(x.known, r.Policy.Name)
		}
		for _, a := range p.Allowlists {
			x.allows[a.Name] = a
			x.known = append(x.known, a.Name)
		}
	}
	sort.Strings(x.known)
	return x
}

// chosen is what a Selection's names turn on and off, with why.
type chosen struct {
	on, off           map[*Rule]string
	onAllow, offAllow map[*Allowlist]string
}

// Select applies sel to packs: copies of the packs whose rules and
// allowlists are on or off as sel says (packs itself is not written),
// and the state of each. A name that is neither a loaded pack's nor a
// rule's nor an allowlist's is an error at its position, with the name
// probably meant; so is a name both enabled and disabled, and a pack
// named to enable whose rules are all off by default.
func Select(packs []*Pack, sel Selection) ([]*Pack, []RuleState, error) {
	x := newIndex(packs)
	var es Errors
	c := chosen{on: map[*Rule]string{}, off: map[*Rule]string{}, onAllow: map[*Allowlist]string{}, offAllow: map[*Allowlist]string{}}
	mark := func(ns []Name, enable bool, key string) {
		why := "disabled by config"
		if enable {
			why = "enabled by config"
		}
		for _, n := range ns {
			rs, as, ok := x.resolve(n, enable, key, &es)
			if !ok {
				continue
			}
			for _, r := range rs {
				if enable {
					c.on[r] = why
				} else {
					c.off[r] = why
				}
			}
			for _, a := range as {
				if enable {
					c.onAllow[a] = why
				} else {
					c.offAllow[a] = why
				}
			}
		}
	}
	mark(sel.Only, true, "packs")
	mark(sel.Enable, true, "packs.enable")
	mark(sel.Disable, false, "packs.disable")
	for _, n := range sel.Disable {
		for _, m := range sel.Enable {
			if m.Value == n.Value {
				es.Add(n.Pos, "packs.disable: %q is also enabled at %s", n.Value, m.Pos)
			}
		}
	}
	if err := es.Err(); err != nil {
		return nil, nil, err
	}
	return apply(packs, sel.list, c, x)
}

// resolve is the rules and allowlists a name turns on or off.
func (x *index) resolve(n Name, enable bool, key string, es *Errors) ([]*Rule, []*Allowlist, bool) {
	// A pack and its main rule often share a name (sshd): enabling it is
	// the rule, disabling it is the whole pack.
	p, ok := x.packs[n.Value]
	if r, isRule := x.rules[n.Value]; isRule && (enable || !ok) {
		return []*Rule{r}, nil, true
	}
	if a, isAllow := x.allows[n.Value]; isAllow && !ok {
		return nil, []*Allowlist{a}, true
	}
	if !ok {
		msg := "no pack, rule or allowlist %q in the packs loaded"
		if s := yamlnode.Suggest(n.Value, x.known); s != "" {
			es.Add(n.Pos, key+": "+msg+"; did you mean %s?", n.Value, s)
		} else {
			es.Add(n.Pos, key+": "+msg+" (stockade packs lists them)", n.Value)
		}
		return nil, nil, false
	}
	var rs []*Rule
	var offNames []string
	for _, r := range p.Rules {
		if enable && r.Off {
			offNames = append(offNames, r.Policy.Name)
			continue
		}
		rs = append(rs, r)
	}
	// A pack's allowlists all follow it: one on can only spare addresses.
	if enable && len(rs) == 0 && len(p.Allowlists) == 0 {
		es.Add(n.Pos, "%s: pack %q has only rules off by default; name them to accept why they are off: %s", key, n.Value, strings.Join(offNames, ", "))
		return nil, nil, false
	}
	return rs, p.Allowlists, true
}

// apply copies packs with each rule's and allowlist's Off as the
// selection leaves it, a pack's enable: included: the copies' enable:
// keep only names of nothing loaded, for NewSet to refuse, so that what
// the configuration disables stays off (it is the admin's last word).
func apply(packs []*Pack, only bool, c chosen, x *index) ([]*Pack, []RuleState, error) {
	enabledBy := map[string]string{}
	for _, p := range packs {
		for _, n := range p.Enable {
			enabledBy[n] = p.Name
		}
	}
	state := func(pack, name string, off bool, on, offBy map[string]string) RuleState {
		st := RuleState{Pack: pack, Rule: name, On: !off, Why: "default"}
		if off {
			st.Why = "off by default"
		}
		if by, ok := enabledBy[name]; ok && off {
			st.On, st.Why = true, "enabled by pack "+by
		}
		if only {
			st.On, st.Why = false, "not selected by config"
		}
		if why, ok := on[name]; ok {
			st.On, st.Why = true, why
		}
		if why, ok := offBy[name]; ok {
			st.On, st.Why = false, why
		}
		return st
	}
	on, off := byName(c.on, c.onAllow), byName(c.off, c.offAllow)
	out := make([]*Pack, len(packs))
	var states []RuleState
	for i, p := range packs {
		np := *p
		np.Rules = make([]*Rule, len(p.Rules))
		np.Allowlists = make([]*Allowlist, len(p.Allowlists))
		np.Enable = nil
		for _, n := range p.Enable {
			if x.rules[n] == nil && x.allows[n] == nil {
				np.Enable = append(np.Enable, n)
			}
		}
		for j, r := range p.Rules {
			st := state(p.Name, r.Policy.Name, r.Off, on, off)
			nr := *r
			pol := *r.Policy
			nr.Policy = &pol
			nr.Off = !st.On
			np.Rules[j] = &nr
			states = append(states, st)
		}
		for j, a := range p.Allowlists {
			st := state(p.Name, a.Name, a.Off, on, off)
			st.Allowlist = true
			na := *a
			na.Off = !st.On
			np.Allowlists[j] = &na
			states = append(states, st)
		}
		out[i] = &np
	}
	return out, states, nil
}

// byName keys what a selection chose by name.
func byName(rs map[*Rule]string, as map[*Allowlist]string) map[string]string {
	out := map[string]string{}
	for r, why := range rs {
		out[r.Policy.Name] = why
	}
	for a, why := range as {
		out[a.Name] = why
	}
	return out
}
