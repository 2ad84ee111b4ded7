package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/stockade-ids/stockade/internal/yamlnode"
	"github.com/stockade-ids/stockade/pipeline/sign"
)

// NATSServer hosts a NATS server inside stockade: a small site needs no
// other server; enforcers elsewhere connect to it.
//
// Who may do what on it is either one token, which lets its holder do
// everything (consume any firewall's durable, delete the stream), or
// roles: each sensor, firewall, correlator and administrator listed with
// its nkey (`stockade keygen`; a sensor's signing key is its NATS key
// too), allowed only what its role needs.
type NATSServer struct {
	// Listen is host:port (default 127.0.0.1:4222; 0.0.0.0:4222 to serve
	// firewalls on other hosts, with roles and TLS).
	Listen string `yaml:"listen"`
	// StoreDir holds JetStream's data (default STATE/nats).
	StoreDir string `yaml:"store_dir"`
	// Token is a single secret for every client, with every right.
	Token string   `yaml:"token"`
	TLS   PEMFiles `yaml:"tls"`
	// MaxStore caps JetStream's disk use (default 1 GiB).
	MaxStore int64 `yaml:"max_store"`

	// With roles, the daemon creates the stream (subjects
	// stockade.decisions.>) at start, and sets it back to these settings
	// if someone changed them: Stream names it (default STOCKADE), MaxAge
	// keeps decisions (default 30d), Duplicates is its duplicate window
	// (default 10m).
	Stream     string        `yaml:"stream"`
	MaxAge     time.Duration `yaml:"max_age"`
	Duplicates time.Duration `yaml:"duplicates"`
	// Sensors publish on stockade.decisions.<name>.> only (name = their
	// origin).
	Sensors []NATSPeer `yaml:"sensors"`
	// Firewalls read through their own durable consumer only (name = the
	// durable, `stockade enforce`'s name:), which the daemon creates.
	Firewalls []NATSPeer `yaml:"firewalls"`
	// Correlators do both: publish as origin name, read through durable
	// name.
	Correlators []NATSCorrelator `yaml:"correlators"`
	// Partitions, when set, shares the decisions out between that many
	// correlators by target: the server maps each decision published on
	// stockade.decisions.<origin>.<rule>.<target> (a NATS sink's subject
	// stockade.decisions.{origin}.{rule}.{target}) to the same subject
	// with its partition number appended, {{partition(N,3)}}, so that
	// every decision about one target lands in one partition, read by the
	// correlator whose partition: it is (its source: partitions: N,
	// partition: I). Decisions on other subjects are not partitioned: no
	// partitioned correlator sees them.
	Partitions int `yaml:"partitions"`
	// Admins may do everything (nats stream edit, consumer rm, …).
	Admins []NATSPeer `yaml:"admins"`
}

// PEMFiles name a server's certificate and key, and the CA its clients'
// certificates are checked against (set: required).
type PEMFiles struct {
	CA   string `yaml:"ca"`
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// NATSPeer is one client of the embedded server: its name in its role
// and its public nkey (U…, or N… as an older `stockade keygen` made).
type NATSPeer struct {
	Name string `yaml:"name"`
	Key  string `yaml:"key"`
}

// NATSCorrelator is a correlator of the embedded server.
type NATSCorrelator struct {
	NATSPeer `yaml:",inline"`
	// Partition is its partition (0 to partitions-1) when the server has
	// partitions: its durable reads that partition only.
	Partition int `yaml:"partition"`
}

// Peers are the correlators as peers.
func Peers(cs []NATSCorrelator) []NATSPeer {
	ps := make([]NATSPeer, len(cs))
	for i, c := range cs {
		ps[i] = c.NATSPeer
	}
	return ps
}

// PartitionMapping is the subject mapping of n partitions: the source
// subject and its destination, for the embedded server or an account's
// mappings in nats-server.conf.
func PartitionMapping(n int) (from, to string) {
	return "stockade.decisions.*.*.*", fmt.Sprintf("stockade.decisions.{{wildcard(1)}}.{{wildcard(2)}}.{{wildcard(3)}}.{{partition(%d,3)}}", n)
}

// HasRoles reports whether the server authorizes by role (nkeys) rather
// than by one token.
func (c *NATSServer) HasRoles() bool {
	return len(c.Sensors)+len(c.Firewalls)+len(c.Correlators)+len(c.Admins) > 0
}

// Validate reports every problem of the server and its roles, each with
// its key.
func (c NATSServer) Validate() error {
	var ps yamlnode.Problems
	if c.HasRoles() && c.Token != "" {
		ps.Add("token", "set either token or roles (sensors, firewalls, correlators, admins): the token would let its holder do all that the roles forbid; list administrators under admins")
	}
	if strings.ContainsAny(c.Stream, ". *>\t\r\n/\\") {
		ps.Add("stream", "%q cannot hold '.', '*', '>', '/', '\\' or whitespace", c.Stream)
	}
	if c.MaxAge < 0 {
		ps.Add("max_age", "cannot be negative")
	}
	if c.Duplicates < 0 {
		ps.Add("duplicates", "cannot be negative")
	}
	if c.MaxStore < 0 {
		ps.Add("max_store", "cannot be negative")
	}
	c.partitionProblems(&ps)
	if (c.TLS.Cert == "") != (c.TLS.Key == "") {
		ps.Add("tls", "cert and key go together")
	}
	c.rolesProblems(&ps)
	return ps.Err()
}

func (c *NATSServer) rolesProblems(ps *yamlnode.Problems) {
	keys := map[string]string{}
	// A name is an origin (its subject), a durable, or both: two parties
	// sharing an origin could publish as each other, two sharing a durable
	// would split its messages between them.
	origins, durables, admins := map[string]string{}, map[string]string{}, map[string]string{}
	for _, r := range []struct {
		role  string
		peers []NATSPeer
		names []map[string]string
	}{
		{"sensors", c.Sensors, []map[string]string{origins}},
		{"firewalls", c.Firewalls, []map[string]string{durables}},
		{"correlators", Peers(c.Correlators), []map[string]string{origins, durables}},
		{"admins", c.Admins, []map[string]string{admins}},
	} {
		for i, p := range r.peers {
			at := fmt.Sprintf("%s[%d]", r.role, i)
			if !ValidToken(p.Name) {
				// The name is a subject token (a sensor's subject, a
				// firewall's durable): a '.' or a wildcard would widen what
				// its permissions allow.
				ps.Add(at+".name", "%q: want letters, digits, '_' or '-'", p.Name)
			}
			for _, names := range r.names {
				if other, dup := names[p.Name]; dup && p.Name != "" {
					ps.Add(at+".name", "%q is %s's name too", p.Name, other)
					break
				}
			}
			for _, names := range r.names {
				names[p.Name] = at
			}
			u, err := sign.UserPublicKey(p.Key)
			if err != nil {
				ps.Add(at+".key", "%v", err)
				continue
			}
			if other, dup := keys[u]; dup {
				// NATS knows a user by key alone: one key, one role.
				ps.Add(at+".key", "the key of %s too; give each its own key", other)
			}
			keys[u] = at
		}
	}
}

func (c *NATSServer) partitionProblems(ps *yamlnode.Problems) {
	if c.Partitions < 0 || c.Partitions > 1024 {
		ps.Add("partitions", "%d is not between 0 and 1024", c.Partitions)
		return
	}
	for i, p := range c.Correlators {
		switch {
		case p.Partition != 0 && c.Partitions == 0:
			ps.Add(fmt.Sprintf("correlators[%d].partition", i), "needs nats_server's partitions:")
		case p.Partition < 0 || c.Partitions > 0 && p.Partition >= c.Partitions:
			ps.Add(fmt.Sprintf("correlators[%d].partition", i), "%d is not between 0 and partitions-1 (%d)", p.Partition, c.Partitions-1)
		}
	}
}

// ValidToken reports whether s can be one token of a NATS subject.
func ValidToken(s string) bool {
	return s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-')
	})
}
