package pipeline

import (
	"net/netip"
	"slices"
	"testing"
	"time"
)

func actions(h []HistoryEntry) []string {
	var out []string
	for _, e := range h {
		out = append(out, e.Action)
	}
	return out
}

// TestInventoryAndHistory: a rule's ban and an operator's are both listed
// with what their decisions said; the history of the address holds every
// decision (ban, manual ban, unban, expiry) and survives a restore.
func TestInventoryAndHistory(t *testing.T) {
	e := newTestEngine(2, Config{})
	e.TrackChanges()
	e.Process(ev("203.0.113.1", 0))
	ds := e.Process(ev("203.0.113.1", time.Second))
	if len(ds) != 1 {
		t.Fatalf("want one ban, got %v", ds)
	}
	now := t0.Add(2 * time.Second)
	res := e.BanManual(ManualBan{Target: single("203.0.113.1"), For: 3 * time.Hour, Origin: "operator", Reason: "seen in the web log"}, now)
	if len(res.Decisions) != 1 || res.Decisions[0].Rule != "manual" {
		t.Fatalf("manual ban: %+v", res)
	}
	inv := e.Ledger().Inventory(now)
	if len(inv) != 2 {
		t.Fatalf("inventory %+v", inv)
	}
	if inv[0].Rule != "manual" || inv[0].Info.Origin != "operator" || inv[0].Info.Reason != "seen in the web log" || !inv[0].Expires.Equal(now.Add(3*time.Hour)) {
		t.Fatalf("manual row %+v", inv[0])
	}
	if inv[1].Rule != "r" || inv[1].Info.Origin != "test" || inv[1].Info.Offense != 1 || !slices.Equal(inv[1].Info.Evidence, []string{"line from 203.0.113.1"}) {
		t.Fatalf("rule row %+v", inv[1])
	}
	if _, ok := e.Unban(single("203.0.113.1"), "false positive", now); !ok {
		t.Fatal("unban")
	}
	e.BanManual(ManualBan{Target: single("203.0.113.1"), For: time.Minute, Origin: "operator"}, now)
	e.Tick(now.Add(2 * time.Minute))
	h := e.Ledger().History(single("203.0.113.1"))
	if got, want := actions(h), []string{"ban", "extend", "unban", "ban"}; !slices.Equal(got, want) {
		t.Fatalf("history %v, want %v (%+v)", got, want, h)
	}
	if h[2].Reason != "false positive" {
		t.Fatalf("unban entry %+v", h[2])
	}

	ch := e.TakeChanges()
	fresh := newTestEngine(2, Config{})
	fresh.Restore(nil, ch.Targets, now, now)
	if got := actions(fresh.Ledger().History(single("203.0.113.1"))); !slices.Equal(got, actions(h)) {
		t.Fatalf("restored history %v", got)
	}
}

// TestHistoryBounded: a target banned a thousand times keeps its last
// MaxHistory decisions.
func TestHistoryBounded(t *testing.T) {
	e := newTestEngine(1, Config{})
	for i := range 1000 {
		e.Process(ev("203.0.113.9", time.Duration(i)*2*time.Hour))
	}
	h := e.Ledger().History(single("203.0.113.9"))
	if len(h) != MaxHistory {
		t.Fatalf("history holds %d", len(h))
	}
	for i, e := range h {
		if e.Action != "ban" || e.Offense != 1000-MaxHistory+1+i {
			t.Fatalf("entry %d of the ring, oldest first: %+v", i, e)
		}
	}
}

// TestBanManualTellsTheTruth: a shorter ban than the one in force changes
// nothing and says which ban covers it; --replace shortens it (an unban,
// then the new ban, for firewalls that keep the longer timeout); a
// protected target is refused with the set that protects it.
func TestBanManualTellsTheTruth(t *testing.T) {
	e := newTestEngine(1, Config{Allow: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}})
	now := t0
	e.BanManual(ManualBan{Target: single("198.51.100.7"), For: time.Hour}, now)
	res := e.BanManual(ManualBan{Target: single("198.51.100.7"), For: 10 * time.Minute}, now)
	if res.Covered == nil || !res.Covered.Expires.Equal(now.Add(time.Hour)) || len(res.Decisions) != 0 {
		t.Fatalf("covered: %+v", res)
	}
	res = e.BanManual(ManualBan{Target: single("198.51.100.7"), For: 10 * time.Minute, Replace: true}, now)
	if len(res.Decisions) != 2 || res.Decisions[0].Action != ActionUnban || res.Decisions[1].Action != ActionBan || !res.Decisions[1].Expires.Equal(now.Add(10*time.Minute)) {
		t.Fatalf("replace: %+v", res.Decisions)
	}
	if until, _ := e.Ledger().Active(single("198.51.100.7"), now); !until.Equal(now.Add(10 * time.Minute)) {
		t.Fatalf("ledger says until %v", until)
	}
	res = e.BanManual(ManualBan{Target: netip.MustParsePrefix("192.0.2.0/25"), For: time.Hour}, now)
	if res.Protected != "allow" || len(res.Decisions) != 0 {
		t.Fatalf("protected: %+v", res)
	}
	// A range ban covers an address in it.
	e.BanManual(ManualBan{Target: netip.MustParsePrefix("198.18.0.0/24"), For: 24 * time.Hour}, now)
	res = e.BanManual(ManualBan{Target: single("198.18.0.5"), For: time.Hour}, now)
	if res.Covered == nil || res.Covered.Target != netip.MustParsePrefix("198.18.0.0/24") {
		t.Fatalf("range cover: %+v", res)
	}
}

// TestUnbanAllByRule: unban --all --rule lifts that rule's records only; a
// target another rule bans is unbanned and banned again until that rule's
// expiry, so that a firewall's timeout shrinks to it.
func TestUnbanAllByRule(t *testing.T) {
	e := newTestEngine(1, Config{})
	now := t0
	e.BanManual(ManualBan{Target: single("198.51.100.1"), Rule: "sshd", For: time.Hour}, now)
	e.BanManual(ManualBan{Target: single("198.51.100.1"), Rule: "recidive", For: 7 * 24 * time.Hour}, now)
	e.BanManual(ManualBan{Target: single("198.51.100.2"), Rule: "recidive", For: 7 * 24 * time.Hour}, now)
	e.BanManual(ManualBan{Target: single("198.51.100.3"), Rule: "sshd", For: time.Hour}, now)
	ds := e.UnbanAll("recidive", "operator", now)
	var got []string
	for _, d := range ds {
		got = append(got, string(d.Action)+" "+d.Target.String()+" "+d.Rule)
	}
	want := []string{"unban 198.51.100.1 recidive", "ban 198.51.100.1 sshd", "unban 198.51.100.2 recidive"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if !ds[1].Expires.Equal(now.Add(time.Hour)) {
		t.Fatalf("reissued until %v", ds[1].Expires)
	}
	if n := len(e.UnbanAll("", "operator", now)); n != 2 || e.Ledger().Len() != 0 {
		t.Fatalf("unban all: %d decisions, %d left", n, e.Ledger().Len())
	}
}

// TestSimulateNeverEnforces: a rule in mode: simulate decides (marked
// Simulated, counted apart), its bans are listed in the simulation's
// ledger, and the real ledger never holds them: a real rule bans the same
// address as if the simulation had not happened.
func TestSimulateNeverEnforces(t *testing.T) {
	sim := &Policy{ID: 0, Name: "new", Pack: "p", Threshold: 1, Ban: time.Hour, Simulate: true}
	real := &Policy{ID: 1, Name: "r", Pack: "p", Threshold: 2, Window: time.Minute, Ban: time.Hour}
	e := NewEngine(bothMatcher{sim, real}, Config{Origin: "test"})
	ds := slices.Clone(e.Process(ev("203.0.113.5", 0)))
	if len(ds) != 1 || !ds[0].Simulated || ds[0].Rule != "new" {
		t.Fatalf("simulated decision: %+v", ds)
	}
	if e.Ledger().Len() != 0 || e.Banned(netip.MustParseAddr("203.0.113.5")) {
		t.Fatal("a simulated ban reached the ledger")
	}
	if inv := e.Simulated().Inventory(t0); len(inv) != 1 || inv[0].Rule != "new" {
		t.Fatalf("simulated inventory %+v", inv)
	}
	ds = e.Process(ev("203.0.113.5", time.Second))
	if len(ds) != 1 || ds[0].Simulated || ds[0].Rule != "r" {
		t.Fatalf("real decision: %+v", ds)
	}
	st := e.Stats()
	if st[0].Simulated != 1 || st[0].Bans != 0 || st[1].Bans != 1 {
		t.Fatalf("stats %+v", st)
	}
}

type bothMatcher []*Policy

func (m bothMatcher) Match(ev *Event, hits []Hit) []Hit {
	for _, p := range m {
		hits = append(hits, Hit{Policy: p, Target: ev.Addr})
	}
	return hits
}
func (m bothMatcher) Policies() []*Policy { return m }

// TestImportList: a list's targets are banned under list:NAME; one that
// is, or holds, an allowlisted address is never banned; importing again
// changes nothing until half the time is gone, then renews; a refresh with
// Prune lifts what left the list, and leaves a ban of another rule be.
func TestImportList(t *testing.T) {
	e := newTestEngine(1, Config{Allow: []netip.Prefix{netip.MustParsePrefix("192.0.2.10/32")}})
	now := t0
	list := ListImport{Name: "drop", For: 24 * time.Hour, Prune: true, Targets: []netip.Prefix{
		netip.MustParsePrefix("198.51.100.0/24"), single("203.0.113.7"),
		netip.MustParsePrefix("192.0.2.0/24"), single("192.0.2.10"),
	}}
	ds, st := e.ImportList(list, now)
	if st.Banned != 2 || st.Protected != 2 || len(ds) != 2 || ds[0].Rule != "list:drop" {
		t.Fatalf("first import: %+v %+v", st, ds)
	}
	if e.Banned(netip.MustParseAddr("192.0.2.10")) || e.Banned(netip.MustParseAddr("192.0.2.77")) {
		t.Fatal("a list banned a protected address")
	}
	if inv := e.Ledger().Inventory(now); inv[0].Info.Origin != "list:drop" {
		t.Fatalf("origin %+v", inv[0])
	}
	if ds, st = e.ImportList(list, now.Add(time.Hour)); len(ds) != 0 || st.Unchanged != 2 {
		t.Fatalf("refresh soon after: %+v %+v", st, ds)
	}
	later := now.Add(13 * time.Hour)
	if ds, st = e.ImportList(list, later); len(ds) != 2 || st.Renewed != 2 || !ds[0].Expires.Equal(later.Add(24*time.Hour)) {
		t.Fatalf("renew: %+v %+v", st, ds)
	}
	e.BanManual(ManualBan{Target: single("203.0.113.7"), Rule: "sshd", For: 48 * time.Hour}, later)
	list.Targets = list.Targets[:1]
	ds, st = e.ImportList(list, later)
	if st.Removed != 1 || len(ds) != 2 || ds[0].Action != ActionUnban || ds[1].Rule != "sshd" {
		t.Fatalf("prune: %+v %+v", st, ds)
	}
	if until, ok := e.Ledger().Active(single("203.0.113.7"), later); !ok || !until.Equal(later.Add(48*time.Hour)) {
		t.Fatalf("the sshd ban went with the list's: %v %v", until, ok)
	}
}
