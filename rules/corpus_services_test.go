package rules_test

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/stockade-ids/stockade/internal/testcorpus"
	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/rules"
	"github.com/stockade-ids/stockade/sources"
)

// f2bService is one of fail2ban's filter sample logs
// (fail2ban/tests/files/logs/NAME) and the pack that judges the service.
type f2bService struct {
	log  string // the sample file's name
	pack string
	// file is what the sample is called when read (its lines are each
	// written to a file of this name): the name a service's own log has,
	// so that rules reading such files by name (sources:) see them.
	file string
	// floor: lines of the sample fail2ban calls a failure, with an
	// address, that the pack finds with the same address (with its rules
	// that are off by default turned on), as measured when this test was
	// written. Raise it when a pack finds more; never lower it.
	floor int
}

// f2bServices are the services of issue "Detection breadth" that fail2ban
// has samples of (postgresql, gitea, nextcloud, home assistant and
// endlessh have none; sshd is TestFail2banSshdSamples's).
var f2bServices = []f2bService{
	{log: "postfix", pack: "postfix", file: "mail.log", floor: 27},
	{log: "dovecot", pack: "dovecot", file: "dovecot.log", floor: 30},
	{log: "exim", pack: "exim", file: "mainlog", floor: 19},
	{log: "exim-spam", pack: "exim", file: "mainlog", floor: 0},
	{log: "proftpd", pack: "ftp", file: "messages", floor: 9},
	{log: "vsftpd", pack: "ftp", file: "vsftpd.log", floor: 5},
	{log: "pure-ftpd", pack: "ftp", file: "messages", floor: 1},
	{log: "mysqld-auth", pack: "mysql", file: "error.log", floor: 8},
	{log: "asterisk", pack: "asterisk", file: "messages", floor: 1},
	{log: "openvpn", pack: "openvpn", file: "messages", floor: 2},
	{log: "grafana", pack: "grafana", file: "messages", floor: 0},
	{log: "bitwarden", pack: "vaultwarden", file: "messages", floor: 0},
	{log: "vaultwarden", pack: "vaultwarden", file: "messages", floor: 0},
	{log: "proxmox", pack: "proxmox", file: "messages", floor: 2},
}

// f2bSample is a line of a fail2ban sample log with the expectation on
// the comment line before it.
type f2bSample struct {
	n     int    // line number in the sample file
	line  string // the log line
	match bool   // fail2ban's filter matches it
	host  string // the address (or host name) it takes
}

var f2bJSON = regexp.MustCompile(`^# failJSON: \{.*"match": *(true|false)\s*(?:,.*"host": *"([^"]*)")?`)

func f2bSamples(t *testing.T, path string) []f2bSample {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	var out []f2bSample
	for i := 0; i+1 < len(lines); i++ {
		m := f2bJSON.FindStringSubmatch(lines[i])
		if m == nil || lines[i+1] == "" || lines[i+1][0] == '#' {
			continue
		}
		out = append(out, f2bSample{n: i + 2, line: lines[i+1], match: m[1] == "true", host: m[2]})
	}
	return out
}

// f2bTally is what a service's samples came to.
type f2bTally struct {
	fails     int // fail2ban: a failure with an address
	hostnames int // fail2ban: a failure naming a host (stockade resolves none)
	unread    int // failures stockade reads as no event of a format it judges
	found     int // failures the pack finds with the same address
	other     []string
	extra     []string // lines fail2ban calls no failure that the pack does
	missed    []string
}

// judgeLine reads line as stockade would read a file of name file holding
// it (the format detected from the line) and returns the address the
// pack's rules take from it; read is false when it is no event.
func judgeLine(t *testing.T, set *rules.Set, pack, dir, file, line string) (target string, read bool) {
	path := filepath.Join(dir, file)
	if err := os.WriteFile(path, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := sources.Open(path, sources.Options{Loc: time.UTC})
	if err != nil {
		return "", false
	}
	defer f.Close()
	var ev pipeline.Event
	if err := f.Next(&ev); err != nil {
		if !errors.Is(err, io.EOF) {
			t.Fatal(err)
		}
		return "", false
	}
	for _, h := range set.Match(&ev, nil) {
		if h.Policy.Pack == pack {
			return h.Target.String(), true
		}
	}
	return "", true
}

func tallyService(t *testing.T, set *rules.Set, root string, s f2bService) f2bTally {
	var c f2bTally
	dir := t.TempDir()
	for _, sm := range f2bSamples(t, filepath.Join(root, s.log)) {
		got, read := judgeLine(t, set, s.pack, dir, s.file, sm.line)
		where := fmt.Sprintf("%s:%d: %.110s", s.log, sm.n, sm.line)
		if !sm.match {
			if got != "" {
				c.extra = append(c.extra, where)
			}
			continue
		}
		want, err := netip.ParseAddr(sm.host)
		if err != nil {
			c.hostnames++
			continue
		}
		c.fails++
		switch {
		case !read:
			c.unread++
		case got == pipeline.Canonical(want).String() || got != "" && covers(got, pipeline.Canonical(want).String()):
			c.found++
		case got != "":
			c.other = append(c.other, fmt.Sprintf("%s (takes %s, fail2ban %s)", where, got, sm.host))
		default:
			c.missed = append(c.missed, where)
		}
	}
	return c
}

// TestFail2banServiceSamples measures the service packs against
// fail2ban's own filter samples (../shared/corpus/fail2ban__fail2ban,
// GPL: read in place, never copied): of the lines fail2ban's filter
// calls a failure with an address, how many the pack finds with the same
// address, how many it cannot read (a format stockade does not read),
// and the lines fail2ban calls no failure that the pack does. The
// pack's rules that are off by default are on, as fail2ban's modes are
// part of its filter. Where the two differ it is listed with -v; an
// address other than fail2ban's fails the test, and so does a pack
// finding fewer than its floor. README's "Detection breadth" says why
// the remaining lines are left.
func TestFail2banServiceSamples(t *testing.T) {
	root := testcorpus.Path(t, "fail2ban__fail2ban/fail2ban/tests/files/logs")
	packs := rules.DefaultPacksAllOn(t)
	set, err := rules.NewSet(packs...)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "sample\tpack\tfailures\tfound\tanother address\tnot read\tmissed\thost names\tno failure to fail2ban, one to stockade")
	for _, s := range f2bServices {
		if !slices.ContainsFunc(packs, func(p *rules.Pack) bool { return p.Name == s.pack }) {
			t.Errorf("%s: no built-in pack %q", s.log, s.pack)
			continue
		}
		c := tallyService(t, set, root, s)
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", s.log, s.pack, c.fails, c.found, len(c.other), c.unread, len(c.missed), c.hostnames, len(c.extra))
		for _, o := range c.other {
			t.Errorf("another address than fail2ban's: %s", o)
		}
		for _, m := range c.missed {
			t.Logf("missed: %s", m)
		}
		for _, x := range c.extra {
			t.Logf("no failure to fail2ban: %s", x)
		}
		if c.found < s.floor {
			t.Errorf("%s: the %s pack finds %d of %d failures, want at least %d", s.log, s.pack, c.found, c.fails, s.floor)
		}
	}
	tw.Flush()
	t.Log("\n" + b.String())
}
