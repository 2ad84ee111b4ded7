package daemon

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/control"
	"github.com/stockade-ids/stockade/internal/netlab"
	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/pipeline/guard"
	"github.com/stockade-ids/stockade/sources/blocklist"
)

func ctl(t *testing.T, h *daemonHarness, req control.Request) control.Reply {
	t.Helper()
	rep, err := control.NewClient(h.socket).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Op, req.Target, err)
	}
	return rep
}

func ctlErr(t *testing.T, h *daemonHarness, req control.Request, want string) {
	t.Helper()
	if _, err := control.NewClient(h.socket).Do(req); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("%s %s: got %v, want an error holding %q", req.Op, req.Target, err, want)
	}
}

func banRows(t *testing.T, h *daemonHarness, req control.Request) []string {
	t.Helper()
	req.Op = "bans"
	var out []string
	for _, b := range ctl(t, h, req).Bans {
		out = append(out, b.Target+" "+b.Rule+" "+b.Origin)
	}
	return out
}

// TestOperatorCommands drives a daemon in a network namespace of the
// test's own through its real control socket, as an admin would, and
// checks each command's effect in the ledger, in nftables and in the
// audit log: bans lists every ban with its evidence and time left; a
// shorter ban says what covers it and --replace shortens the kernel's
// timeout; --rule refuses a rule that is not loaded; allow add lifts the
// bans it covers at once (ledger, kernel, sinks) and survives a restart;
// import bans a list but never an allowlisted address in it; history
// holds every decision; unban --all [--rule] empties what it names.
func TestOperatorCommands(t *testing.T) {
	if os.Getenv("STOCKADE_DAEMON_CHILD") != "" {
		t.Skip("child")
	}
	ns := netlab.New(t, "opsc")
	h := newHarness(t)
	g := &guardChild{t: t, h: h, ns: ns, cfg: filepath.Join(h.dir, "stockade.yaml")}
	g.write("sinks:\n  - jsonl: " + h.out + "\n  - nftables: {}\n")
	g.start()

	opsListing(t, h, ns)
	opsManualBan(t, h, ns)
	opsAllowlist(t, h, ns)
	opsImport(t, h, ns)
	opsRestart(t, h, ns, g)
	logs := g.logs.String()
	for _, w := range []string{`msg="[sshd] Ban 203.0.113.60"`, `msg="[manual] Ban 198.51.100.7"`, `msg="[manual] Refused 127.0.0.0/8"`,
		`msg="[sshd-typo] Refused 198.51.100.8"`, `msg="Allow add 203.0.113.0/24"`, `msg="[stockade] Unban 203.0.113.60"`,
		`msg="[list:drop] Refused 203.0.113.9"`, `msg="Allow del 203.0.113.0/24"`} {
		if !strings.Contains(logs, w) {
			t.Errorf("the audit log lacks %s", w)
		}
	}
}

// opsListing: a rule's ban and an operator's, listed with what they said.
func opsListing(t *testing.T, h *daemonHarness, ns *netlab.NS) {
	t.Helper()
	h.fail("203.0.113.60", 5)
	waitSet(t, ns, "banned4", []string{"203.0.113.60/32"}, "the sshd ban")
	rep := ctl(t, h, control.Request{Op: "ban", Target: "198.51.100.7", For: "10m"})
	if rep.Decision == nil || rep.Decision.Rule != "manual" {
		t.Fatalf("ban: %+v", rep)
	}
	waitSet(t, ns, "banned4", []string{"198.51.100.7/32", "203.0.113.60/32"}, "the manual ban")

	bans := ctl(t, h, control.Request{Op: "bans"}).Bans
	if len(bans) != 2 {
		t.Fatalf("bans: %+v", bans)
	}
	man, sshd := bans[0], bans[1]
	if man.Target != "198.51.100.7" || man.Rule != "manual" || man.Origin != operator || man.Left < 590 || man.Left > 600 {
		t.Errorf("manual row %+v", man)
	}
	if sshd.Target != "203.0.113.60" || sshd.Rule != "sshd" || sshd.Origin != "test" || sshd.Offense != 1 || len(sshd.Evidence) == 0 ||
		!strings.Contains(sshd.Evidence[0], "Failed password for root from 203.0.113.60") || sshd.Left <= 0 {
		t.Errorf("sshd row %+v", sshd)
	}
	if got := banRows(t, h, control.Request{Target: "203.0.113.0/24"}); !slices.Equal(got, []string{"203.0.113.60 sshd test"}) {
		t.Errorf("bans 203.0.113.0/24: %v", got)
	}
	if got := banRows(t, h, control.Request{Origin: operator}); !slices.Equal(got, []string{"198.51.100.7 manual operator"}) {
		t.Errorf("bans --origin operator: %v", got)
	}
	if st := ctl(t, h, control.Request{Op: "status", Rule: "sshd"}).Status; st.Rules[0].Left["203.0.113.60"] <= 0 {
		t.Errorf("status has no time left: %+v", st.Rules[0])
	}
}

// opsManualBan: ban tells what covers it; --replace shortens the kernel's timeout.
func opsManualBan(t *testing.T, h *daemonHarness, ns *netlab.NS) {
	t.Helper()
	// A shorter ban changes nothing, and says so; --replace shortens it.
	rep := ctl(t, h, control.Request{Op: "ban", Target: "198.51.100.7", For: "2m"})
	if rep.Decision != nil || !strings.Contains(rep.Message, "already banned until") || !strings.Contains(rep.Message, "by manual") {
		t.Fatalf("shorter ban: %+v", rep)
	}
	rep = ctl(t, h, control.Request{Op: "ban", Target: "198.51.100.7", For: "2m", Replace: true})
	if len(rep.Decisions) != 2 || rep.Decisions[0].Action != "unban" {
		t.Fatalf("replace: %+v", rep)
	}
	waitFor(t, 10*time.Second, "the kernel's timeout to shrink to 2m", func() bool {
		left, ok := kernelBans(t, int(ns.Fd))[netip.MustParseAddr("198.51.100.7")]
		return ok && left <= 2*time.Minute
	})
	ctlErr(t, h, control.Request{Op: "ban", Target: "198.51.100.8", Rule: "sshd-typo"}, `no rule "sshd-typo" is loaded`)
	ctlErr(t, h, control.Request{Op: "ban", Target: "127.0.0.0/8"}, "allowlisted or protected address")
}

// opsAllowlist: allow add lifts the bans it covers at once.
func opsAllowlist(t *testing.T, h *daemonHarness, ns *netlab.NS) {
	t.Helper()
	// The runtime allowlist lifts what it covers at once.
	rep := ctl(t, h, control.Request{Op: "allow", Action: "add", Target: "203.0.113.0/24", Comment: "office"})
	if !strings.Contains(rep.Message, "lifted 1 bans: 203.0.113.60") {
		t.Fatalf("allow add: %+v", rep)
	}
	if got := kernelSet(t, int(ns.Fd), "banned4"); !slices.Equal(got, []string{"198.51.100.7/32"}) {
		t.Fatalf("kernel right after allow add: %v", got)
	}
	if n := h.bans("203.0.113.60"); n != 1 {
		t.Errorf("sink saw %d bans of 203.0.113.60", n)
	}
	if !slices.ContainsFunc(h.decisions(), func(x pipeline.Decision) bool { return x.Action == "unban" && x.Target.String() == "203.0.113.60" }) {
		t.Error("the sink never heard of the lift")
	}
	ctlErr(t, h, control.Request{Op: "ban", Target: "203.0.113.61"}, "runtime allowlist")
	h.fail("203.0.113.61", 5)
	h.fail("198.51.100.99", 5)
	waitSet(t, ns, "banned4", []string{"198.51.100.7/32", "198.51.100.99/32"}, "the sentinel (no ban of the allowed /24)")
}

// opsImport: a list is banned, its allowlisted entries are not.
func opsImport(t *testing.T, h *daemonHarness, ns *netlab.NS) {
	t.Helper()
	// A list is imported; the guard keeps its allowlisted entries out.
	rep := ctl(t, h, control.Request{Op: "import", List: "drop", For: "1h", Targets: []string{"198.18.0.0/24", "203.0.113.9", "192.0.2.0/24"}})
	if rep.Import == nil || rep.Import.Banned != 2 || rep.Import.Protected != 1 {
		t.Fatalf("import: %+v", rep)
	}
	waitSet(t, ns, "banned4", []string{"192.0.2.0/24", "198.18.0.0/24", "198.51.100.7/32", "198.51.100.99/32"}, "the imported list")
	if got := banRows(t, h, control.Request{Rule: "list:drop"}); !slices.Equal(got, []string{"192.0.2.0/24 list:drop list:drop", "198.18.0.0/24 list:drop list:drop"}) {
		t.Errorf("bans --rule list:drop: %v", got)
	}
	ctlErr(t, h, control.Request{Op: "unban", Target: "198.18.0.5"}, "198.18.0.5 is not banned itself: the ban of 198.18.0.0/24 by list:drop holds it")
	ctl(t, h, control.Request{Op: "unban", All: true, Rule: "list:drop"})
	waitSet(t, ns, "banned4", []string{"198.51.100.7/32", "198.51.100.99/32"}, "unban --all --rule list:drop")
}

// opsRestart: the allowlist and the history survive a restart; unban --all.
func opsRestart(t *testing.T, h *daemonHarness, ns *netlab.NS, g *guardChild) {
	t.Helper()
	// Everything survives a restart: the allowlist entry, the history.
	g.stop()
	g.start()
	allow := slices.DeleteFunc(ctl(t, h, control.Request{Op: "allow", Action: "list"}).Allow, func(e guard.Entry) bool { return e.Source != "runtime" })
	if len(allow) != 1 || allow[0].Prefix != netip.MustParsePrefix("203.0.113.0/24") || allow[0].Comment != "office" || allow[0].Source != "runtime" {
		t.Fatalf("allow list after a restart: %+v", allow)
	}
	var acts []string
	for _, e := range ctl(t, h, control.Request{Op: "history", Target: "203.0.113.60"}).History {
		acts = append(acts, e.Action+" "+e.Rule)
	}
	if !slices.Equal(acts, []string{"ban sshd", "unban "}) {
		t.Fatalf("history after a restart: %q", acts)
	}
	ctl(t, h, control.Request{Op: "unban", All: true})
	waitSet(t, ns, "banned4", nil, "unban --all")
	if l := g.ledger(); len(l) != 0 {
		t.Fatalf("ledger after unban --all: %v", l)
	}
	ctlErr(t, h, control.Request{Op: "allow", Action: "del", Target: "198.51.100.0/24"}, "not on the runtime allowlist")
	ctl(t, h, control.Request{Op: "allow", Action: "del", Target: "203.0.113.0/24"})
	g.stop()
}

// TestSimulateMode: a pack in mode: simulate decides on live lines; its
// decisions are in the audit log ("Simulated ban", which a grep for
// "Ban " misses), in bans --simulated and in the metric with
// mode="simulate", and nowhere else: not in the ledger, not in the sink.
func TestSimulateMode(t *testing.T) {
	h := newHarness(t)
	src, err := os.ReadFile(filepath.Join(h.rules, "sshd.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	trial := strings.Replace(string(src), "pack: sshd\n", "pack: sshd\nmode: simulate\n", 1)
	if trial == string(src) {
		t.Fatal("the sshd pack does not start with pack: sshd")
	}
	os.WriteFile(filepath.Join(h.rules, "sshd.yaml"), []byte(trial), 0o644)
	l := startLive(t, fileConfig(h), nil)
	h.fail("203.0.113.70", 5)
	waitFor(t, 10*time.Second, "the simulated ban", func() bool {
		return len(ctl(t, h, control.Request{Op: "bans", Simulated: true}).Bans) == 1
	})
	b := ctl(t, h, control.Request{Op: "bans", Simulated: true}).Bans[0]
	if b.Target != "203.0.113.70" || b.Rule != "sshd" || !b.Simulated || len(b.Evidence) == 0 {
		t.Fatalf("simulated row %+v", b)
	}
	if n := len(ctl(t, h, control.Request{Op: "bans"}).Bans); n != 0 {
		t.Fatalf("%d real bans", n)
	}
	if v := l.metric(`stockade_rule_bans_total{mode="simulate",rule="sshd"}`); v != 1 {
		t.Fatalf("simulate metric %v", v)
	}
	if v := l.metric(`stockade_rule_bans_total{mode="enforce",rule="sshd"}`); v != 0 {
		t.Fatalf("enforce metric %v", v)
	}
	l.stop()
	if n := len(h.decisions()); n != 0 {
		t.Fatalf("the sink got %d decisions", n)
	}
	logs := l.logs.String()
	if !strings.Contains(logs, `msg="[sshd] Simulated ban 203.0.113.70"`) || strings.Contains(logs, "Ban 203.0.113.70") {
		t.Fatalf("audit log:\n%s", logs)
	}
}

// TestBlocklistSource: a blocklist source bans its file's entries under
// list:NAME, never an allowlisted address nor a range holding one; when
// the file changes, entries gone from it are unbanned; when it is
// emptied (a download cut short), nothing is unbanned.
func TestBlocklistSource(t *testing.T) {
	h := newHarness(t)
	list := filepath.Join(h.dir, "drop.netset")
	os.WriteFile(list, []byte("# test list\n198.51.100.0/24\n203.0.113.5\n192.0.2.0/24\n192.0.2.10\n"), 0o644)
	cfg := fileConfig(h)
	cfg.Allow = []string{"192.0.2.10"}
	cfg.Sources = append(cfg.Sources, SourceConfig{Blocklist: &blocklist.Config{Path: list, Every: time.Second, For: time.Hour}})
	startLive(t, cfg, nil)
	rows := func() []string { return banRows(t, h, control.Request{Rule: "list:drop"}) }
	waitFor(t, 10*time.Second, "the list's bans", func() bool { return len(rows()) == 2 })
	if got := rows(); !slices.Equal(got, []string{"198.51.100.0/24 list:drop list:drop", "203.0.113.5 list:drop list:drop"}) {
		t.Fatalf("bans %v", got)
	}
	os.WriteFile(list, []byte("198.51.100.0/24\n"), 0o644)
	waitFor(t, 10*time.Second, "203.0.113.5 unbanned when it left the list", func() bool { return len(rows()) == 1 })
	os.WriteFile(list, nil, 0o644)
	time.Sleep(2500 * time.Millisecond) // two reads of the empty list
	if got := rows(); !slices.Equal(got, []string{"198.51.100.0/24 list:drop list:drop"}) {
		t.Fatalf("an empty list lifted bans: %v", got)
	}
	if !slices.ContainsFunc(h.decisions(), func(x pipeline.Decision) bool { return x.Action == "unban" && x.Target.String() == "203.0.113.5" }) {
		t.Error("the sink never heard 203.0.113.5 was unbanned")
	}
}

// TestFullReload: a reload applies the whole configuration's difference:
// a source added is followed, a sink removed hears no more and a new one
// does, an unchanged source keeps its place in its file (no line read
// twice); a key only a restart applies is named; a bad configuration is
// refused with its error, logged, and the old one stays in force.
func TestFullReload(t *testing.T) {
	h := newHarness(t)
	logB := filepath.Join(h.dir, "b.log")
	os.WriteFile(logB, nil, 0o644)
	outY := filepath.Join(h.dir, "y.jsonl")
	path := filepath.Join(h.dir, "stockade.yaml")
	write := func(sources, sinks, extra string) {
		os.WriteFile(path, []byte("state_dir: "+filepath.Join(h.dir, "state")+"\nsocket: "+h.socket+"\norigin: test\nrules: ["+h.rules+"]\n"+
			"sources:\n"+sources+"sinks:\n"+sinks+extra), 0o644)
	}
	srcA := "  - files: [" + h.log + "]\n    start: beginning\n"
	srcB := "  - files: [" + logB + "]\n    start: beginning\n"
	write(srcA, "  - jsonl: "+h.out+"\n", "")
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	hup := make(chan os.Signal, 1)
	l := startLive(t, cfg, func(d *Daemon) { d.hangup = hup })
	h.fail("203.0.113.80", 5)
	waitFor(t, 10*time.Second, "the first ban", func() bool { return h.bans("203.0.113.80") == 1 })

	write(srcA+srcB, "  - jsonl: "+outY+"\n", "metrics: 127.0.0.1:0\n")
	rep := ctl(t, h, control.Request{Op: "reload"})
	if want := "sources +1 -0 (1 kept); sinks +1 -1 (0 kept); a restart is needed for metrics"; !strings.Contains(rep.Message, want) {
		t.Fatalf("reload: %q, want it to hold %q", rep.Message, want)
	}
	f, _ := os.OpenFile(logB, os.O_APPEND|os.O_WRONLY, 0)
	for i := range 5 {
		f.WriteString(sshdLine(time.Now(), "203.0.113.81", i))
	}
	f.Close()
	h.fail("203.0.113.82", 5)
	y := func() []string {
		var out []string
		for _, x := range readDecisions(t, outY) {
			out = append(out, string(x.Action)+" "+x.Target.String())
		}
		return out
	}
	waitFor(t, 10*time.Second, "both bans in the new sink", func() bool { return len(y()) == 2 })
	if got := y(); !slices.Contains(got, "ban 203.0.113.81") || !slices.Contains(got, "ban 203.0.113.82") {
		t.Fatalf("new sink: %v (203.0.113.80 must not be decided again)", got)
	}
	if n := h.bans("203.0.113.82"); n != 0 {
		t.Fatalf("the removed sink still hears: %d", n)
	}

	write(srcA, "  - jsonl: "+outY+"\n", "metrics: 127.0.0.1:0\nallow: [not-an-address]\n")
	ctlErr(t, h, control.Request{Op: "reload"}, "reload refused")
	f, _ = os.OpenFile(logB, os.O_APPEND|os.O_WRONLY, 0)
	for i := range 5 {
		f.WriteString(sshdLine(time.Now(), "203.0.113.83", i))
	}
	f.Close()
	waitFor(t, 10*time.Second, "a ban from b.log under the old configuration", func() bool { return slices.Contains(y(), "ban 203.0.113.83") })
	hup <- syscall.SIGHUP
	for _, by := range []string{`by="control socket"`, `by=SIGHUP`} {
		waitFor(t, 10*time.Second, "the refusal logged "+by, func() bool {
			return strings.Contains(l.logs.String(), `msg="reload refused: the previous rule packs stay in force, and so does the configuration" `+by)
		})
	}
}

func readDecisions(t *testing.T, path string) []pipeline.Decision {
	t.Helper()
	b, _ := os.ReadFile(path)
	var out []pipeline.Decision
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var x pipeline.Decision
		if json.Unmarshal([]byte(line), &x) == nil {
			out = append(out, x)
		}
	}
	return out
}

// TestAuditFloodBounded: 20,000 bans at once (a list imported, as a flood
// of scanners makes them) write at most 50 audit lines a second and a
// summary line counting the rest; every ban is still listed.
func TestAuditFloodBounded(t *testing.T) {
	h := newHarness(t)
	l := startLive(t, fileConfig(h), nil)
	req := control.Request{Op: "import", List: "flood", For: "1h"}
	for i := range 20000 {
		req.Targets = append(req.Targets, netip.AddrFrom4([4]byte{100, 64 + byte(i>>16), byte(i >> 8), byte(i)}).String())
	}
	if rep := ctl(t, h, req); rep.Import.Banned != 20000 {
		t.Fatalf("import: %+v", rep.Import)
	}
	waitFor(t, 10*time.Second, "the summary line", func() bool { return strings.Contains(l.logs.String(), "not logged one by one") })
	logs := l.logs.String()
	if n := strings.Count(logs, "] Ban 100."); n > 2*50 {
		t.Fatalf("%d ban lines for 20,000 bans", n)
	}
	var suppressed int
	for _, line := range strings.Split(logs, "\n") {
		if _, rest, ok := strings.Cut(line, "suppressed_ban="); ok {
			var n int
			fmt.Sscan(rest, &n)
			suppressed += n
		}
	}
	if n := strings.Count(logs, "] Ban 100."); n+suppressed != 20000 {
		t.Fatalf("%d lines + %d counted in summaries, want 20,000", n, suppressed)
	}
	if got := len(ctl(t, h, control.Request{Op: "bans", Rule: "list:flood"}).Bans); got != 20000 {
		t.Fatalf("bans lists %d", got)
	}
}
