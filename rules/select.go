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
		d.Add(n, path, "want a list of pack or rule names")
		return nil
	}
	out := []Name{}
	for i, e := range n.Content {
		e = yamlnode.Resolve(e)
		if e.Kind != yaml.ScalarNode || e.Value == "" {
			d.Add(e, yamlnode.Index(path, i), "want a pack or rule name")
			continue
		}
		out = append(out, Name{Value: e.Value, Pos: d.Pos(e)})
	}
	return out
}

// RuleState is whether a rule runs after a Selection, and why.
type RuleState struct {
	Pack, Rule string
	On         bool
	Why        string // default, off by default, enabled by config, disabled by config, enabled by pack P, not selected by config
}

// Select applies sel to packs: copies of the packs whose rules are on or
// off as sel says (packs itself is not written), and every rule's state.
// A name that is neither a loaded pack's nor a rule's is an error at its
// position, with the name probably meant; so is a name both enabled and
// disabled, and a pack named to enable whose rules are all off by default.
func Select(packs []*Pack, sel Selection) ([]*Pack, []RuleState, error) {
	byPack := map[string]*Pack{}
	byRule := map[string]*Rule{}
	var known []string
	for _, p := range packs {
		if _, dup := byPack[p.Name]; !dup {
			known = append(known, p.Name)
		}
		byPack[p.Name] = p
		for _, r := range p.Rules {
			byRule[r.Policy.Name] = r
			known = append(known, r.Policy.Name)
		}
	}
	sort.Strings(known)
	var es Errors
	// on and off map rules to the Why a selection gives them.
	on, off := map[*Rule]string{}, map[*Rule]string{}
	mark := func(ns []Name, enable bool, key string) {
		for _, n := range ns {
			rs, ok := resolve(n, enable, byPack, byRule, known, key, &es)
			if !ok {
				continue
			}
			for _, r := range rs {
				if enable {
					on[r] = "enabled by config"
				} else {
					off[r] = "disabled by config"
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
	return apply(packs, sel.list, on, off, byRule)
}

// resolve is the rules a name turns on or off.
func resolve(n Name, enable bool, byPack map[string]*Pack, byRule map[string]*Rule, known []string, key string, es *Errors) ([]*Rule, bool) {
	// A pack and its main rule often share a name (sshd): enabling it is
	// the rule, disabling it is the whole pack.
	p, ok := byPack[n.Value]
	if r, isRule := byRule[n.Value]; isRule && (enable || !ok) {
		return []*Rule{r}, true
	}
	if !ok {
		msg := "no pack or rule %q in the packs loaded"
		if s := yamlnode.Suggest(n.Value, known); s != "" {
			es.Add(n.Pos, key+": "+msg+"; did you mean %s?", n.Value, s)
		} else {
			es.Add(n.Pos, key+": "+msg+" (stockade packs lists them)", n.Value)
		}
		return nil, false
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
	if enable && len(rs) == 0 {
		es.Add(n.Pos, "%s: pack %q has only rules off by default; name them to accept why they are off: %s", key, n.Value, strings.Join(offNames, ", "))
		return nil, false
	}
	return rs, true
}

// apply copies packs with each rule's Off as the selection leaves it, a
// pack's enable: included: the copies' enable: keep only names of no
// rule, for NewSet to refuse, so that a rule the configuration disables
// stays off (the configuration is the admin's last word).
func apply(packs []*Pack, only bool, on, off map[*Rule]string, byRule map[string]*Rule) ([]*Pack, []RuleState, error) {
	enabledBy := map[string]string{}
	for _, p := range packs {
		for _, n := range p.Enable {
			enabledBy[n] = p.Name
		}
	}
	out := make([]*Pack, len(packs))
	var states []RuleState
	for i, p := range packs {
		np := *p
		np.Rules = make([]*Rule, len(p.Rules))
		np.Enable = nil
		for _, n := range p.Enable {
			if byRule[n] == nil {
				np.Enable = append(np.Enable, n)
			}
		}
		for j, r := range p.Rules {
			st := RuleState{Pack: p.Name, Rule: r.Policy.Name, On: !r.Off, Why: "default"}
			if r.Off {
				st.Why = "off by default"
			}
			if by, ok := enabledBy[r.Policy.Name]; ok && r.Off {
				st.On, st.Why = true, "enabled by pack "+by
			}
			if only {
				st.On, st.Why = false, "not selected by config"
			}
			if why, ok := on[r]; ok {
				st.On, st.Why = true, why
			}
			if why, ok := off[r]; ok {
				st.On, st.Why = false, why
			}
			nr := *r
			pol := *r.Policy
			nr.Policy = &pol
			nr.Off = !st.On
			np.Rules[j] = &nr
			states = append(states, st)
		}
		out[i] = &np
	}
	return out, states, nil
}
