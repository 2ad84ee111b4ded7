package main

import (
	"fmt"
	"strings"

	"github.com/stockade-ids/stockade/sources/suricata"
)

// homeNet is the network a Suricata sensor protects: the home_net entries
// (CIDRs, or Suricata's address syntax) and the HOME_NET of a suricata.yaml,
// both when both are given. No address in it is banned by a Suricata alert;
// other rules (sshd, nginx) still ban a home host that attacks them.
func homeNet(what string, entries []string, suricataYAML string) (suricata.HomeNet, error) {
	var h suricata.HomeNet
	if len(entries) > 0 {
		var err error
		if h, err = suricata.ParseHomeNet(strings.Join(entries, ",")); err != nil {
			return h, fmt.Errorf("%s: %w", what, err)
		}
	}
	if suricataYAML != "" {
		y, err := suricata.LoadHomeNet(suricataYAML)
		if err != nil {
			return h, err
		}
		h = h.Union(y)
	}
	return h, nil
}
