package suricata

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/stockade-ids/stockade/pipeline"
)

// HomeNet is the network a Suricata sensor protects, its HOME_NET: an
// address in it is never banned for a Suricata alert, and of an alert with
// one side in it the other side is the one banned. It is written as
// Suricata writes address groups: "[192.168.0.0/16,10.0.0.0/8,!10.9.0.0/16]",
// with ranges (a-b), nested groups and negations; named groups ($X) are
// resolved when it is read from a suricata.yaml. The zero HomeNet is empty:
// no address is home.
type HomeNet struct {
	set  *addrSet
	text string
}

// addrSet is one bracketed group: an address is in it when some positive
// item holds it (or the group has only negations, which Suricata reads as
// "any but") and no negated item does.
type addrSet struct {
	any      bool
	prefixes []netip.Prefix
	ranges   [][2]netip.Addr
	groups   []*addrSet
	not      []*addrSet
}

func (s *addrSet) contains(a netip.Addr) bool {
	in := s.any || (len(s.prefixes) == 0 && len(s.ranges) == 0 && len(s.groups) == 0)
	for _, p := range s.prefixes {
		if in {
			break
		}
		in = p.Contains(a)
	}
	for _, r := range s.ranges {
		if in {
			break
		}
		in = a.BitLen() == r[0].BitLen() && a.Compare(r[0]) >= 0 && a.Compare(r[1]) <= 0
	}
	for _, g := range s.groups {
		if in {
			break
		}
		in = g.contains(a)
	}
	if !in {
		return false
	}
	for _, n := range s.not {
		if n.contains(a) {
			return false
		}
	}
	return true
}

// Contains reports whether a is in the home net.
func (h *HomeNet) Contains(a netip.Addr) bool {
	return h.set != nil && a.IsValid() && h.set.contains(pipeline.Canonical(a))
}

func (h *HomeNet) empty() bool { return h.set == nil }

// String is the home net as it was written (named groups resolved).
func (h HomeNet) String() string { return h.text }

// ParseHomeNet reads a home net in Suricata's address syntax, or a comma
// separated list of CIDRs (what --home-net takes). Named groups are refused:
// only a suricata.yaml defines them.
func ParseHomeNet(s string) (HomeNet, error) {
	return parseHomeNet(s, nil)
}

func parseHomeNet(s string, groups map[string]string) (HomeNet, error) {
	text := strings.TrimSpace(s)
	if text == "" {
		return HomeNet{}, nil
	}
	r := addrReader{groups: groups}
	group := text
	if !strings.HasPrefix(text, "[") || !strings.HasSuffix(text, "]") {
		group = "[" + text + "]" // one address or a list of CIDRs
	}
	set, err := r.group(group, 0)
	if err != nil {
		return HomeNet{}, err
	}
	if set.contains(netip.IPv4Unspecified()) && set.contains(netip.MustParseAddr("203.0.113.1")) &&
		set.contains(netip.IPv6Unspecified()) && set.contains(netip.MustParseAddr("2001:db8::1")) {
		// "any", or everything but some: (almost) every address would be
		// home and no Suricata alert would ever ban. That is a sensor
		// configured for transit traffic, not a home net.
		return HomeNet{}, fmt.Errorf("home net %q holds every address but exceptions: no Suricata alert could ban", text)
	}
	return HomeNet{set: set, text: text}, nil
}

// addrReader reads Suricata address expressions.
type addrReader struct {
	groups map[string]string
}

// maxDepth bounds nesting and named-group chains (a cycle $A: "[$B]",
// $B: "[$A]" ends here).
const maxDepth = 16

// group reads "[item,item,...]".
func (r *addrReader) group(s string, depth int) (*addrSet, error) {
	if depth > maxDepth {
		return nil, errors.New("address groups nested too deep (a cycle of named groups?)")
	}
	s = strings.TrimSpace(s)
	if len(s) < 2 || s[0] != '[' || s[len(s)-1] != ']' {
		return nil, fmt.Errorf("%q: an address group is written [a,b,...]", s)
	}
	items, err := splitItems(s[1 : len(s)-1])
	if err != nil {
		return nil, err
	}
	set := &addrSet{}
	for _, it := range items {
		if err := r.item(set, it, depth); err != nil {
			return nil, err
		}
	}
	return set, nil
}

// splitItems splits at the commas outside brackets.
func splitItems(s string) ([]string, error) {
	var items []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '[':
			depth++
		case ']':
			if depth--; depth < 0 {
				return nil, fmt.Errorf("%q: unbalanced ]", s)
			}
		case ',':
			if depth == 0 {
				items = append(items, s[start:i])
				start = i + 1
			}
		}
	}
	if depth != 0 {
		return nil, fmt.Errorf("%q: unbalanced [", s)
	}
	return append(items, s[start:]), nil
}

func (r *addrReader) item(set *addrSet, it string, depth int) error {
	it = strings.TrimSpace(it)
	neg := false
	for strings.HasPrefix(it, "!") {
		neg = !neg
		it = strings.TrimSpace(it[1:])
	}
	var sub *addrSet
	switch {
	case it == "":
		return errors.New("empty address in group")
	case it == "any":
		sub = &addrSet{any: true}
	case it[0] == '$':
		def, ok := r.groups[it[1:]]
		if !ok {
			return fmt.Errorf("%s: no such address group", it)
		}
		def = strings.TrimSpace(def)
		if !strings.HasPrefix(def, "[") {
			def = "[" + def + "]"
		}
		g, err := r.group(def, depth+1)
		if err != nil {
			return fmt.Errorf("%s: %w", it, err)
		}
		sub = g
	case it[0] == '[':
		g, err := r.group(it, depth+1)
		if err != nil {
			return err
		}
		sub = g
	default:
		leaf, err := leafSet(it)
		if err != nil {
			return err
		}
		sub = leaf
	}
	if neg {
		set.not = append(set.not, sub)
		return nil
	}
	set.groups = append(set.groups, sub)
	return nil
}

// leafSet reads an address, a CIDR or a range a-b.
func leafSet(it string) (*addrSet, error) {
	if lo, hi, ok := strings.Cut(it, "-"); ok {
		a, err1 := netip.ParseAddr(strings.TrimSpace(lo))
		b, err2 := netip.ParseAddr(strings.TrimSpace(hi))
		if err1 != nil || err2 != nil || a.BitLen() != b.BitLen() || b.Less(a) {
			return nil, fmt.Errorf("%q: not an address range", it)
		}
		return &addrSet{ranges: [][2]netip.Addr{{a.Unmap(), b.Unmap()}}}, nil
	}
	if !strings.Contains(it, "/") {
		a, err := netip.ParseAddr(it)
		if err != nil {
			return nil, fmt.Errorf("%q: not an address or CIDR", it)
		}
		a = pipeline.Canonical(a)
		return &addrSet{prefixes: []netip.Prefix{netip.PrefixFrom(a, a.BitLen())}}, nil
	}
	p, err := netip.ParsePrefix(it)
	if err != nil {
		return nil, fmt.Errorf("%q: not an address or CIDR", it)
	}
	return &addrSet{prefixes: []netip.Prefix{p.Masked()}}, nil
}

// HomeNetFromYAML reads HOME_NET from a suricata.yaml: vars: address-groups:
// HOME_NET, with the named groups it refers to. name is the file's name for
// errors, which carry the line of HOME_NET.
func HomeNetFromYAML(name string, data []byte) (HomeNet, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return HomeNet{}, fmt.Errorf("%s: %w", name, err)
	}
	groups := map[string]string{}
	var home *yaml.Node
	if len(doc.Content) > 0 {
		ag := child(child(doc.Content[0], "vars"), "address-groups")
		if ag != nil && ag.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(ag.Content); i += 2 {
				k, v := ag.Content[i], ag.Content[i+1]
				if v.Kind == yaml.ScalarNode {
					groups[k.Value] = v.Value
				}
				if k.Value == "HOME_NET" {
					home = v
				}
			}
		}
	}
	if home == nil {
		return HomeNet{}, fmt.Errorf("%s: no vars: address-groups: HOME_NET", name)
	}
	if home.Kind != yaml.ScalarNode {
		return HomeNet{}, fmt.Errorf("%s:%d:%d: HOME_NET: not a string", name, home.Line, home.Column)
	}
	h, err := parseHomeNet(home.Value, groups)
	if err != nil {
		return HomeNet{}, fmt.Errorf("%s:%d:%d: HOME_NET: %w", name, home.Line, home.Column, err)
	}
	if h.empty() {
		return HomeNet{}, fmt.Errorf("%s:%d:%d: HOME_NET is empty", name, home.Line, home.Column)
	}
	return h, nil
}

// maxSuricataYAML bounds what is read of a suricata.yaml (Suricata's own is
// under 100 KiB): a path to /dev/zero or a log must not hang the start.
const maxSuricataYAML = 4 << 20

// LoadHomeNet reads HOME_NET from the suricata.yaml at path.
func LoadHomeNet(path string) (HomeNet, error) {
	f, err := os.Open(path)
	if err != nil {
		return HomeNet{}, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return HomeNet{}, fmt.Errorf("%s: not a regular file", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxSuricataYAML+1))
	if err != nil {
		return HomeNet{}, err
	}
	if len(data) > maxSuricataYAML {
		return HomeNet{}, fmt.Errorf("%s: over %d MiB: not a suricata.yaml", path, maxSuricataYAML>>20)
	}
	return HomeNetFromYAML(path, data)
}

// child is the value of key in mapping n, or nil.
func child(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// Union is the home net holding the addresses of h and of o, for a home net
// given both in the configuration and by a suricata.yaml.
func (h HomeNet) Union(o HomeNet) HomeNet {
	switch {
	case h.empty():
		return o
	case o.empty():
		return h
	}
	return HomeNet{set: &addrSet{groups: []*addrSet{h.set, o.set}}, text: "[" + h.text + "," + o.text + "]"}
}

// Prefixes lists the CIDRs of h that are plainly home, for a firewall's
// guard: a negated part withdraws nothing here, since a guard that protects
// too much refuses a ban and one that protects too little bans a home
// address. Ranges are left out, as are negated groups' holes.
func (h HomeNet) Prefixes() []netip.Prefix {
	var out []netip.Prefix
	var walk func(*addrSet)
	walk = func(s *addrSet) {
		if s == nil {
			return
		}
		out = append(out, s.prefixes...)
		for _, g := range s.groups {
			walk(g)
		}
	}
	walk(h.set)
	return out
}

// HomeNetOf is the network a sensor protects as a configuration gives it:
// the entries (CIDRs, or Suricata's address syntax; what names them in
// errors) and the HOME_NET of a suricata.yaml, both when both are given.
// No address in it is banned by a Suricata alert; other rules (sshd,
// nginx) still ban a home host that attacks them.
func HomeNetOf(what string, entries []string, suricataYAML string) (HomeNet, error) {
	var h HomeNet
	if len(entries) > 0 {
		var err error
		if h, err = ParseHomeNet(strings.Join(entries, ",")); err != nil {
			return h, fmt.Errorf("%s: %w", what, err)
		}
	}
	if suricataYAML != "" {
		y, err := LoadHomeNet(suricataYAML)
		if err != nil {
			return h, err
		}
		h = h.Union(y)
	}
	return h, nil
}
