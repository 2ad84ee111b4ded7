package listen

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/sources"
)

var eveLog = filepath.Join("..", "..", "testdata", "replay", "eve.json")

// suricataWrite writes records to the socket at path as Suricata's eve-log
// output does: over unix_stream, one connection and each record ending in
// a newline, written with one write() (the kernel may join or split them
// on the way: the reader must frame by newline); over unix_dgram, one
// record per datagram, newline included.
func suricataWrite(path, network string, records []string) error {
	c, err := net.Dial(network, path)
	if err != nil {
		return err
	}
	defer c.Close()
	for _, r := range records {
		if _, err := c.Write([]byte(r + "\n")); err != nil {
			return err
		}
	}
	return nil
}

// sendEve is suricataWrite run in a child process (TestMain).
func sendEve(path, network, msg string) int {
	if err := suricataWrite(path, network, []string{msg}); err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		return 1
	}
	return 0
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

// fileEvents are the events of an eve.json read as a file: what the socket
// must yield from the same records.
func fileEvents(t *testing.T, path string) []pipeline.Event {
	t.Helper()
	f, err := sources.Open(path, sources.Options{Format: pipeline.FormatEve, Loc: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []pipeline.Event
	for {
		var ev pipeline.Event
		if err := f.Next(&ev); errors.Is(err, io.EOF) {
			return out
		} else if err != nil {
			t.Fatal(err)
		}
		out = append(out, ev.Clone())
	}
}

func startEve(t *testing.T, cfg EveConfig) (*EveSocket, chan pipeline.Event, func() error) {
	t.Helper()
	cfg.Loc = time.UTC
	s, err := NewEveSocket(cfg)
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan pipeline.Event, 4096)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, out) }()
	<-s.Ready()
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			return errors.New("Run did not return within 10 s of its cancel")
		}
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	})
	return s, out, stop
}

// TestEveSocket: Suricata's unix_stream and unix_dgram outputs, written
// like Suricata writes them, give the same events as the same records read
// from eve.json, with the socket as their source; records that are not
// alerts are skipped and a broken one is counted as bad. The socket is
// 0600 and gone once Run returns.
func TestEveSocket(t *testing.T) {
	records := readLines(t, eveLog)
	want := fileEvents(t, eveLog)
	for _, tc := range []struct {
		name    string
		dgram   bool
		network string
	}{{"unix_stream", false, "unix"}, {"unix_dgram", true, "unixgram"}} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "eve.sock")
			s, out, stop := startEve(t, EveConfig{Path: path, Type: map[bool]string{true: "dgram"}[tc.dgram]})
			fi, err := os.Lstat(path)
			if err != nil || fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 {
				t.Fatalf("socket: %v, mode %v; want a socket of mode 0600", err, fi.Mode())
			}
			broken := `{"timestamp":"2025-11-08T23:59:59.000000+0000","event_type":"alert","src_ip":`
			if err := suricataWrite(path, tc.network, append(records, broken)); err != nil {
				t.Fatal(err)
			}
			var got []pipeline.Event
			for len(got) < len(want) {
				select {
				case ev := <-out:
					got = append(got, ev)
				case <-time.After(10 * time.Second):
					t.Fatalf("got %d of the file's %d events after 10 s", len(got), len(want))
				}
			}
			for i := range want {
				g, w := got[i], want[i]
				if g.Source != path || !g.Time.Equal(w.Time) || g.Addr != w.Addr || g.Signature != w.Signature || g.SID != w.SID || g.Priority != w.Priority || g.Line != w.Line {
					t.Errorf("event %d: got %v %v %q sid %d from %s; the file gives %v %v %q sid %d", i, g.Time, g.Addr, g.Signature, g.SID, g.Source, w.Time, w.Addr, w.Signature, w.SID)
				}
			}
			waitFor(t, "the broken record counted", func() bool { return s.Stats().Received == uint64(len(records)+1) })
			st := s.Stats()
			if st.Events != uint64(len(want)) || st.Skipped != uint64(len(records)-len(want)) || sum(st.Bad) != 1 {
				t.Errorf("stats %+v: want %d events, %d skipped, 1 bad", st, len(want), len(records)-len(want))
			}
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the socket outlived Run: %v", err)
			}
		})
	}
}

func sum(m map[string]uint64) uint64 {
	var n uint64
	for _, v := range m {
		n += v
	}
	return n
}

// TestEveSocketFraming: a stream record split across writes, two in one
// write, CRLF, an over-long record between good ones: framing is by
// newline alone, and the long one is counted and skipped.
func TestEveSocketFraming(t *testing.T) {
	path := filepath.Join(t.TempDir(), "eve.sock")
	s, out, _ := startEve(t, EveConfig{Path: path, MaxRecord: 4096})
	alert := func(ip string) string {
		return `{"timestamp":"2025-11-08T22:00:00.000000+0000","event_type":"alert","src_ip":"` + ip + `","src_port":4444,"dest_ip":"192.0.2.10","dest_port":22,"proto":"TCP","alert":{"action":"allowed","gid":1,"signature_id":2001219,"rev":20,"signature":"ET SCAN Potential SSH Scan","category":"Attempted Information Leak","severity":2}}`
	}
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	a1 := alert("203.0.113.1")
	for _, part := range []string{a1[:50], a1[50:] + "\n" + alert("203.0.113.2") + "\r\n", `{"pad":"` + strings.Repeat("x", 100_000) + "\"}\n", alert("203.0.113.3") + "\n"} {
		if _, err := c.Write([]byte(part)); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"203.0.113.1", "203.0.113.2", "203.0.113.3"} {
		select {
		case ev := <-out:
			if ev.Addr.String() != want {
				t.Errorf("event from %s, want %s", ev.Addr, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no event from %s after 10 s", want)
		}
	}
	if st := s.Stats(); st.Bad[sources.ReasonTooLong] != 1 {
		t.Errorf("bad %v, want one %q", st.Bad, sources.ReasonTooLong)
	}
}

// TestEveSocketRefuses: a path that is not ours to take is refused with
// the reason: a file that is not a socket, a socket another user owns, one
// in use, a directory every user may write to; a stale socket of ours is
// replaced; a mode wider than 0660 is refused at once.
func TestEveSocketRefuses(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("skipping: making a socket another user owns needs root (CI runs as root)")
	}
	dir := t.TempDir()
	run := func(path string) error {
		s, err := NewEveSocket(EveConfig{Path: path})
		if err != nil {
			return err
		}
		ctx, cancel := context.WithCancel(t.Context())
		cancel() // a Run that starts returns at once
		return s.Run(ctx, make(chan pipeline.Event))
	}
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o600)
	theirs := filepath.Join(dir, "theirs.sock")
	l, err := net.Listen("unix", theirs)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	inUse := filepath.Join(dir, "inuse.sock")
	l2, err := net.Listen("unix", inUse)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if err := os.Lchown(theirs, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(dir, "stale.sock")
	l3, _ := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	l3.SetUnlinkOnClose(false)
	l3.Close()
	open := filepath.Join(dir, "open")
	os.Mkdir(open, 0o777)
	os.Chmod(open, 0o777)
	for _, c := range []struct{ path, want string }{
		{file, "exists and is not a socket"},
		{theirs, "is a socket of uid 65534, not ours: refusing to take it over"},
		{inUse, "is in use by another process"},
		{filepath.Join(open, "eve.sock"), "is writable by every user: anyone could replace the socket"},
		{stale, ""},
	} {
		err := run(c.path)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: %v, want %q", filepath.Base(c.path), err, c.want)
		}
	}
	_, err = NewEveSocket(EveConfig{Path: "eve.sock", Type: "udp", Mode: "0666", Writers: []string{"no-such-user-here"}})
	for _, want := range []string{`path: want the socket's absolute path, not "eve.sock"`, `type: want stream or dgram`, `mode: want 0600 or 0660, not "0666"`, `writers: user: unknown user no-such-user-here`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("a bad config: %v, want %q", err, want)
		}
	}
	if _, err := NewEveSocket(EveConfig{Path: "/x", Mode: "0660"}); err == nil || !strings.Contains(err.Error(), "needs a group") {
		t.Errorf("mode 0660 without a group: %v", err)
	}
}

// TestEveSocketWriters: with mode 0660 and a group, a member of the group
// can connect, but its alerts count only when its uid is among writers:
// the kernel's word on the writer (SO_PEERCRED, SCM_CREDENTIALS), not the
// file's mode alone, decides.
func TestEveSocketWriters(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("skipping: writing as another uid needs root (CI runs as root)")
	}
	dir := openDir(t)
	bin := filepath.Join(dir, "bin", "suricata")
	copyBinary(t, bin)
	alert := `{"timestamp":"2025-11-08T22:00:00.000000+0000","event_type":"alert","src_ip":"203.0.113.9","src_port":4444,"dest_ip":"192.0.2.10","dest_port":22,"proto":"TCP","flow":{"pkts_toserver":3,"pkts_toclient":2},"alert":{"action":"allowed","gid":1,"signature_id":2001219,"rev":20,"signature":"ET SCAN Potential SSH Scan","category":"Attempted Information Leak","severity":1}}`
	for _, tc := range []struct {
		name, network string
		dgram         bool
		writers       []string
		events        uint64
	}{
		{"stream, not a writer", "unix", false, nil, 0},
		{"stream, a writer", "unix", false, []string{fmt.Sprint(nobody)}, 1},
		{"dgram, not a writer", "unixgram", true, nil, 0},
		{"dgram, a writer", "unixgram", true, []string{fmt.Sprint(nobody)}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "")+".sock")
			s, out, _ := startEve(t, EveConfig{Path: path, Type: map[bool]string{true: "unix_dgram", false: "unix_stream"}[tc.dgram], Mode: "0660", Group: fmt.Sprint(nobody), Writers: tc.writers})
			fi, err := os.Lstat(path)
			if err != nil || fi.Mode().Perm() != 0o660 || fi.Sys().(*syscall.Stat_t).Gid != nobody {
				t.Fatalf("socket %v: mode %v, want 0660 and group %d", err, fi.Mode(), nobody)
			}
			cmd := exec.Command(bin)
			cmd.Env = []string{"STOCKADE_EVE_SEND=" + path, "STOCKADE_EVE_NET=" + tc.network, "STOCKADE_EVE_MSG=" + alert}
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
			// A writer refused may find the connection closed under it
			// (broken pipe): only an allowed one must write cleanly.
			if b, err := cmd.CombinedOutput(); err != nil && tc.events == 1 {
				t.Fatalf("writing as uid %d: %v\n%s", nobody, err, b)
			}
			if tc.events == 1 {
				select {
				case ev := <-out:
					if ev.Addr.String() != "203.0.113.9" {
						t.Errorf("event from %s", ev.Addr)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("the writer's alert did not come within 10 s")
				}
				return
			}
			waitFor(t, "the writer refused", func() bool { return s.Stats().Denied == 1 })
			select {
			case ev := <-out:
				t.Errorf("an alert of a writer not allowed came through: %v", ev.Addr)
			case <-time.After(100 * time.Millisecond):
			}
		})
	}
}

// TestEveConfigYAML: `eve_socket: PATH` and the mapping both decode.
func TestEveConfigYAML(t *testing.T) {
	var short, long struct {
		E EveConfig `yaml:"eve_socket"`
	}
	if err := yaml.Unmarshal([]byte("eve_socket: /run/suricata/eve.sock\n"), &short); err != nil || short.E.Path != "/run/suricata/eve.sock" {
		t.Errorf("scalar: %v, %+v", err, short.E)
	}
	src := "eve_socket: {path: /run/suricata/eve.sock, type: dgram, mode: \"0660\", group: suricata, writers: [suricata]}\n"
	if err := yaml.Unmarshal([]byte(src), &long); err != nil || long.E.Type != "dgram" || long.E.Mode != "0660" || long.E.Group != "suricata" || len(long.E.Writers) != 1 {
		t.Errorf("mapping: %v, %+v", err, long.E)
	}
	var typo struct {
		E EveConfig `yaml:"eve_socket"`
	}
	err := yaml.Unmarshal([]byte("eve_socket:\n  path: /run/suricata/eve.sock\n  writer: [suricata]\n"), &typo)
	if err == nil || !strings.Contains(err.Error(), `line 3: unknown key "writer" in eve_socket (known: group, max_conns, max_record, mode, path, type, writers)`) {
		t.Errorf("a mistyped key: %v", err)
	}
}

// BenchmarkEveSocket measures eve records over a unix socket end to end:
// a writer as fast as it can go (Suricata's framing), the source reading,
// parsing and handing events to a consumer; records/s is what it read. An
// alert record, the kind that becomes an event.
func BenchmarkEveSocket(b *testing.B) {
	rec := []byte(`{"timestamp":"2025-11-08T22:00:00.000000+0000","flow_id":1,"in_iface":"eth0","event_type":"alert","src_ip":"203.0.113.9","src_port":4444,"dest_ip":"192.0.2.10","dest_port":22,"proto":"TCP","flow":{"pkts_toserver":3,"pkts_toclient":2},"alert":{"action":"allowed","gid":1,"signature_id":2001219,"rev":20,"signature":"ET SCAN Potential SSH Scan","category":"Attempted Information Leak","severity":2}}` + "\n")
	for _, tc := range []struct{ name, typ, network string }{{"stream", "stream", "unix"}, {"dgram", "dgram", "unixgram"}} {
		b.Run(tc.name, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "eve.sock")
			s, err := NewEveSocket(EveConfig{Path: path, Type: tc.typ, Loc: time.UTC})
			if err != nil {
				b.Fatal(err)
			}
			out := make(chan pipeline.Event, 4096)
			ctx, cancel := context.WithCancel(b.Context())
			done := make(chan error, 1)
			go func() { done <- s.Run(ctx, out) }()
			defer func() { cancel(); <-done }()
			<-s.Ready()
			drain(b, out)
			c, err := net.Dial(tc.network, path)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			b.SetBytes(int64(len(rec)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Write(rec); err != nil {
					b.Fatal(err)
				}
			}
			settle(func() uint64 { return s.Stats().Received }, uint64(b.N))
			b.ReportMetric(float64(s.Stats().Received)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// TestEveSocketMaxConns: connections beyond max_conns are closed at once
// and counted; those already open keep working.
func TestEveSocketMaxConns(t *testing.T) {
	path := filepath.Join(t.TempDir(), "eve.sock")
	s, out, _ := startEve(t, EveConfig{Path: path, MaxConns: 2})
	var conns []net.Conn
	for range 3 {
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	waitFor(t, "the third connection refused", func() bool { return s.Stats().Refused == 1 })
	conns[2].SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := conns[2].Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("the third connection reads %v, want EOF (closed by the source)", err)
	}
	rec := `{"timestamp":"2025-11-08T22:00:00.000000+0000","event_type":"alert","src_ip":"203.0.113.5","src_port":1,"dest_ip":"192.0.2.10","dest_port":22,"proto":"TCP","alert":{"gid":1,"signature_id":1,"rev":1,"signature":"x","category":"y","severity":1}}` + "\n"
	if _, err := conns[1].Write([]byte(rec)); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-out:
		if ev.Addr.String() != "203.0.113.5" {
			t.Errorf("event from %s", ev.Addr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("an open connection's record did not come within 10 s")
	}
}

// TestEveSample: the sample decodes and is a valid configuration.
func TestEveSample(t *testing.T) {
	var c struct {
		E EveConfig `yaml:"eve_socket"`
	}
	if err := yaml.Unmarshal([]byte(EveSample), &c); err != nil {
		t.Fatal(err)
	}
	if _, err := NewEveSocket(c.E); err != nil || c.E.Path != "/run/suricata/eve.sock" || c.E.MaxRecord != 65536 {
		t.Errorf("sample: %v, %+v", err, c.E)
	}
}

// TestEveSocketRunAgain: a Run that failed because the path was taken can
// be run again once it is free, as the daemon restarts a failed source.
func TestEveSocketRunAgain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "eve.sock")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := NewEveSocket(EveConfig{Path: path, Loc: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan pipeline.Event, 1)
	if err := s.Run(t.Context(), out); err == nil || !strings.Contains(err.Error(), "exists and is not a socket") {
		t.Fatalf("first Run: %v", err)
	}
	os.Remove(path)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, out) }()
	waitFor(t, "the socket made by the second Run", func() bool {
		fi, err := os.Lstat(path)
		return err == nil && fi.Mode().Type() == os.ModeSocket
	})
	if err := suricataWrite(path, "unix", []string{`{"timestamp":"2025-11-08T22:00:00.000000+0000","event_type":"alert","src_ip":"203.0.113.5","src_port":1,"dest_ip":"192.0.2.10","dest_port":22,"proto":"TCP","alert":{"gid":1,"signature_id":1,"rev":1,"signature":"x","category":"y","severity":1}}`}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-out:
	case <-time.After(10 * time.Second):
		t.Fatal("no event from the second Run within 10 s")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestEveConfigJSON: what a reload compares of an eve_socket is its keys:
// the runtime fields the daemon sets (clock, logger, zone) neither fail
// the comparison nor make two equal entries differ.
func TestEveConfigJSON(t *testing.T) {
	a, err := json.Marshal(EveConfig{Path: "/run/suricata/eve.sock", Now: time.Now, Loc: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(EveConfig{Path: "/run/suricata/eve.sock"})
	if err != nil || string(a) != string(b) {
		t.Errorf("%s and %s (%v): an entry the daemon filled in compares unequal", a, b, err)
	}
}
