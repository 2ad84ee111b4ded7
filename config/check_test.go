package config

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/rules"
)

// TestCheckStartsNothing: Check reads a configuration that names a
// syslog listener, a NATS sink and a Kafka sink, and binds no port and
// connects to nothing: the listener's port is still free afterwards, and
// the NATS and Kafka "servers" (listeners of the test's own) are never
// dialed.
func TestCheckStartsNothing(t *testing.T) {
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	syslogAddr := free.Addr().String()
	free.Close()
	bus, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Close()
	p := filepath.Join(t.TempDir(), "c.yaml")
	data := "sources:\n  - syslog: {tcp: '" + syslogAddr + "'}\nsinks:\n  - nats: {url: 'nats://" + bus.Addr().String() + "'}\n" +
		"  - kafka: {brokers: ['" + bus.Addr().String() + "']}\n  - nftables: {table: check_test}\n"
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	loaded := false
	c, err := Check(p, "", func(paths []string, _ rules.Selection) error { loaded = len(paths) == 0; return nil })
	if err != nil || c.Enforcer || len(c.Daemon.Sinks) != 3 || !loaded {
		t.Fatalf("check: %v %+v loaded packs %v", err, c, loaded)
	}
	l, err := net.Listen("tcp", syslogAddr)
	if err != nil {
		t.Fatalf("the syslog port is held after check: %v", err)
	}
	l.Close()
	bus.(*net.TCPListener).SetDeadline(time.Now().Add(200 * time.Millisecond))
	if conn, err := bus.Accept(); err == nil {
		conn.Close()
		t.Fatal("check connected to the bus")
	}
}

// TestCheckFiles: what the daemon would refuse at start among the files
// the configuration names is reported by Check, at its position: a
// signing key others can read, an exec program that does not exist; a
// pack loader's errors join them.
func TestCheckFiles(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "sensor.nk")
	os.WriteFile(key, []byte("SUAKEY"), 0o644)
	p := filepath.Join(dir, "c.yaml")
	os.WriteFile(p, []byte("sign_key: "+key+"\nsources: [{files: [/x]}]\nsinks:\n  - exec: {ban: [/nonexistent/ipset, add]}\n"), 0o644)
	_, err := Check(p, "", func([]string, rules.Selection) error { return errors.New("p.yaml:1:1: a pack's problem") })
	want := []string{
		p + ":1:11: sign_key: signing key " + key + ": mode 0644 lets others read or write it; chmod 600 it",
		p + `:4:5: sinks[0].exec.ban[0]: "/nonexistent/ipset": no such program (or not executable)`,
		"p.yaml:1:1: a pack's problem",
	}
	if got := lines(err); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if _, err := Check(p, "firewall", nil); err == nil || !strings.Contains(err.Error(), `"firewall": want run or enforce`) {
		t.Errorf("a bad --as: %v", err)
	}
}

// TestCheckBusFiles: a bus section's credentials and certificates that
// cannot be read are reported, as the connection would refuse them at
// start; the enforcer's too.
func TestCheckBusFiles(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "c.yaml")
	os.WriteFile(p, []byte("sources: [{files: [/x]}]\nsinks:\n  - nats: {nkey: /nonexistent/fw.nk, tls: {ca: /nonexistent/ca.pem}}\n"), 0o644)
	_, err := Check(p, "", nil)
	want := p + ":3:5: sinks[0].nats.nkey: stat /nonexistent/fw.nk: no such file or directory\n" +
		p + ":3:5: sinks[0].nats.tls.ca: stat /nonexistent/ca.pem: no such file or directory"
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
	e := filepath.Join(dir, "e.yaml")
	os.WriteFile(e, []byte("kafka: {brokers: [k:9092], tls: {cert: /nonexistent/c.pem, key: /nonexistent/k.pem}}\npolicy: {origins: [{name: a, key: "+key1+"}]}\n"), 0o644)
	if _, err := Check(e, "", nil); err == nil || !strings.Contains(err.Error(), e+":1:1: kafka.tls.cert: stat /nonexistent/c.pem") {
		t.Errorf("enforcer: %v", err)
	}
}
