package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReplayHomeNet: with --home-net, a home host's outbound priority 2
// alerts (three DNS queries to a resolver outside) ban neither the host nor
// the resolver, while an exploit kit's landing page bans its server.
// Without it, the home host is banned.
func TestReplayHomeNet(t *testing.T) {
	dir := t.TempDir()
	eve := filepath.Join(dir, "eve.json")
	var b strings.Builder
	for i := range 3 {
		fmt.Fprintf(&b, `{"timestamp":"2025-11-08T22:0%d:00.000000+0000","flow_id":%d,"in_iface":"eth0","event_type":"alert","src_ip":"192.168.0.53","src_port":%d,"dest_ip":"198.51.100.53","dest_port":53,"proto":"UDP","alert":{"action":"allowed","gid":1,"signature_id":2027863,"rev":3,"signature":"ET INFO Observed DNS Query to .cloud TLD","category":"Potentially Bad Traffic","severity":2},"app_proto":"dns","direction":"to_server","flow":{"pkts_toserver":1,"pkts_toclient":0,"bytes_toserver":80,"bytes_toclient":0,"start":"2025-11-08T22:0%d:00.000000+0000","src_ip":"192.168.0.53","dest_ip":"198.51.100.53","src_port":%d,"dest_port":53}}`+"\n",
			i, 1000+i, 40000+i, i, 40000+i)
	}
	b.WriteString(`{"timestamp":"2025-11-08T22:05:00.000000+0000","flow_id":2000,"in_iface":"eth0","event_type":"alert","src_ip":"203.0.113.50","src_port":80,"dest_ip":"192.168.0.54","dest_port":49322,"proto":"TCP","alert":{"action":"allowed","gid":1,"signature_id":2019647,"rev":3,"signature":"ET CURRENT_EVENTS Nuclear EK Landing","category":"A Network Trojan was detected","severity":1},"app_proto":"http","direction":"to_client","flow":{"pkts_toserver":4,"pkts_toclient":9,"bytes_toserver":520,"bytes_toclient":12800,"start":"2025-11-08T22:04:59.000000+0000","src_ip":"192.168.0.54","dest_ip":"203.0.113.50","src_port":49322,"dest_port":80}}` + "\n")
	os.WriteFile(eve, []byte(b.String()), 0o644)
	targets := func(args ...string) []string {
		t.Helper()
		ds, summary, err := replay(t, append(args, eve)...)
		if err != nil {
			t.Fatalf("replay: %v\n%s", err, summary)
		}
		var out []string
		for _, d := range ds {
			out = append(out, d.Target.String()+" "+d.Rule)
		}
		return out
	}
	if got, want := strings.Join(targets("--home-net", "192.168.0.0/16"), ", "), "203.0.113.50 suricata-p1"; got != want {
		t.Errorf("with --home-net: bans %q, want %q", got, want)
	}
	if got, want := strings.Join(targets(), ", "), "192.168.0.53 suricata-p2, 203.0.113.50 suricata-p1"; got != want {
		t.Errorf("without --home-net: bans %q, want %q", got, want)
	}
}
