package nftables

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	nft "github.com/google/nftables"
	"github.com/google/nftables/expr"

	"github.com/stockade-ids/stockade/internal/netlab"
	"github.com/stockade-ids/stockade/pipeline"
)

func TestConnectIsIdempotent(t *testing.T) {
	ns := netlab.New(t, "idem")
	s := newSink(t, ns, Config{Chains: []string{"input", "forward"}})
	write(t, s, banFor("203.0.113.7", time.Hour))
	if err := s.Connect(t.Context()); err != nil {
		t.Fatalf("second Connect: %v", err)
	}
	newSink(t, ns, Config{Chains: []string{"input", "forward"}}) // a restart

	c := nsConn(t, ns)
	tables, err := c.ListTables()
	if err != nil {
		t.Fatal(err)
	}
	if len(tables) != 1 || tables[0].Name != "stockade" || tables[0].Family != nft.TableFamilyINet {
		t.Fatalf("tables: %+v, want inet stockade only", tables)
	}
	chains, err := c.ListChainsOfTableFamily(nft.TableFamilyINet)
	if err != nil {
		t.Fatal(err)
	}
	if len(chains) != 2 {
		t.Fatalf("%d chains, want input and forward", len(chains))
	}
	for _, ch := range chains {
		if *ch.Policy != nft.ChainPolicyAccept || *ch.Priority != -10 {
			t.Errorf("chain %s: policy %d priority %d, want accept, -10", ch.Name, *ch.Policy, *ch.Priority)
		}
		rules, err := c.GetRules(ch.Table, ch)
		if err != nil {
			t.Fatal(err)
		}
		if len(rules) != 2 {
			t.Errorf("chain %s has %d rules, want 2 (one per set)", ch.Name, len(rules))
		}
		for _, r := range rules {
			if !slices.ContainsFunc(r.Exprs, func(e expr.Any) bool { _, ok := e.(*expr.Counter); return ok }) {
				t.Errorf("chain %s: a rule without a counter", ch.Name)
			}
		}
	}
	if got := banned(t, ns); len(got) != 1 || !about(got["203.0.113.7/32"], time.Hour) {
		t.Errorf("the ban did not survive: %v", got)
	}
}

func TestBan(t *testing.T) {
	ns := netlab.New(t, "ban")
	s := newSink(t, ns, Config{})
	half := banFor("198.51.100.20", time.Hour)
	half.At, half.Expires = half.At.Add(-30*time.Minute), half.Expires.Add(-30*time.Minute)
	forever := banFor("198.51.100.21", time.Hour)
	forever.Expires = forever.At.AddDate(1000, 0, 0)
	for _, tc := range []struct {
		name string
		d    pipeline.Decision
		want string
		left time.Duration
	}{
		{"IPv4 address", banFor("203.0.113.7", time.Hour), "203.0.113.7/32", time.Hour},
		{"IPv6 address", banFor("2001:db8::7", 2*time.Hour), "2001:db8::7/128", 2 * time.Hour},
		{"IPv4 range", banFor("192.0.2.0/24", 3*time.Hour), "192.0.2.0/24", 3 * time.Hour},
		{"IPv6 range", banFor("2001:db8:1::/48", time.Hour), "2001:db8:1::/48", time.Hour},
		{"IPv4-mapped goes in the IPv4 set", banFor("::ffff:198.51.100.9", time.Hour), "198.51.100.9/32", time.Hour},
		{"the timeout is the time left, not the duration", half, "198.51.100.20/32", 30 * time.Minute},
		{"a ban longer than the kernel takes is capped", forever, "198.51.100.21/32", maxBan},
	} {
		t.Run(tc.name, func(t *testing.T) {
			write(t, s, tc.d)
			got, ok := banned(t, ns)[tc.want]
			if !ok || !about(got, tc.left) {
				t.Errorf("%s: in the kernel %v with %v left, want %v", tc.want, ok, got, tc.left)
			}
		})
	}
}

func TestLongestBanWins(t *testing.T) {
	ns := netlab.New(t, "long")
	s := newSink(t, ns, Config{})
	write(t, s, banFor("203.0.113.7", time.Hour))
	write(t, s, banFor("203.0.113.7", 3*time.Hour))
	if got := banned(t, ns)["203.0.113.7/32"]; !about(got, 3*time.Hour) {
		t.Errorf("extended: %v left, want 3h", got)
	}
	write(t, s, banFor("203.0.113.7", 2*time.Hour))
	if got := banned(t, ns)["203.0.113.7/32"]; !about(got, 3*time.Hour) {
		t.Errorf("a shorter ban shortened it: %v left, want 3h", got)
	}
	// A restart reads the kernel back: still not shortened.
	s2 := newSink(t, ns, Config{})
	write(t, s2, banFor("203.0.113.7", 2*time.Hour))
	if got := banned(t, ns)["203.0.113.7/32"]; !about(got, 3*time.Hour) {
		t.Errorf("after a restart a shorter ban shortened it: %v left, want 3h", got)
	}
	if st := s.Stats(); st.Bans != 2 || st.Kept != 1 {
		t.Errorf("stats %+v, want 2 bans 1 kept", st)
	}
}

func TestUnban(t *testing.T) {
	ns := netlab.New(t, "unban")
	s := newSink(t, ns, Config{})
	write(t, s, banFor("203.0.113.7", time.Hour), banFor("198.51.100.0/24", time.Hour), banFor("2001:db8::1", time.Hour))
	write(t, s, unban("203.0.113.7"), unban("2001:db8::1"))
	if got := keys(banned(t, ns)); got != "198.51.100.0/24" {
		t.Fatalf("after unbanning the addresses: %s", got)
	}
	// Only what the decision names: the range is another target.
	write(t, s, unban("198.51.100.9"))
	if got := keys(banned(t, ns)); got != "198.51.100.0/24" {
		t.Fatalf("unban of an address inside a banned range: %s", got)
	}
	write(t, s, unban("198.51.100.0/24"))
	if got := keys(banned(t, ns)); got != "" {
		t.Fatalf("after unbanning the range: %s", got)
	}
}

func keys(m map[string]time.Duration) string {
	return strings.Join(slices.Sorted(maps.Keys(m)), " ")
}

func TestOverlapsAreMerged(t *testing.T) {
	ns := netlab.New(t, "merge")
	s := newSink(t, ns, Config{})
	write(t, s, banFor("203.0.113.7", 24*time.Hour), banFor("203.0.113.9", 30*time.Minute))
	// The kernel refuses overlapping intervals; the range is cut around the
	// address that stays banned longer and absorbs the one that does not.
	write(t, s, banFor("203.0.113.0/24", time.Hour))
	got := banned(t, ns)
	want := map[string]time.Duration{
		"203.0.113.0/30": time.Hour, "203.0.113.4/31": time.Hour, "203.0.113.6/32": time.Hour,
		"203.0.113.7/32": 24 * time.Hour,
		"203.0.113.8/29": time.Hour, "203.0.113.16/28": time.Hour, "203.0.113.32/27": time.Hour,
		"203.0.113.64/26": time.Hour, "203.0.113.128/25": time.Hour,
	}
	if keys(got) != keys(want) {
		t.Fatalf("elements:\n got %s\nwant %s", keys(got), keys(want))
	}
	for k, left := range want {
		if !about(got[k], left) {
			t.Errorf("%s: %v left, want %v", k, got[k], left)
		}
	}
	// A longer range swallows everything: one element.
	write(t, s, banFor("203.0.113.0/24", 48*time.Hour))
	if got := banned(t, ns); len(got) != 1 || !about(got["203.0.113.0/24"], 48*time.Hour) {
		t.Errorf("after a longer range ban: %v", got)
	}
	// And a wider one absorbs the range.
	write(t, s, banFor("203.0.112.0/23", 72*time.Hour))
	if got := banned(t, ns); len(got) != 1 || !about(got["203.0.112.0/23"], 72*time.Hour) {
		t.Errorf("after a wider range ban: %v", got)
	}
	write(t, s, unban("203.0.112.0/23"))
	if got := keys(banned(t, ns)); got != "203.0.113.0/24" {
		t.Errorf("after unbanning the wider range the /24 is back alone: %s", got)
	}
}

func TestChunks(t *testing.T) {
	ns := netlab.New(t, "chunk")
	s := newSink(t, ns, Config{ChunkSize: 512})
	var ds []pipeline.Decision
	for i := range 4000 {
		ds = append(ds, banFor(fmt.Sprintf("10.%d.%d.1", i/250, i%250), time.Hour))
	}
	for i := range 1000 {
		ds = append(ds, banFor(fmt.Sprintf("2001:db8:%x::1", i), time.Hour))
	}
	write(t, s, ds...)
	if got := len(banned(t, ns)); got != 5000 {
		t.Fatalf("%d elements in the kernel, want 5000", got)
	}
	// 5,000 intervals are 10,000 netlink entries: at least 20 batches.
	if b := s.Stats().Batches; b < 20 {
		t.Errorf("%d batches for 10,000 entries of at most 512", b)
	}
	// One range over 4,000 addresses: a cluster larger than a batch.
	write(t, s, banFor("10.0.0.0/8", 2*time.Hour))
	if got := banned(t, ns); len(got) != 1001 || !about(got["10.0.0.0/8"], 2*time.Hour) {
		t.Fatalf("after the /8: %d elements", len(got))
	}
	write(t, s, unban("10.0.0.0/8"))
	if got := len(banned(t, ns)); got != 5000 {
		t.Fatalf("after unbanning the /8: %d elements, want the 5,000 back", got)
	}
	for i := range ds {
		ds[i] = unban(ds[i].Target.String())
	}
	write(t, s, ds...)
	if got := len(banned(t, ns)); got != 0 {
		t.Fatalf("%d elements left after unbanning all", got)
	}
}

func TestReconcile(t *testing.T) {
	ns := netlab.New(t, "recon")
	// A table of someone else's, which must come out untouched.
	c := nsConn(t, ns)
	other := c.AddTable(&nft.Table{Name: "other", Family: nft.TableFamilyINet})
	otherSet := &nft.Set{Table: other, Name: "banned4", KeyType: nft.TypeIPAddr, Interval: true, HasTimeout: true}
	if err := c.AddSet(otherSet, []nft.SetElement{{Key: []byte{192, 0, 2, 1}, Timeout: time.Hour}, {Key: []byte{192, 0, 2, 2}, IntervalEnd: true}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}

	s := newSink(t, ns, Config{})
	write(t, s, banFor("203.0.113.1", time.Hour), banFor("203.0.113.2", time.Hour), banFor("2001:db8::2", time.Hour))
	// Someone adds an element by hand, without a timeout.
	if err := c.SetAddElements(s.v4.set, []nft.SetElement{{Key: []byte{198, 51, 100, 1}}, {Key: []byte{198, 51, 100, 2}, IntervalEnd: true}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}

	// The ledger: .2 with another expiry, a range and an IPv6 ban the kernel lacks.
	ledgerNow := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) // ledger time need not be wall time
	active := []pipeline.ActiveBan{
		{Target: pfx("203.0.113.2"), Until: ledgerNow.Add(5 * time.Hour)},
		{Target: pfx("192.0.2.0/24"), Until: ledgerNow.Add(2 * time.Hour)},
		{Target: pfx("2001:db8::3"), Until: ledgerNow.Add(time.Hour)},
		{Target: pfx("203.0.113.99"), Until: ledgerNow.Add(-time.Hour)}, // over
	}
	if err := s.Reconcile(t.Context(), active, ledgerNow); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	got := banned(t, ns)
	if keys(got) != "192.0.2.0/24 2001:db8::3/128 203.0.113.2/32" {
		t.Fatalf("after Reconcile: %s", keys(got))
	}
	for k, left := range map[string]time.Duration{"192.0.2.0/24": 2 * time.Hour, "2001:db8::3/128": time.Hour, "203.0.113.2/32": 5 * time.Hour} {
		if !about(got[k], left) {
			t.Errorf("%s: %v left, want %v", k, got[k], left)
		}
	}
	if o := contents(t, ns, "other", nft.TableFamilyINet, "banned4"); keys(o) != "192.0.2.1/32" {
		t.Errorf("a table we do not own was touched: %v", o)
	}
	// The model follows the ledger: an unban of a target only the kernel had
	// before is a no-op, a shorter ban of the reconciled one changes nothing.
	write(t, s, unban("203.0.113.1"), banFor("203.0.113.2", time.Hour))
	if got := banned(t, ns); len(got) != 3 || !about(got["203.0.113.2/32"], 5*time.Hour) {
		t.Errorf("after writes: %v", got)
	}
}

func TestSetOnly(t *testing.T) {
	ns := netlab.New(t, "setonly")
	// The admin's own firewall: table ip filter, a set, a chain and a rule.
	c := nsConn(t, ns)
	filter := c.AddTable(&nft.Table{Name: "filter", Family: nft.TableFamilyIPv4})
	set := &nft.Set{Table: filter, Name: "blocklist", KeyType: nft.TypeIPAddr, Interval: true, HasTimeout: true}
	plain := &nft.Set{Table: filter, Name: "plain", KeyType: nft.TypeIPAddr}
	for _, s := range []*nft.Set{set, plain} {
		if err := c.AddSet(s, nil); err != nil {
			t.Fatal(err)
		}
	}
	input := c.AddChain(&nft.Chain{Name: "in", Table: filter, Type: nft.ChainTypeFilter, Hooknum: nft.ChainHookInput, Priority: nft.ChainPriorityFilter})
	c.AddRule(&nft.Rule{Table: filter, Chain: input, Exprs: []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
		&expr.Lookup{SourceRegister: 1, SetName: set.Name, SetID: set.ID},
		&expr.Counter{},
		&expr.Verdict{Kind: expr.VerdictDrop},
	}})
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	cfg := Config{SetOnly: true, Table: "filter", Family: "ip", SetV4: "blocklist"}

	for _, bad := range []struct {
		cfg  Config
		want string
	}{
		{Config{SetOnly: true, Table: "nope", Family: "ip"}, "table ip nope"},
		{Config{SetOnly: true, Table: "filter", Family: "ip", SetV4: "missing"}, "set missing"},
		{Config{SetOnly: true, Table: "filter", Family: "ip", SetV4: "plain"}, "flags interval flags timeout"},
	} {
		bad.cfg.NetNS = int(ns.Fd)
		s, err := New(bad.cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Connect(t.Context()); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("Connect with %+v: %v, want an error about %q", bad.cfg, err, bad.want)
		}
		_ = s.Close(t.Context())
	}

	s := newSink(t, ns, cfg)
	write(t, s, banFor("203.0.113.7", time.Hour), banFor("2001:db8::1", time.Hour))
	if got := contents(t, ns, "filter", nft.TableFamilyIPv4, "blocklist"); keys(got) != "203.0.113.7/32" {
		t.Errorf("blocklist: %v", got)
	}
	if st := s.Stats(); st.WrongFamily != 1 {
		t.Errorf("an IPv6 decision for an ip table: stats %+v", st)
	}
	tables, _ := c.ListTables()
	rules, _ := c.GetRules(filter, input)
	if len(tables) != 1 || len(rules) != 1 {
		t.Errorf("set-only mode created something: %d tables, %d rules", len(tables), len(rules))
	}
	if err := s.Reconcile(t.Context(), []pipeline.ActiveBan{{Target: pfx("198.51.100.0/24"), Until: time.Now().Add(time.Hour)}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if got := contents(t, ns, "filter", nft.TableFamilyIPv4, "blocklist"); keys(got) != "198.51.100.0/24" {
		t.Errorf("blocklist after Reconcile: %v", got)
	}
	if _, err := s.Counters(t.Context()); err != nil {
		t.Errorf("Counters from the admin's rule: %v", err)
	}
}

func TestIPv6Aggregation(t *testing.T) {
	ns := netlab.New(t, "agg")
	s := newSink(t, ns, Config{IPv6Prefix: 64})
	write(t, s, banFor("2001:db8:5::1", time.Hour), banFor("2001:db8:5::2", 2*time.Hour), banFor("2001:db8:6::/48", time.Hour), banFor("203.0.113.7", time.Hour))
	got := banned(t, ns)
	if keys(got) != "2001:db8:5::/64 2001:db8:6::/48 203.0.113.7/32" || !about(got["2001:db8:5::/64"], 2*time.Hour) {
		t.Fatalf("aggregated: %v", got)
	}
	// Any address of the /64 names the aggregated ban.
	write(t, s, unban("2001:db8:5::99"))
	if got := keys(banned(t, ns)); got != "2001:db8:6::/48 203.0.113.7/32" {
		t.Errorf("after unban: %s", got)
	}
}

func TestBadDecisionsAreSkipped(t *testing.T) {
	ns := netlab.New(t, "bad")
	s := newSink(t, ns, Config{})
	over := banFor("203.0.113.8", time.Hour)
	over.Expires = time.Now().Add(-time.Minute)
	odd := banFor("203.0.113.9", time.Hour)
	odd.Action = "frobnicate"
	ds := []pipeline.Decision{banFor("not-an-address", time.Hour), banFor("203.0.113.7", time.Hour), over, odd,
		banFor("::ffff:0:0/80", time.Hour), banFor("2001:db8::7", time.Hour)}
	if err := s.Write(t.Context(), ds); err != nil {
		t.Fatalf("Write failed on bad decisions: %v", err)
	}
	if got := keys(banned(t, ns)); got != "2001:db8::7/128 203.0.113.7/32" {
		t.Errorf("the good decisions: %s", got)
	}
	if st := s.Stats(); st.BadTarget != 3 || st.Expired != 1 || st.Bans != 2 {
		t.Errorf("stats %+v, want 3 bad, 1 expired, 2 bans", st)
	}
}

func TestLifecycle(t *testing.T) {
	ns := netlab.New(t, "life")
	s, err := New(Config{NetNS: int(ns.Fd)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ban := []pipeline.Decision{banFor("203.0.113.7", time.Hour)}
	if err := s.Write(t.Context(), ban); err == nil {
		t.Error("Write before Connect succeeded")
	}
	if err := s.Close(t.Context()); err != nil {
		t.Errorf("Close before Connect: %v", err)
	}
	if tables, _ := nsConn(t, ns).ListTables(); len(tables) != 0 {
		t.Errorf("New or Close touched the kernel: %d tables", len(tables))
	}
	if err := s.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	write(t, s, ban...)
	if err := s.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(t.Context(), ban); err == nil {
		t.Error("Write after Close succeeded")
	}
	if got := keys(banned(t, ns)); got != "203.0.113.7/32" {
		t.Errorf("Close removed bans: %q", got)
	}
	if err := s.Connect(t.Context()); err != nil {
		t.Fatalf("Connect after Close: %v", err)
	}
	write(t, s, banFor("203.0.113.8", time.Hour))
	if got := keys(banned(t, ns)); got != "203.0.113.7/32 203.0.113.8/32" {
		t.Errorf("after reconnecting: %q", got)
	}
	_ = s.Close(t.Context())
}

// The kernel and the model disagree when someone edits our sets, or flushes
// the whole ruleset (a firewall reload): the next write reads the sets back,
// recreates what is missing and applies the difference.
func TestHealsAfterTampering(t *testing.T) {
	ns := netlab.New(t, "heal")
	// Without the watch, which would race the next write to put things
	// back (TestRestoreAfterRemoval tests it): this is the write's own
	// healing, for a sink whose watch missed the change.
	s := newSink(t, ns, Config{NoWatch: true})
	write(t, s, banFor("203.0.113.7", time.Hour), banFor("203.0.113.8", time.Hour))

	c := nsConn(t, ns)
	if err := c.SetDeleteElements(s.v4.set, []nft.SetElement{{Key: []byte{203, 0, 113, 7}}, {Key: []byte{203, 0, 113, 8}, IntervalEnd: true}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	// The extension deletes an element that is gone: the batch fails.
	write(t, s, banFor("203.0.113.7", 2*time.Hour))
	if got := banned(t, ns); keys(got) != "203.0.113.7/32 203.0.113.8/32" || !about(got["203.0.113.7/32"], 2*time.Hour) {
		t.Errorf("after a deleted element: %v", got)
	}

	c.FlushRuleset()
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	write(t, s, banFor("198.51.100.1", time.Hour))
	if got := keys(banned(t, ns)); got != "198.51.100.1/32 203.0.113.7/32 203.0.113.8/32" {
		t.Errorf("after a flushed ruleset: %s", got)
	}
	if st := s.Stats(); st.Resyncs < 2 {
		t.Errorf("stats %+v: want at least 2 resyncs", st)
	}
	if _, err := s.Counters(t.Context()); err != nil {
		t.Errorf("Counters after the rules came back: %v", err)
	}
}

var _ pipeline.Sink = (*Sink)(nil)

// The model and the kernel time bans apart by a few milliseconds. A model
// clock off by more than that in either direction still ends with the
// kernel holding the ban: a delete of an element the kernel already
// dropped fails the batch and the sets are read back.
func TestExpiryRaces(t *testing.T) {
	for _, tc := range []struct {
		name string
		skew time.Duration
	}{
		{"model thinks the element is over, the kernel still has it", 150 * time.Millisecond},
		{"model thinks the element is there, the kernel dropped it", -time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := netlab.New(t, "race")
			s := newSink(t, ns, Config{})
			write(t, s, banFor("203.0.113.7", 600*time.Millisecond))
			time.Sleep(500 * time.Millisecond)
			if tc.skew < 0 {
				time.Sleep(200 * time.Millisecond) // past the kernel's expiry
			}
			s.mu.Lock()
			s.now = func() time.Time { return time.Now().Add(tc.skew) }
			s.mu.Unlock()
			write(t, s, banFor("203.0.113.7", time.Hour))
			// The sink writes the time left by its own clock, which the
			// test set tc.skew off: an hour less the skew.
			want := time.Hour - tc.skew
			if got := banned(t, ns); !about(got["203.0.113.7/32"], want) {
				t.Errorf("after re-banning: %v, want about %v", got, want)
			}
		})
	}
}

// TestTransactions: a large write goes to the kernel in transactions of a
// few batches each (the kernel's cost per transaction grows with the set:
// 400,000 bans added 256 at a time took 35 s, 1,536 at a time 5.3 s),
// and a transaction the socket refuses as too large (a send buffer
// smaller than the default) is sent again in smaller ones, nothing lost.
func TestTransactions(t *testing.T) {
	ns := netlab.New(t, "tx")
	bans := func(n, from int) []pipeline.Decision {
		ds := make([]pipeline.Decision, n)
		for i := range ds {
			j := from + i
			ds[i] = banFor(fmt.Sprintf("10.%d.%d.%d", j>>14&255, j>>6&255, j<<2&255), time.Hour)
		}
		return ds
	}
	s := newSink(t, ns, Config{NoWatch: true, ChunkSize: 512})
	write(t, s, bans(20000, 0)...)
	st := s.Stats()
	// 20,000 intervals are 40,000 entries: 79 batches of 512 at most,
	// 14 transactions of 3,072.
	if st.Batches < 79 || st.Transactions > 14 {
		t.Errorf("20,000 bans: %d batches in %d transactions, want 79 batches in 14 at most", st.Batches, st.Transactions)
	}
	s.txLimit = 1 << 20 // far more than a socket takes in one message
	write(t, s, bans(20000, 20000)...)
	if got := len(banned(t, ns)); got != 40000 {
		t.Fatalf("%d elements in the kernel, want 40,000", got)
	}
	if s.txLimit >= 40000 {
		t.Errorf("a transaction of 40,000 entries went through the socket (limit now %d): the test shows nothing", s.txLimit)
	}
}
