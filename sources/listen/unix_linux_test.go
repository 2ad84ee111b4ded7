package listen

import (
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

const nobody = 65534

// localSSHD is what sshd writes to /dev/log: no host name.
const localSSHD = "<38>Nov  9 12:00:00 sshd[812]: Failed password for root from "

// openDir is a directory every user may traverse.
func openDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "open")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for p := filepath.Dir(dir); p != os.TempDir() && p != "/"; p = filepath.Dir(p) {
		os.Chmod(p, 0o711) // t.TempDir's own directories are 0700
	}
	return dir
}

// copyBinary copies this test binary to path, to be run as a client under
// the name (comm) and executable path a test chooses.
func copyBinary(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	src, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

// sendAs runs bin as uid (-1: as this process's user) to write msg to the
// socket at sock, and ends it once s has judged n datagrams: a sender is
// identified by its /proc entry, which is gone once it exits.
func sendAs(t *testing.T, s *Syslog, n uint64, bin string, uid int, sock, msg string) {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = []string{"STOCKADE_LISTEN_SEND=" + sock, "STOCKADE_LISTEN_MSG=" + msg}
	if uid >= 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the datagram judged", func() bool {
		st := s.Stats().Unix
		bad := uint64(0)
		for _, k := range st.Bad {
			bad += k
		}
		return st.Events+bad >= n
	})
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%s as uid %d: %v\n%s", bin, uid, err, stderr.String())
	}
}

// TestUnixJudgesSender: on a unix socket every datagram carries its
// sender's credentials, and the program it claims is judged by them. The
// sender is a copy of this binary, so its name (comm) is whatever the copy
// is called: what identifies it is its uid, from the kernel, and its
// executable's path, which only root can place at a trusted path.
func TestUnixJudgesSender(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("skipping: sending as another uid needs root (CI runs as root)")
	}
	dir := openDir(t)
	trusted := filepath.Join(dir, "sbin", "sshd")
	impostor := filepath.Join(dir, "home", "sshd") // same name, another path
	copyBinary(t, trusted)
	copyBinary(t, impostor)
	ids, err := NewIdentities(map[string][]Speaker{"sshd": {{Exe: []string{trusted}, User: []string{"root"}}}}, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "log.sock")
	s, out := startSyslog(t, Config{Unix: sock, Identities: ids})
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o666 {
		t.Errorf("socket mode %v, want a socket writable by all (0666)", fi.Mode())
	}
	if a := s.UnixAddr(); a == nil || a.String() != sock {
		t.Errorf("UnixAddr = %v", a)
	}

	sendAs(t, s, 1, trusted, nobody, sock, localSSHD+"198.51.100.1 port 1 ssh2")     // right executable, wrong user
	sendAs(t, s, 2, impostor, 0, sock, localSSHD+"198.51.100.2 port 1 ssh2")         // root, but not the trusted executable
	sendAs(t, s, 3, impostor, nobody, sock, localSSHD+"198.51.100.3 port 1 ssh2")    // neither: `logger -t sshd` by nobody
	sendAs(t, s, 4, trusted, 0, sock, localSSHD+"198.51.100.4 port 1 ssh2")          // sshd
	sendAs(t, s, 5, impostor, nobody, sock, "<13>Nov  9 12:00:00 cron[9]: unlisted") // no entry: taken at its word
	evs := collect(t, out, 2)
	if evs[0].Program != "sshd" || !strings.Contains(evs[0].Message, "198.51.100.4 ") {
		t.Errorf("first event = %q %q, want the trusted sshd's", evs[0].Program, evs[0].Message)
	}
	if evs[1].Program != "cron" {
		t.Errorf("second event = %q %q, want the unlisted claim", evs[1].Program, evs[1].Message)
	}
	noMore(t, out)
	if st := s.Stats().Unix; st.Received != 5 || st.Events != 2 || st.Bad["identity mismatch"] != 3 {
		t.Errorf("stats = %+v", st)
	}
}

// A sender gone before its /proc entry is read cannot be judged: refused
// and counted, never believed.
func TestUnixSenderGone(t *testing.T) {
	id, err := NewIdentities(nil, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip("no true(1)")
	}
	dead := &syscall.Ucred{Pid: int32(cmd.ProcessState.Pid()), Uid: 0}
	err = id.Judge("sshd", func() (Identity, error) { return procIdentity(dead) })
	if err != errGone {
		t.Errorf("Judge of a sender that has exited = %v, want %v", err, errGone)
	}
	// And a live one is read whole: this process.
	me, err := procIdentity(&syscall.Ucred{Pid: int32(os.Getpid()), Uid: uint32(os.Getuid())})
	if exe, _ := os.Executable(); err != nil || me.Exe != exe || me.Comm == "" || !me.HasUID {
		t.Errorf("procIdentity(self) = %+v, %v; want exe %s", me, err, exe)
	}
}

// A stale socket left by a process that is gone is replaced; a live one,
// or a file that is not a socket, is not removed.
func TestUnixStaleSocket(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, "stale.sock")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: stale, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	c.Close() // the file stays: a datagram socket is not unlinked on close
	if _, err := os.Stat(stale); err != nil {
		t.Fatal(err)
	}
	_, out := startSyslog(t, Config{Unix: stale})
	w, err := net.Dial("unixgram", stale)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	write(t, w, "<13>Nov  9 12:00:00 app[1]: hello")
	if ev := collect(t, out, 1)[0]; ev.Message != "hello" {
		t.Errorf("event = %q", ev.Message)
	}

	// The socket above is live now: a second listener must not take it.
	if _, err := bindUnix(stale); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("binding a live socket: %v", err)
	}
	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("keep"), 0o644)
	if _, err := bindUnix(file); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("binding over a file: %v", err)
	}
	if b, _ := os.ReadFile(file); string(b) != "keep" {
		t.Error("the file was replaced")
	}
}

func TestCgroupUnit(t *testing.T) {
	for in, want := range map[string]string{
		"0::/system.slice/ssh.service\n":                                         "ssh.service",
		"0::/user.slice/user-1000.slice/user@1000.service/app.slice/x.service\n": "user@1000.service",
		"12:pids:/\n1:name=systemd:/system.slice/nginx.service\n0::/\n":          "nginx.service",
		"0::/init.scope\n":         "init.scope",
		"1:name=systemd:/\n0::/\n": "",
		"":                         "",
	} {
		if got := cgroupUnit([]byte(in)); got != want {
			t.Errorf("cgroupUnit(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestCredentials: the sender's credentials are found among a datagram's
// control messages, after another kind; a truncated or absent one is not.
func TestCredentials(t *testing.T) {
	want := syscall.Ucred{Pid: 4242, Uid: 1000, Gid: 100}
	creds := syscall.UnixCredentials(&want)
	rights := syscall.UnixRights(0, 1)
	for _, tt := range []struct {
		name string
		oob  []byte
		ok   bool
	}{
		{"credentials", creds, true},
		{"after rights", append(append([]byte{}, rights...), creds...), true},
		{"rights only", rights, false},
		{"none", nil, false},
		{"truncated", creds[:syscall.CmsgLen(syscall.SizeofUcred)-1], false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := credentials(tt.oob)
			if ok != tt.ok || ok && got != want {
				t.Errorf("credentials = %+v, %v; want %+v, %v", got, ok, want, tt.ok)
			}
		})
	}
	if n := testing.AllocsPerRun(100, func() { credentials(creds) }); n != 0 {
		t.Errorf("%v allocations a datagram, want 0", n)
	}
}
