package rules_test

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/stockade-ids/stockade/internal/testcorpus"
	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/rules"
	"github.com/stockade-ids/stockade/sources"
)

// hubFloor is what TestHubSuite must keep banning: the expected attackers
// of the hub's tests banned by the built-in packs, per category, as
// measured when the packs were written (README, "Detection breadth").
// Raise it when a pack catches more; never lower it to let a change pass.
var hubFloor = map[string]int{
	"web":      73,
	"services": 46,
	"sshd":     8,
}

// hubDetectFloor is the same for what the packs detect: the attackers
// banned plus the hub's loopback attackers (127.0.0.x, which stockade
// never bans) that the rules ban once the replay moves them to a
// routable address (hubLoopbackReplay).
var hubDetectFloor = map[string]int{
	"web":      95,
	"services": 48,
	"sshd":     8,
}

// hubLoopback is a loopback address as the hub's tests write their
// attackers; hubStandIn is the routable range the detection replay moves
// them to (198.18.0.0/15, for benchmarks, is in none of the hub's logs).
var (
	hubLoopback = regexp.MustCompile(`\b127\.0\.0\.(\d{1,3})\b`)
	hubStandIn  = "198.18.0.$1"
)

// hubTest is one test of CrowdSec's hub suite: a log, the scenarios it
// exercises and the attackers they report.
type hubTest struct {
	name, category string
	log            string
	expected       []string // addresses of the overflows CrowdSec remediates
}

// hubConfig is the part of a hub test's config.yaml the measurement reads.
type hubConfig struct {
	LogFile   string   `yaml:"log_file"`
	LogType   string   `yaml:"log_type"`
	Scenarios []string `yaml:"scenarios"`
}

// webLogTypes are the hub's access-log types stockade reads as access logs
// (combined or common log format).
var webLogTypes = []string{"nginx", "apache2", "bunkerweb", "litespeed", "nginx-proxy-manager", "traefik"}

var (
	hubSourceRe = regexp.MustCompile(`^"([^"]+)" in results\[(\d+)\]\.Overflow\.GetSources\(\)`)
	hubNoRemRe  = regexp.MustCompile(`^results\[(\d+)\]\.Overflow\.Alert\.Remediation == false`)
)

// loadHubTest reads dir's config and scenario assertions; ok is false for
// a test stockade has nothing to measure on (no scenario, or a log type
// it does not read).
func loadHubTest(t *testing.T, dir string) (hubTest, bool) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "config.yaml"))
	if err != nil {
		return hubTest{}, false
	}
	var cfg hubConfig
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Logf("%s: config: %v", dir, err)
		return hubTest{}, false
	}
	h := hubTest{name: filepath.Base(dir), log: filepath.Join(dir, cfg.LogFile)}
	var scen []string
	for _, s := range cfg.Scenarios {
		if s = strings.TrimSpace(s); s != "" {
			scen = append(scen, s)
		}
	}
	whitelist := strings.Contains(h.name, "whitelist")
	if len(scen) == 0 && !whitelist {
		return hubTest{}, false // a parser test: no attacker to ban
	}
	switch {
	case slices.Contains(webLogTypes, cfg.LogType):
		h.category = "web"
	case cfg.LogType == "syslog":
		h.category = "services"
		// endlessh is a tarpit of its own, not sshd.
		for _, s := range scen {
			if b := filepath.Base(s); strings.Contains(b, "ssh") && !strings.Contains(b, "endlessh") {
				h.category = "sshd"
			}
		}
		if strings.HasPrefix(h.name, "ssh") {
			h.category = "sshd"
		}
	case strings.HasPrefix(cfg.LogType, "suricata"):
		h.category = "ids"
	default:
		return hubTest{}, false
	}
	if whitelist {
		h.category = "whitelist"
	}
	h.expected = hubExpected(filepath.Join(dir, "scenario.assert"))
	return h, true
}

// hubExpected returns the addresses of the overflows an assertion file
// says CrowdSec reports and remediates (an overflow asserted with
// Remediation == false only alerts).
func hubExpected(path string) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	byResult := map[string][]string{}
	noRem := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if m := hubSourceRe.FindStringSubmatch(line); m != nil {
			byResult[m[2]] = append(byResult[m[2]], m[1])
		} else if m := hubNoRemRe.FindStringSubmatch(line); m != nil {
			noRem[m[1]] = true
		}
	}
	seen := map[string]bool{}
	var out []string
	for res, addrs := range byResult {
		if noRem[res] {
			continue
		}
		for _, a := range addrs {
			// Compare as stockade writes targets: "::ffff:172.21.10.2" is
			// 172.21.10.2, "2001:0db8::…" is "2001:db8::…".
			if ip, err := netip.ParseAddr(a); err == nil {
				a = pipeline.Canonical(ip).String()
			}
			if !seen[a] {
				seen[a] = true
				out = append(out, a)
			}
		}
	}
	sort.Strings(out)
	return out
}

// covers reports whether the ban target b (an address or a range) bans
// the address a.
func covers(b, a string) bool {
	if b == a {
		return true
	}
	p, err := pipeline.ParseTarget(b)
	ip, err2 := netip.ParseAddr(a)
	return err == nil && err2 == nil && p.Contains(ip)
}

type banSink struct{ banned map[string]bool }

func (s *banSink) Write(_ context.Context, ds []pipeline.Decision) error {
	for _, d := range ds {
		if d.Action == pipeline.ActionBan {
			s.banned[d.Target.String()] = true
		}
	}
	return nil
}

func (s *banSink) Close(context.Context) error { return nil }

// hubReplay replays log through a fresh set of the built-in packs, as
// `stockade replay` does, and returns the addresses banned and, for the
// table, the rules that matched lines ("rule×matches"). The rules that
// are off by default (sshd-aggressive; portscan, whose SYNs can be
// forged; nginx-mail, whose lines a client's login can write; the mail
// rules that can ban a relay or a real user: postfix-helo,
// postfix-honeypot-users, amavis-infected, mailscanner-*) are turned on,
// as an admin who wants them does with packs: {enable: [...]} — the
// hub's scenarios are what a CrowdSec user chose to install — and
// README's table says which attackers only they catch.
func hubReplay(t *testing.T, log string) (banned, matched []string, err error) {
	set, err := rules.NewSet(rules.DefaultPacksAllOn(t)...)
	if err != nil {
		t.Fatal(err)
	}
	f, err := sources.Open(log, sources.Options{Loc: time.UTC})
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	eng := pipeline.NewEngine(set, pipeline.Config{Origin: "hub"})
	sink := &banSink{banned: map[string]bool{}}
	if err := pipeline.Replay(context.Background(), eng, []pipeline.Iterator{f}, sink); err != nil {
		return nil, nil, err
	}
	for a := range sink.banned {
		banned = append(banned, a)
	}
	sort.Strings(banned)
	for _, st := range eng.Stats() {
		if st.Matches > 0 {
			matched = append(matched, fmt.Sprintf("%s×%d", st.Rule, st.Matches))
		}
	}
	return banned, matched, nil
}

// hubLoopbackReplay replays log with its 127.0.0.x addresses moved to
// 198.18.0.x, from a copy in a temporary directory under the same base
// name (rules that read by file name see the same name), and returns the
// loopback addresses whose stand-ins were banned: what the packs detect
// of attackers the guard would never let them ban.
func hubLoopbackReplay(t *testing.T, log string) []string {
	data, err := os.ReadFile(log)
	if err != nil {
		return nil
	}
	moved := filepath.Join(t.TempDir(), filepath.Base(log))
	if err := os.WriteFile(moved, hubLoopback.ReplaceAll(data, []byte(hubStandIn)), 0o600); err != nil {
		t.Fatal(err)
	}
	banned, _, err := hubReplay(t, moved)
	if err != nil {
		return nil
	}
	var out []string
	for _, b := range banned {
		if strings.HasPrefix(b, "198.18.0.") {
			out = append(out, "127.0.0."+strings.TrimPrefix(b, "198.18.0."))
		}
	}
	return out
}

// hubRow is one hub test measured: what was banned, missed and banned
// beyond the expected attackers.
type hubRow struct {
	hubTest
	banned, missed, extra []string
	matched               []string // rules that matched lines, with counts
	loopback              []string // missed, loopback, banned as a stand-in
	err                   error
}

// measureHubTest replays h's log and compares the bans with h's expected
// attackers; a missed loopback attacker is looked for again with the log's
// loopback addresses moved (hubLoopbackReplay).
func measureHubTest(t *testing.T, h hubTest) hubRow {
	r := hubRow{hubTest: h}
	r.banned, r.matched, r.err = hubReplay(t, h.log)
	// A ban of a range (an IPv6 /64) catches every address it covers.
	for _, a := range h.expected {
		if !slices.ContainsFunc(r.banned, func(b string) bool { return covers(b, a) }) {
			r.missed = append(r.missed, a)
		}
	}
	for _, b := range r.banned {
		if !slices.ContainsFunc(h.expected, func(a string) bool { return covers(b, a) }) {
			r.extra = append(r.extra, b)
		}
	}
	if slices.ContainsFunc(r.missed, hubLoopback.MatchString) {
		stand := hubLoopbackReplay(t, h.log)
		for _, a := range r.missed {
			if slices.Contains(stand, a) {
				r.loopback = append(r.loopback, a)
			}
		}
	}
	return r
}

// TestHubSuite replays every test of CrowdSec's hub suite in a format
// stockade reads through the built-in packs and compares the addresses
// banned with the attackers the hub's scenarios report. With -v it prints
// the table README's "Detection breadth" shows. The hub's logs are read in
// place from the shared corpus, never copied into the project.
func TestHubSuite(t *testing.T) {
	root := testcorpus.Path(t, "crowdsecurity__hub/tests")
	dirs, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	var rows []hubRow
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		if h, ok := loadHubTest(t, filepath.Join(root, d.Name())); ok {
			rows = append(rows, measureHubTest(t, h))
		}
	}
	sort.SliceStable(rows, func(i, j int) bool {
		if rows[i].category != rows[j].category {
			return rows[i].category < rows[j].category
		}
		return rows[i].name < rows[j].name
	})
	expected, caught, detected := map[string]int{}, map[string]int{}, map[string]int{}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "category\ttest\texpected\tbanned\tmissed\tloopback detected\textra\tmatched by")
	list := func(as []string) string {
		if len(as) == 0 {
			return "-"
		}
		return strings.Join(as, " ")
	}
	for _, r := range rows {
		expected[r.category] += len(r.expected)
		caught[r.category] += len(r.expected) - len(r.missed)
		detected[r.category] += len(r.expected) - len(r.missed) + len(r.loopback)
		note := ""
		if r.err != nil {
			note = " (" + r.err.Error() + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s%s\n", r.category, r.name, len(r.expected),
			len(r.expected)-len(r.missed), list(r.missed), list(r.loopback), list(r.extra), list(r.matched), note)
		if r.category == "whitelist" && len(r.banned) > 0 {
			t.Errorf("whitelist test %s: banned %v, want nobody", r.name, r.banned)
		}
	}
	tw.Flush()
	t.Log("\n" + b.String())
	var cats []string
	for c := range expected {
		cats = append(cats, c)
	}
	sort.Strings(cats)
	for _, c := range cats {
		t.Logf("%-9s %3d of %3d expected attackers banned, %3d detected (loopback attackers banned as stand-ins)", c, caught[c], expected[c], detected[c])
	}
	for c, floor := range hubFloor {
		if caught[c] < floor {
			t.Errorf("%s: %d of %d expected attackers banned, want at least %d (hubFloor)", c, caught[c], expected[c], floor)
		}
	}
	for c, floor := range hubDetectFloor {
		if detected[c] < floor {
			t.Errorf("%s: %d of %d expected attackers detected, want at least %d (hubDetectFloor)", c, detected[c], expected[c], floor)
		}
	}
}
