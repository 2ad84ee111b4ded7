package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/sinks/jsonl"
	"github.com/stockade-ids/stockade/sources/tail"

	"github.com/stockade-ids/stockade/enforce"
	"github.com/stockade-ids/stockade/internal/testkit"
)

// eveAlert is an eve.json alert of Suricata 7, stamped now.
func eveAlert(src string, sport int, dst string, dport int, sig, class, direction string) string {
	client, server, cport, sport2 := src, dst, sport, dport
	if direction == "to_client" {
		client, server, cport, sport2 = dst, src, dport, sport
	}
	now := time.Now().UTC().Format("2006-01-02T15:04:05.000000-0700")
	return fmt.Sprintf(`{"timestamp":%q,"flow_id":%d,"in_iface":"eth0","event_type":"alert","src_ip":%q,"src_port":%d,"dest_ip":%q,"dest_port":%d,"proto":"TCP","pkt_src":"wire/pcap","alert":{"action":"allowed","gid":1,"signature_id":2019647,"rev":3,"signature":%q,"category":%q,"severity":1},"direction":%q,"flow":{"pkts_toserver":4,"pkts_toclient":6,"bytes_toserver":500,"bytes_toclient":9000,"start":%q,"src_ip":%q,"dest_ip":%q,"src_port":%d,"dest_port":%d}}`+"\n",
		now, time.Now().UnixNano()&0xffffffffffff, src, sport, dst, dport, sig, class, direction, now, client, server, cport, sport2)
}

// TestDaemonHomeNet: a daemon whose suricata_yaml names the home net bans
// the server of an exploit kit landing, never its home client, and nobody
// for an alert between two home hosts; its sshd rule still reads as before.
func TestDaemonHomeNet(t *testing.T) {
	dir := t.TempDir()
	eve, out, packs := filepath.Join(dir, "eve.json"), filepath.Join(dir, "decisions.jsonl"), filepath.Join(dir, "packs")
	os.MkdirAll(packs, 0o755)
	pack, err := os.ReadFile(filepath.Join("..", "rules", "packs", "suricata.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(packs, "suricata.yaml"), pack, 0o644)
	os.WriteFile(eve, []byte(
		eveAlert("192.168.0.53", 50300, "192.168.0.10", 445, "ET EXPLOIT Possible ETERNALBLUE MS17-010 Echo Request", "Attempted Administrator Privilege Gain", "to_server")+
			eveAlert("203.0.113.50", 80, "192.168.0.54", 49322, "ET CURRENT_EVENTS Nuclear EK Landing", "A Network Trojan was detected", "to_client")), 0o644)
	cfg := &Config{StateDir: filepath.Join(dir, "state"), Socket: filepath.Join(dir, "ctl.sock"), Origin: "test", Rules: []string{packs},
		Sources:      []SourceConfig{{Files: &tail.FilesConfig{Files: []string{eve}, Start: "beginning"}}},
		Sinks:        []SinkConfig{{JSONL: &jsonl.Config{Path: out}}},
		SuricataYAML: filepath.Join("..", "sources", "suricata", "testdata", "suricata.yaml")}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	d, err := New(*cfg, Deps{Log: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	h := &daemonHarness{t: t, out: out}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runDaemon(ctx, d) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon: %v", err)
		}
	}()
	// The alerts are read in order: once the second has banned, the first
	// was judged.
	h.waitFor("the ban of the landing page's server", func() bool { return h.bans("203.0.113.50") == 1 })
	for _, d := range h.decisions() {
		if strings.HasPrefix(d.Target.String(), "192.168.") {
			t.Errorf("home host banned: %+v", d)
		}
	}
}

// TestHomeNetConfig: a bad home_net or suricata_yaml is refused when the
// configuration is read, naming what is wrong.
func TestHomeNetConfig(t *testing.T) {
	base := "state_dir: /tmp/x\nsources:\n  - files: [/var/log/suricata/eve.json]\nsinks:\n  - jsonl: /tmp/x.jsonl\n"
	for _, c := range []struct{ extra, want string }{
		{"home_net: [10.0.0.0/33]\n", `home_net: "10.0.0.0/33": not an address or CIDR`},
		{"home_net: [any]\n", "holds every address"},
		{"suricata_yaml: /nonexistent/suricata.yaml\n", "/nonexistent/suricata.yaml"},
	} {
		c2, err := parseConfig("stockade.yaml", []byte(base+c.extra))
		if err == nil {
			err = c2.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.extra, err, c.want)
		}
	}
	c, err := parseConfig("stockade.yaml", []byte(base+"home_net: [\"192.168.0.0/16\", \"[10.0.0.0/8,!10.9.0.0/16]\"]\n"))
	if err == nil {
		err = c.Validate()
	}
	if err != nil {
		t.Fatalf("a good home_net refused: %v", err)
	}
	enf := "nats: {url: nats://127.0.0.1:4222}\nhome_net: [192.168.0.0/33]\n"
	if _, err := parseEnforceConfig("enforce.yaml", []byte(enf)); err == nil || !strings.Contains(err.Error(), "home_net") {
		t.Errorf("enforce: a bad home_net: error %v", err)
	}
}

// TestEnforceHomeNet: a firewall's home_net is never banned, whatever a
// sensor decides, and a reload changes it.
func TestEnforceHomeNet(t *testing.T) {
	f := newFleet(t, "nats", 1)
	ns := f.lab.Hosts[0]
	f.startSensor()
	path := filepath.Join(f.h.dir, "enforce.yaml")
	write := func(home string) {
		os.WriteFile(path, []byte(fmt.Sprintf(`state_dir: %s
name: fw0
nats: {url: %q, stream: STOCKADE, timeout: 2s}
home_net: [%s]
policy:
  origins: [{name: web1, key: %s}]
`, filepath.Join(f.h.dir, "fw0"), f.natsSrv.ClientURL(), home, f.pub)), 0o644)
	}
	write("203.0.113.64/30")
	cfg, err := LoadEnforceConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg.NFTables.NetNS = int(ns.Fd)
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *enforce.Firewall, 1)
	done := make(chan error, 1)
	go func() { done <- runEnforcer(ctx, cfg, testkit.Log(t), ready) }()
	var e *enforce.Firewall
	select {
	case e = <-ready:
	case err := <-done:
		t.Fatalf("firewall: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("the firewall did not start within 15s")
	}
	t.Cleanup(sync.OnceFunc(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("firewall: %v", err)
		}
	}))
	f.h.fail("203.0.113.65", 5)
	f.h.fail("203.0.113.70", 5)
	// The sensor bans both, in this order, on one stream: once the second
	// is in the kernel the firewall has judged the first, and refused it.
	waitSet(t, ns, "banned4", []string{"203.0.113.70/32"}, "the ban outside the home net only")

	write("203.0.113.68/30")
	if err := e.Reload(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	waitSet(t, ns, "banned4", nil, "after the reload made 203.0.113.70 home")
}
