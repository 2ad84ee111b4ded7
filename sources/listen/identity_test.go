//go:build unix

package listen

import (
	"testing"
	"time"
)

// journalLine is one `journalctl -o json` record claiming program, with
// the fields journald itself records about the writer.
func journalLine(cursor, program, comm, exe, unit, uid, msg string) string {
	return `{"__CURSOR":"` + cursor + `","__REALTIME_TIMESTAMP":"1762639201000000","_HOSTNAME":"bastion",` +
		`"SYSLOG_IDENTIFIER":"` + program + `","_PID":"4242","_COMM":"` + comm + `","_EXE":"` + exe + `",` +
		`"_SYSTEMD_UNIT":"` + unit + `","_UID":"` + uid + `","MESSAGE":"` + msg + `"}` + "\n"
}

// TestJournaldRefusesForgedProgram: `logger -t sshd` by nobody writes a
// record whose SYSLOG_IDENTIFIER is sshd, but journald records who really
// wrote it (_COMM=logger, _UID=65534). Such a record is refused and counted;
// sshd's own records (the listener, OpenSSH 9.8's sshd-session, or any root
// process of ssh.service) are judged; a claim to a program not in the table
// is taken at its word by default.
func TestJournaldRefusesForgedProgram(t *testing.T) {
	f := newFakeJournal(t)
	const fail = "Failed password for root from 203.0.113.45 port 22 ssh2"
	f.set(t, "out1", ""+
		journalLine("c1", "sshd", "logger", "/usr/bin/logger", "session-3.scope", "65534", fail)+
		journalLine("c2", "sshd", "sshd", "/usr/sbin/sshd", "ssh.service", "0", fail)+
		journalLine("c3", "sshd", "sshd", "/tmp/sshd", "session-3.scope", "65534", fail)+ // a copy of sshd, run by nobody
		journalLine("c4", "sshd", "sshd-session", "/usr/lib/openssh/sshd-session", "ssh.service", "0", fail)+
		journalLine("c5", "sshd", "python3", "/usr/bin/python3", "ssh.service", "65534", fail)+ // right unit, wrong user
		journalLine("c6", "sshd", "sshd", "/usr/sbin/sshd", "ssh.service", "65534", fail)+ // right program, wrong user
		journalLine("c7", "sshd", "bash", "/usr/bin/bash", "ssh.service", "0", "root in ssh.service")+
		journalLine("c8", "cron", "logger", "/usr/bin/logger", "session-3.scope", "65534", "unlisted"))
	j := &Journald{Command: f.path, Loc: time.UTC}
	out, _ := runJournald(t, j)
	var got []string
	for _, ev := range collect(t, out, 4) {
		got = append(got, ev.Program+" "+ev.Message)
	}
	want := []string{"sshd " + fail, "sshd " + fail, "sshd root in ssh.service", "cron unlisted"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("event %d = %q, want %q", i, got[i], want[i])
		}
	}
	noMore(t, out)
	waitFor(t, "all records", func() bool { return j.Stats().Received == 8 })
	if st := j.Stats(); st.Events != 4 || st.Bad["identity mismatch"] != 4 {
		t.Errorf("stats = %+v, want 4 events and 4 identity mismatches", st)
	}
}

// With unlisted: refuse, only programs in the table are believed, and an
// override replaces the built-in entry for its program.
func TestJournaldIdentityOverride(t *testing.T) {
	f := newFakeJournal(t)
	f.set(t, "out1", ""+
		journalLine("c1", "sshd", "sshd", "/usr/sbin/sshd", "ssh.service", "0", "default sshd no longer allowed")+
		journalLine("c2", "sshd", "sshd", "/opt/ssh/sbin/sshd", "opt-ssh.service", "0", "the overriding sshd")+
		journalLine("c3", "cron", "cron", "/usr/sbin/cron", "cron.service", "0", "unlisted"))
	ids, err := NewIdentities(map[string][]Speaker{"sshd": {{Exe: []string{"/opt/ssh/sbin/*"}, User: []string{"0"}}}}, UnlistedRefuse, nil)
	if err != nil {
		t.Fatal(err)
	}
	j := &Journald{Command: f.path, Loc: time.UTC, Identities: ids, Args: []string{"--output-fields=MESSAGE"}}
	out, _ := runJournald(t, j)
	if ev := collect(t, out, 1)[0]; ev.Message != "the overriding sshd" {
		t.Errorf("event = %q", ev.Message)
	}
	noMore(t, out)
	waitFor(t, "all records", func() bool { return j.Stats().Received == 3 })
	if st := j.Stats(); st.Bad["identity mismatch"] != 1 || st.Bad["unlisted program"] != 1 {
		t.Errorf("stats = %+v", st)
	}
	if a := f.get(t, "args1"); a != "-f -o json --output-fields=MESSAGE,"+trustedFields {
		t.Errorf("args = %q: the fields a record is judged by were not asked for", a)
	}
}

// The table's own rules: a user name unknown here is skipped, but an item
// whose every user is unknown is nobody, not anybody; [{}] is anybody and
// [] nobody; bad patterns and bad unlisted values are refused at load.
func TestIdentities(t *testing.T) {
	lookup := func(name string) (uint32, bool) {
		uid, ok := map[string]uint32{"root": 0, "www-data": 33}[name]
		return uid, ok
	}
	ids, err := NewIdentities(map[string][]Speaker{
		"ghost":  {{User: []string{"no-such-user"}}},
		"anyone": {{}},
		"no-one": {},
		"web":    {{Exe: []string{"/nix/store/*/bin/nginx"}, User: []string{"nginx", "www-data"}}},
	}, "", lookup)
	if err != nil {
		t.Fatal(err)
	}
	nobodyLogger := Identity{UID: 65534, HasUID: true, Exe: "/usr/bin/logger", Comm: "logger"}
	for _, tt := range []struct {
		prog string
		who  Identity
		want error
	}{
		{"ghost", nobodyLogger, errIdentity},
		{"anyone", nobodyLogger, nil},
		{"no-one", Identity{UID: 0, HasUID: true, Exe: "/usr/sbin/sshd"}, errIdentity},
		{"web", Identity{UID: 33, HasUID: true, Exe: "/nix/store/abc-nginx/bin/nginx"}, nil},
		{"web", Identity{UID: 33, HasUID: true, Exe: "/nix/store/abc/evil/bin/nginx"}, errIdentity}, // * stops at /
		{"web", Identity{UID: 33, Exe: "/nix/store/abc-nginx/bin/nginx"}, errIdentity},              // uid unknown
		{"sshd", Identity{UID: 0, HasUID: true, Exe: "/usr/sbin/sshd (deleted)"}, nil},              // upgraded while running
		{"sshd", Identity{UID: 0, HasUID: true, Exe: "/tmp/x (deleted)/usr/sbin/sshd"}, errIdentity},
		{"sshd", Identity{UID: 0, HasUID: true, Unit: "sshd.service", Comm: "bash"}, nil},
		{"sshd-auth", Identity{UID: 0, HasUID: true, Exe: "/usr/libexec/openssh/sshd-auth"}, nil},
		{"cron", nobodyLogger, nil},
	} {
		if got := ids.Judge(tt.prog, func() (Identity, error) { return tt.who, nil }); got != tt.want {
			t.Errorf("Judge(%s, %+v) = %v, want %v", tt.prog, tt.who, got, tt.want)
		}
	}
	if _, err := NewIdentities(nil, "maybe", lookup); err == nil {
		t.Error("unlisted: maybe accepted")
	}
	if _, err := NewIdentities(map[string][]Speaker{"x": {{Exe: []string{"/usr/[bin"}}}}, "", lookup); err == nil {
		t.Error("a bad exe pattern accepted")
	}
	// The sender is read only for a claim the table checks.
	read := false
	ids.Judge("cron", func() (Identity, error) { read = true; return Identity{}, errGone })
	if read {
		t.Error("the sender was read for an unlisted claim")
	}
}
