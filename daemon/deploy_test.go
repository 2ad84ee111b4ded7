package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stockade-ids/stockade/pipeline/sign"
)

// TestDeployConfigs loads every configuration shipped in deploy/ with the
// loaders the commands use: a key renamed or mistyped in the code, or in
// the documentation, fails here rather than on a user's machine.
func TestDeployConfigs(t *testing.T) {
	_, pub, err := sign.Generate()
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join("..", "deploy", "*.yaml"))
	more, _ := filepath.Glob(filepath.Join("..", "deploy", "*", "*.yaml"))
	files = append(files, more...)
	n := 0
	for _, f := range files {
		base := filepath.Base(f)
		if base == "compose.yaml" || filepath.Base(filepath.Dir(f)) == "prometheus" { // not stockade's
			continue
		}
		t.Run(strings.TrimPrefix(f, ".."+"/"), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			// Placeholders for keys that keys.sh fills in.
			s := strings.NewReplacer("SENSOR_PUBLIC_KEY", pub, "CORRELATOR_PUBLIC_KEY", pub).Replace(string(data))
			p := filepath.Join(t.TempDir(), base)
			os.WriteFile(p, []byte(s), 0o644)
			if strings.HasPrefix(base, "enforce") {
				if _, err := LoadEnforceConfig(p); err != nil {
					t.Fatal(err)
				}
			} else if _, err := LoadConfig(p); err != nil {
				t.Fatal(err)
			}
		})
		n++
	}
	if n < 7 {
		t.Fatalf("only %d configurations found in deploy/", n)
	}
}
