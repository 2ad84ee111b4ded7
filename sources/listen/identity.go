package listen

import (
	"fmt"
	"os/user"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/stockade-ids/stockade/pipeline"
)

// A log line names its own program: "sshd[812]:" in a syslog header,
// SYSLOG_IDENTIFIER in the journal. Any local user can write either
// (`logger -t sshd`), and a rule that trusts the name lets that user choose
// whom stockade bans. So for a local input, where the kernel tells us who
// sent each message, the claimed program is checked against the process
// that made the claim, by what that process cannot forge: its uid (from the
// kernel, at the time of sending), its executable and its systemd unit
// (its cgroup), and, weakest, its comm.

// The reasons a message is refused for its sender.
var (
	errIdentity = pipeline.Bad("identity mismatch")
	errUnlisted = pipeline.Bad("unlisted program")
	errGone     = pipeline.Bad("sender gone")
	errNoCreds  = pipeline.Bad("no credentials")
	errSender   = pipeline.Bad("sender not allowed")
)

// Identity is what the kernel or journald says about the process that
// wrote a message. An empty string or HasUID false is unknown, and matches
// nothing.
type Identity struct {
	UID    uint32
	HasUID bool
	Exe    string // the executable's path (/proc/PID/exe, _EXE)
	Comm   string // the process name (/proc/PID/comm, _COMM)
	Unit   string // the systemd unit, from the cgroup (_SYSTEMD_UNIT)
}

// Speaker is one kind of process allowed to write as a program. Every field
// that is set must match the sender; within a field, any value may. A
// Speaker with no field set is anyone.
//
// The uid is what binds: it is stamped by the kernel when the message is
// sent, while the executable and comm are read from /proc afterwards, so a
// process that sends and then execs sshd shows sshd's executable with its
// own uid. Comm alone proves nothing (any process can rename itself); use
// it with User.
type Speaker struct {
	Exe  []string `yaml:"exe"`  // executable paths, path.Match patterns ("/nix/store/*/bin/sshd")
	Comm []string `yaml:"comm"` // process names
	Unit []string `yaml:"unit"` // systemd units ("ssh.service")
	User []string `yaml:"user"` // user names or numeric uids; names unknown here are ignored
}

// Unlisted says what a claim to a program with no entry in the table gets.
const (
	// UnlistedAccept takes such a claim at its word, as every syslog
	// consumer does: the table guards the programs the built-in packs
	// read, and a pack of one's own that reads local logs of another
	// program should add an entry for it.
	UnlistedAccept = "accept"
	// UnlistedRefuse refuses every claim to a program not in the table
	// (and every message that names no program).
	UnlistedRefuse = "refuse"
)

var (
	rootOnly   = []string{"root"}
	webUsers   = []string{"root", "www-data", "nginx", "apache", "http", "www"}
	sshdExes   = []string{"/usr/sbin/sshd", "/usr/bin/sshd", "/usr/local/sbin/sshd", "/nix/store/*/bin/sshd"}
	sshdHelper = func(name string) []string {
		return []string{"/usr/lib/openssh/" + name, "/usr/libexec/openssh/" + name, "/usr/lib/ssh/" + name,
			"/usr/libexec/" + name, "/usr/local/libexec/" + name, "/nix/store/*/libexec/" + name}
	}
)

// DefaultSpeakers is the table used for the programs it names unless
// overridden: who may write as each program the built-in packs read. It is
// a function so that no caller can change the defaults of another.
func DefaultSpeakers() map[string][]Speaker {
	sshdUnits := []string{"ssh.service", "sshd.service"}
	// OpenSSH 9.8 split sshd into sshd (listener), sshd-session (the
	// privileged monitor, which writes the log) and sshd-auth; each may
	// log under any of the three names. They log as root: the unprivileged
	// child's messages are written by the monitor.
	sshExes := slices.Concat(sshdExes, sshdHelper("sshd-session"), sshdHelper("sshd-auth"))
	ssh := []Speaker{
		{Exe: sshExes, User: rootOnly},
		{Unit: sshdUnits, User: rootOnly},
	}
	return map[string][]Speaker{
		"sshd":         ssh,
		"sshd-session": ssh,
		"sshd-auth":    ssh,
		"dropbear": {
			{Exe: []string{"/usr/sbin/dropbear", "/usr/bin/dropbear", "/usr/local/sbin/dropbear"}, User: rootOnly},
			{Unit: []string{"dropbear.service"}, User: rootOnly},
		},
		// Web servers log from workers that run as the web user.
		"nginx": {
			{Exe: []string{"/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"}, User: webUsers},
			{Unit: []string{"nginx.service"}, User: webUsers},
		},
		"apache2": apache(webUsers),
		"httpd":   apache(webUsers),
		"suricata": {
			{Exe: []string{"/usr/bin/suricata", "/usr/sbin/suricata", "/usr/local/bin/suricata"}, User: []string{"root", "suricata"}},
			{Unit: []string{"suricata.service"}, User: []string{"root", "suricata"}},
		},
		// fail2ban is Python: its executable is the interpreter, which any
		// user can run, so it is known by its unit or its name as root.
		"fail2ban":         fail2ban(),
		"fail2ban-server":  fail2ban(),
		"fail2ban.actions": fail2ban(),
	}
}

func apache(users []string) []Speaker {
	return []Speaker{
		{Exe: []string{"/usr/sbin/apache2", "/usr/sbin/httpd", "/usr/bin/httpd", "/usr/local/apache2/bin/httpd"}, User: users},
		{Unit: []string{"apache2.service", "httpd.service"}, User: users},
	}
}

func fail2ban() []Speaker {
	return []Speaker{
		{Unit: []string{"fail2ban.service"}, User: rootOnly},
		{Comm: []string{"fail2ban-server"}, User: rootOnly},
	}
}

// Identities decides which process may write as which program. It is
// immutable once built and safe for concurrent use.
type Identities struct {
	table    map[string][]speaker
	unlisted string
}

// speaker is a Speaker with its users resolved to uids.
type speaker struct {
	exe, comm, unit []string
	uids            []uint32
	anyUID          bool
}

// NewIdentities builds the table: DefaultSpeakers with each program named
// in override replaced by its entry there (an empty list: nobody may write
// as that program), and unlisted ("" is UnlistedAccept) for the rest.
// lookup resolves a user name to a uid; nil uses the system's user
// database. A name it does not know is skipped (the web server's user is
// www-data on Debian, nginx or apache on Fedora), but a Speaker whose every
// user is unknown matches nobody rather than anybody.
func NewIdentities(override map[string][]Speaker, unlisted string, lookup func(name string) (uint32, bool)) (*Identities, error) {
	switch unlisted {
	case "":
		unlisted = UnlistedAccept
	case UnlistedAccept, UnlistedRefuse:
	default:
		return nil, fmt.Errorf("unlisted: %q: want %s or %s", unlisted, UnlistedAccept, UnlistedRefuse)
	}
	if lookup == nil {
		lookup = lookupUser
	}
	all := DefaultSpeakers()
	for prog, sp := range override {
		all[prog] = sp
	}
	id := &Identities{table: map[string][]speaker{}, unlisted: unlisted}
	for prog, sps := range all {
		out := make([]speaker, 0, len(sps))
		for i, sp := range sps {
			for _, p := range sp.Exe {
				if _, err := path.Match(p, ""); err != nil {
					return nil, fmt.Errorf("identities: %s[%d].exe %q: %w", prog, i, p, err)
				}
			}
			s := speaker{exe: sp.Exe, comm: sp.Comm, unit: sp.Unit, anyUID: len(sp.User) == 0}
			for _, u := range sp.User {
				if n, err := strconv.ParseUint(u, 10, 32); err == nil {
					s.uids = append(s.uids, uint32(n))
				} else if uid, ok := lookup(u); ok {
					s.uids = append(s.uids, uid)
				}
			}
			out = append(out, s)
		}
		id.table[prog] = out
	}
	return id, nil
}

func lookupUser(name string) (uint32, bool) {
	u, err := user.Lookup(name)
	if err != nil {
		return 0, false
	}
	n, err := strconv.ParseUint(u.Uid, 10, 32)
	return uint32(n), err == nil
}

// Programs lists the programs in the table, sorted.
func (id *Identities) Programs() []string {
	out := make([]string, 0, len(id.table))
	for p := range id.table {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// Listed reports whether claims to program are checked.
func (id *Identities) Listed(program string) bool {
	_, ok := id.table[program]
	return ok
}

// Judge returns nil when the sender may write as program, or the reason
// it may not. sender is called only when the claim is in the table;
// its error (the process is gone, no credentials came) is the reason.
func (id *Identities) Judge(program string, sender func() (Identity, error)) error {
	sps, ok := id.table[program]
	if !ok {
		if id.unlisted == UnlistedRefuse {
			return errUnlisted
		}
		return nil
	}
	who, err := sender()
	if err != nil {
		return err
	}
	for i := range sps {
		if sps[i].match(&who) {
			return nil
		}
	}
	return errIdentity
}

func (s *speaker) match(who *Identity) bool {
	if !s.anyUID && (!who.HasUID || !slices.Contains(s.uids, who.UID)) {
		return false
	}
	if len(s.comm) > 0 && (who.Comm == "" || !slices.Contains(s.comm, who.Comm)) {
		return false
	}
	if len(s.unit) > 0 && (who.Unit == "" || !slices.Contains(s.unit, who.Unit)) {
		return false
	}
	if len(s.exe) > 0 {
		// An executable replaced by an upgrade while it runs, as the
		// kernel shows it (journald strips the suffix itself).
		exe := strings.TrimSuffix(who.Exe, " (deleted)")
		if exe == "" {
			return false
		}
		for _, p := range s.exe {
			if ok, _ := path.Match(p, exe); ok {
				return true
			}
		}
		return false
	}
	return true
}
