package rules

import (
	"net/netip"
	"slices"

	"go.yaml.in/yaml/v3"

	"github.com/stockade-ids/stockade/internal/yamlnode"
)

// Allowlist is a pack's named set of address ranges that no rule bans
// once it is on (a whitelists pack: verified crawlers, monitoring). It
// is addresses only, never a user agent or any other text of the line:
// whoever can send a request can write those, nobody can complete a TCP
// handshake from Google's ranges. Off unless `enabled: true` or an
// enable: (a pack's, or the configuration's packs:) names it.
type Allowlist struct {
	Name        string
	Description string
	Ranges      []netip.Prefix
	Off         bool
	Pos         Pos
}

// parseAllowlists reads a pack's allowlists: list.
func parseAllowlists(n *yaml.Node, pos func(*yaml.Node) Pos, es *Errors) []*Allowlist {
	if n.Kind != yaml.SequenceNode {
		es.Add(pos(n), "allowlists: want a list")
		return nil
	}
	var out []*Allowlist
	for _, e := range n.Content {
		fields, ok := yamlnode.Mapping(e, pos, es, "allowlist")
		if !ok {
			continue
		}
		a := &Allowlist{Pos: pos(e), Off: true}
		for _, f := range fields {
			switch f.Key.Value {
			case "name":
				a.Name = yamlnode.Scalar(f.Value, pos, es)
			case "description":
				a.Description = yamlnode.Scalar(f.Value, pos, es)
			case "ranges":
				for _, s := range yamlnode.StringList(f.Value, pos, es) {
					p, err := ParsePrefix(s.Value)
					if err != nil {
						es.Add(pos(s), "ranges: %v", err)
						continue
					}
					a.Ranges = append(a.Ranges, p)
				}
			case "enabled":
				var on bool
				if err := f.Value.Decode(&on); err != nil {
					es.Add(pos(f.Value), "enabled: want true or false")
				}
				a.Off = !on
			default:
				es.Add(pos(f.Key), "unknown key %q in allowlist (known: name, description, ranges, enabled)", f.Key.Value)
			}
		}
		if a.Name == "" {
			es.Add(a.Pos, "allowlist has no name")
			continue
		}
		if len(a.Ranges) == 0 {
			es.Add(a.Pos, "allowlist %s: no ranges", a.Name)
			continue
		}
		out = append(out, a)
	}
	return out
}

// allowRanges are the ranges of the allowlists that are on: not off, or
// named by a pack's enable: (which the caller removes from its list of
// names still to find).
func allowRanges(packs []*Pack, enable map[string]bool) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range packs {
		for _, a := range p.Allowlists {
			if enable[a.Name] {
				delete(enable, a.Name)
			} else if a.Off {
				continue
			}
			out = append(out, a.Ranges...)
		}
	}
	return out
}

// addAllow gives every rule the allowlists' ranges, in a copy of its
// policy: the pack's own is not written.
func addAllow(rs []*Rule, ranges []netip.Prefix) {
	if len(ranges) == 0 {
		return
	}
	for _, r := range rs {
		pol := *r.Policy
		pol.Allow = slices.Concat(r.Policy.Allow, ranges)
		r.Policy = &pol
	}
}
