package nftables

import (
	"strings"
	"time"

	"github.com/stockade-ids/stockade/internal/yamlnode"
	"github.com/stockade-ids/stockade/pipeline/guard"
)

// Config says where bans go. The zero value is usable: table "inet
// stockade", one chain on the input hook at priority -10, sets banned4 and
// banned6, IPv6 banned by /128.
type Config struct {
	Table  string   `yaml:"table"`  // default "stockade"
	Family string   `yaml:"family"` // "inet" (default), "ip" or "ip6"
	Chains []string `yaml:"chains"` // hooks to filter: "input" (default), "forward"
	// Priority of our chains; 0 selects the default, -10: before the
	// usual filter chains at 0, after conntrack. (Exactly 0 cannot be
	// chosen; 1 or -1 sit next to it.)
	Priority int `yaml:"priority"`
	// SetOnly inserts into sets that the admin made and references from
	// rules of their own. Nothing but those sets' elements is ever created,
	// changed or deleted; the sets must have flags interval and timeout.
	// Reconcile makes their content equal to the ledger's, so do not put
	// hand-made elements in them: use a second set in the same rule. (At a
	// restart one without a timeout is removed; one with a timeout cannot be
	// told from a ban whose save was lost, and is adopted as a ban.)
	SetOnly bool   `yaml:"set_only"`
	SetV4   string `yaml:"set_v4"` // default "banned4"
	SetV6   string `yaml:"set_v6"` // default "banned6"
	// IPv6Prefix widens IPv6 bans to this prefix length (e.g. 64: one ban
	// covers the subnet a single host can hop around in). Default 128. A
	// range that holds an address Guard protects is not widened to: the
	// ban stays the address itself.
	IPv6Prefix int `yaml:"ipv6_prefix"`
	// Guard is what is never banned (nil: the special ranges only). See
	// Protect for addresses protected after their range was banned.
	Guard *guard.Guard
	// ChunkSize caps the kernel elements per netlink batch (an interval is
	// two: start and end). Default 512; the limit is 1024 because one
	// message over about 1,000 elements outgrows netlink's 64 KiB attribute.
	ChunkSize int `yaml:"chunk_size"`
	// NetNS is an open network namespace fd to work in (tests); 0 is the
	// namespace of the process.
	NetNS int
	// NoWatch turns off following nftables' change notifications (see
	// watch.go): a table, set or rule another program deletes then stays
	// deleted until the next write finds the kernel disagreeing.
	NoWatch bool
	// Now is the wall clock decisions' expiry times are read against
	// (kernel timeouts are what is left of them); nil is time.Now. It must
	// be the clock the decisions were made with.
	Now func() time.Time `json:"-"`
}

const (
	maxChunk = 1024
	// minIPv6Prefix keeps aggregation from turning one address into a
	// provider-sized ban.
	minIPv6Prefix = 16
)

func (c *Config) setDefaults() {
	if c.Table == "" {
		c.Table = "stockade"
	}
	if c.Family == "" {
		c.Family = "inet"
	}
	if len(c.Chains) == 0 {
		c.Chains = []string{"input"}
	} else {
		c.Chains = append([]string(nil), c.Chains...)
	}
	if c.Priority == 0 {
		c.Priority = -10
	}
	if c.SetV4 == "" {
		c.SetV4 = "banned4"
	}
	if c.SetV6 == "" {
		c.SetV6 = "banned6"
	}
	if c.IPv6Prefix == 0 {
		c.IPv6Prefix = 128
	}
	if c.ChunkSize == 0 {
		c.ChunkSize = 512
	}
}

// Validate reports every problem of c once its defaults are filled in,
// each with its key (yamlnode.Problems).
func (c Config) Validate() error {
	c.setDefaults()
	return c.problems().Err()
}

// validate is Validate for New, in its words ("nftables: family: ...").
func (c *Config) validate() error { return c.problems().Under("nftables") }

func (c *Config) problems() yamlnode.Problems {
	var ps yamlnode.Problems
	bad := ps.Add
	for _, n := range []struct{ field, name string }{{"table", c.Table}, {"set_v4", c.SetV4}, {"set_v6", c.SetV6}} {
		// NFT_NAME_MAXLEN is 256 with the terminating NUL.
		if len(n.name) > 255 || strings.ContainsRune(n.name, 0) {
			bad(n.field, "%q is not a valid nftables name", n.name)
		}
	}
	switch c.Family {
	case "inet", "ip", "ip6":
	default:
		bad("family", "%q: want inet, ip or ip6", c.Family)
	}
	seen := map[string]bool{}
	for _, ch := range c.Chains {
		if ch != "input" && ch != "forward" {
			bad("chains", "%q: want input or forward", ch)
		}
		if seen[ch] {
			bad("chains", "%q listed twice", ch)
		}
		seen[ch] = true
	}
	if c.Priority < -1<<31 || c.Priority > 1<<31-1 {
		bad("priority", "%d does not fit a chain priority (int32)", c.Priority)
	}
	if c.SetV4 == c.SetV6 {
		bad("set_v6", "%q is also the IPv4 set", c.SetV6)
	}
	if c.IPv6Prefix < minIPv6Prefix || c.IPv6Prefix > 128 {
		bad("ipv6_prefix", "%d: want %d to 128", c.IPv6Prefix, minIPv6Prefix)
	}
	if c.ChunkSize < 2 || c.ChunkSize > maxChunk {
		bad("chunk_size", "%d: want 2 to %d", c.ChunkSize, maxChunk)
	}
	if c.NetNS < 0 {
		bad("netns", "%d is not a file descriptor", c.NetNS)
	}
	return ps
}

func (c *Config) wantV4() bool { return c.Family != "ip6" }
func (c *Config) wantV6() bool { return c.Family != "ip" }
