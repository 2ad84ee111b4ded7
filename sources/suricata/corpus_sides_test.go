package suricata

import (
	"encoding/json"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stockade-ids/stockade/internal/testcorpus"
	"github.com/stockade-ids/stockade/pipeline"
)

// TestCorpusSides measures, over every eve.json alert of priority 1 in the
// shared corpus (real captures written by others, read in place), how many
// ban a home address (Suricata's default HOME_NET, the private ranges) or
// the client of a client-side attack: with the side heuristic main had
// (alert.source, direction, ports) and with the side choice and home net
// now. Now must be zero; the figures are logged.
func TestCorpusSides(t *testing.T) {
	root := testcorpus.Path(t, ".")
	home, err := ParseHomeNet("[192.168.0.0/16,10.0.0.0/8,172.16.0.0/12]")
	if err != nil {
		t.Fatal(err)
	}
	p := NewEve(nil)
	p.SetHomeNet(home)
	var alerts, p1, beforeHome, beforeVictim, afterHome, afterVictim, spoofable int
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if info, err := d.Info(); err != nil || info.Size() > 64<<20 {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, line := range strings.Split(string(data), "\n") {
			if !strings.Contains(line, `"alert"`) || !strings.HasPrefix(strings.TrimSpace(line), "{") {
				continue
			}
			var ev pipeline.Event
			if p.Parse([]byte(line), &ev) != nil {
				continue
			}
			alerts++
			if ev.Priority != 1 {
				continue
			}
			p1++
			s, before := mainSide(t, line)
			victim := netip.Addr{} // the client of a client-side attack
			if s.clientSide() {
				victim = s.src
				if srcIsServer, _ := s.srcIsServer(); srcIsServer {
					victim = s.dst
				}
			}
			if home.Contains(before) {
				beforeHome++
			}
			if victim.IsValid() && before == victim {
				beforeVictim++
			}
			if ev.Addr.IsValid() && home.Contains(ev.Addr) {
				afterHome++
				t.Errorf("%s: home address %s banned: %s", path, ev.Addr, line)
			}
			if victim.IsValid() && ev.Addr == victim {
				afterVictim++
				t.Errorf("%s: the client of a client-side attack %s banned: %s", path, ev.Addr, line)
			}
			if ev.Spoofable {
				spoofable++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if p1 == 0 {
		t.Skip("no priority 1 eve alert in the corpus")
	}
	t.Logf("corpus: %d eve alerts, %d of priority 1", alerts, p1)
	t.Logf("main: %d banned a home address, %d the client of a client-side attack", beforeHome, beforeVictim)
	t.Logf("now:  %d banned a home address, %d the client of a client-side attack; %d spoofable (ban only as priority 2)", afterHome, afterVictim, spoofable)
}

// mainSide is the side main chose (sources/suricata/direction.go before
// issue 15): alert.source, then eve's direction, then the ports. It also
// returns the alert's sides as the parser sees them.
func mainSide(t *testing.T, line string) (alertSides, netip.Addr) {
	t.Helper()
	var r struct {
		SrcIP     string `json:"src_ip"`
		DestIP    string `json:"dest_ip"`
		SrcPort   int    `json:"src_port"`
		DestPort  int    `json:"dest_port"`
		Proto     string `json:"proto"`
		Direction string `json:"direction"`
		Alert     struct {
			Signature string `json:"signature"`
			Category  string `json:"category"`
			Source    struct {
				IP string `json:"ip"`
			} `json:"source"`
			Metadata struct {
				AttackTarget []string `json:"attack_target"`
			} `json:"metadata"`
		} `json:"alert"`
		Flow struct {
			SrcIP string `json:"src_ip"`
		} `json:"flow"`
	}
	if err := json.Unmarshal([]byte(line), &r); err != nil {
		t.Fatalf("%v: %s", err, line)
	}
	_, proto, _ := parseProto([]byte(r.Proto))
	s := alertSides{proto: proto, sport: r.SrcPort, dport: r.DestPort, direction: r.Direction,
		signature: r.Alert.Signature, class: r.Alert.Category}
	s.src, _ = pipeline.ParseAddr(r.SrcIP)
	s.dst, _ = pipeline.ParseAddr(r.DestIP)
	s.client, _ = pipeline.ParseAddr(r.Flow.SrcIP)
	for _, v := range r.Alert.Metadata.AttackTarget {
		s.attackTarget = s.attackTarget.add(v)
	}
	if a, ok := pipeline.ParseAddr(r.Alert.Source.IP); ok {
		return s, a
	}
	switch r.Direction {
	case "to_client":
		return s, s.dst
	case "to_server":
		return s, s.src
	}
	if hasPorts(proto) && isServicePort(s.sport) && !isServicePort(s.dport) && s.dport >= 1024 {
		return s, s.dst
	}
	return s, s.src
}
