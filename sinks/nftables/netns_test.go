package nftables

import (
	"context"
	"testing"
	"time"

	nft "github.com/google/nftables"

	"github.com/stockade-ids/stockade/internal/netlab"
	"github.com/stockade-ids/stockade/pipeline"
)

// nsConn is a netlink connection into the namespace, for checking the
// kernel's side independently of the sink and for playing the admin.
func nsConn(t testing.TB, ns *netlab.NS) *nft.Conn {
	t.Helper()
	c, err := nft.New(nft.WithNetNSFd(int(ns.Fd)), nft.WithSockOptions(bigDumps))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// newSink makes a connected sink working in ns, closed by t.Cleanup.
func newSink(t testing.TB, ns *netlab.NS, cfg Config) *Sink {
	t.Helper()
	cfg.NetNS = int(ns.Fd)
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Connect(context.Background()); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

// contents lists a set's elements as CIDR block → time left.
func contents(t testing.TB, ns *netlab.NS, table string, fam nft.TableFamily, set string) map[string]time.Duration {
	t.Helper()
	c := nsConn(t, ns)
	els, err := c.GetSetElements(&nft.Set{Table: &nft.Table{Name: table, Family: fam}, Name: set})
	if err != nil {
		t.Fatalf("list set %s: %v", set, err)
	}
	now := time.Now()
	out := map[string]time.Duration{}
	for _, e := range parseElements(els, now) {
		left := e.expires.Sub(now)
		if e.expires == never {
			left = -1
		}
		for _, p := range rangePrefixes(e) {
			out[p.String()] = left
		}
	}
	return out
}

// banned lists both sets of the default inet table.
func banned(t testing.TB, ns *netlab.NS) map[string]time.Duration {
	t.Helper()
	out := contents(t, ns, "stockade", nft.TableFamilyINet, "banned4")
	for k, v := range contents(t, ns, "stockade", nft.TableFamilyINet, "banned6") {
		out[k] = v
	}
	return out
}

// about reports whether got is want, give or take the time a test takes.
func about(got, want time.Duration) bool {
	d := got - want
	return d > -3*time.Second && d < time.Second
}

// banFor is a ban of target; one of a target that does not parse names
// none (what the sink must skip).
func banFor(target string, d time.Duration) pipeline.Decision {
	now := time.Now()
	p, _ := pipeline.ParseTarget(target)
	return pipeline.Decision{
		ID: "test-" + target, Action: pipeline.ActionBan, Target: pipeline.TargetOf(p), Rule: "test",
		At: now, Duration: int64(d / time.Second), Expires: now.Add(d),
	}
}

func unban(target string) pipeline.Decision {
	return pipeline.Decision{ID: "test-unban-" + target, Action: pipeline.ActionUnban, Target: pipeline.MustTarget(target), At: time.Now()}
}

func write(t testing.TB, s *Sink, ds ...pipeline.Decision) {
	t.Helper()
	if err := s.Write(context.Background(), ds); err != nil {
		t.Fatalf("Write: %v", err)
	}
}
