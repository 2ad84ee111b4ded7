package enforce

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/stockade-ids/stockade/internal/yamlnode"
	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/protect"
)

// PolicyConfig is a Policy as a configuration file writes it: a
// firewall's policy: section, and a correlator's bus source's. Ranges are
// CIDRs or single addresses.
type PolicyConfig struct {
	Allow        []string      `yaml:"allow"`
	MaxDuration  time.Duration `yaml:"max_duration"`
	AllowPrivate bool          `yaml:"allow_private"`
	Permit       []string      `yaml:"permit"`
	MinBits4     int           `yaml:"min_bits4"`
	MinBits6     int           `yaml:"min_bits6"`
	Remember     time.Duration `yaml:"remember"`
	RememberMax  int           `yaml:"remember_max"`
	Origins      []Origin      `yaml:"origins"`
}

// Validate reports every problem of c, each with its key.
func (c PolicyConfig) Validate() error {
	_, ps := c.build()
	return ps.Err()
}

// Policy is the Policy c describes, the host's own addresses (as they
// are now) joining its allowlist; its errors read "policy: allow[0]: ...".
func (c PolicyConfig) Policy() (Policy, error) {
	p, ps := c.build()
	p.Allow = append(p.Allow, protect.OwnAddresses()...)
	return p, ps.Under("policy")
}

func (c PolicyConfig) build() (Policy, yamlnode.Problems) {
	var ps yamlnode.Problems
	p := Policy{
		Allow:        prefixes(&ps, "allow", c.Allow),
		MaxDuration:  c.MaxDuration,
		AllowPrivate: c.AllowPrivate,
		Permit:       prefixes(&ps, "permit", c.Permit),
		MinBits4:     c.MinBits4, MinBits6: c.MinBits6,
		Remember: c.Remember, MaxRemembered: c.RememberMax,
		Origins: append([]Origin(nil), c.Origins...),
	}
	ps = append(ps, p.problems()...)
	return p, ps
}

// prefixes parses the ranges of key, adding a problem for each bad one.
func prefixes(ps *yamlnode.Problems, key string, vals []string) []netip.Prefix {
	var out []netip.Prefix
	for i, v := range vals {
		p, err := pipeline.ParseTarget(v)
		if err != nil {
			ps.Add(fmt.Sprintf("%s[%d]", key, i), "%s", err)
			continue
		}
		out = append(out, p)
	}
	return out
}
