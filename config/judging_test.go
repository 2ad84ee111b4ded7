package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestLoadJudging: what replay, explain and test take from the daemon's
// configuration, with the daemon's defaults (origin, max_windows -1 for
// no bound, unbans from an exec sink's unban command); a bad file is
// refused at its position.
func TestLoadJudging(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "stockade.yaml")
	body := base + `rules: [default, /etc/stockade/packs]
packs: {enable: [postfix-helo]}
allow: [192.0.2.0/24]
fleet: [198.51.100.7]
tz: Europe/Paris
home_net: [10.0.0.0/8]
max_windows: -1
sinks:
  - exec: {ban: [/bin/true], unban: [/bin/true]}
`
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	j, err := LoadJudging(path)
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	if !slices.Equal(j.Rules, []string{"default", "/etc/stockade/packs"}) || len(j.Packs.Enable) != 1 || j.Packs.Enable[0].Value != "postfix-helo" ||
		!slices.Equal(j.Protected, []string{"192.0.2.0/24", "198.51.100.7"}) || j.TZ != "Europe/Paris" ||
		!slices.Equal(j.HomeNet, []string{"10.0.0.0/8"}) || j.Origin != host || j.MaxWindows != 0 || !j.Unbans {
		t.Errorf("LoadJudging: %+v", j)
	}
	if err := os.WriteFile(path, []byte(base+"tz: Mars/Olympus\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadJudging(path); err == nil || !strings.Contains(err.Error(), path+":3:") {
		t.Errorf("LoadJudging of a bad tz: %v, want its position", err)
	}
}
