package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDeployExamples: every configuration in deploy/ loads with the
// loader its command uses (keys.sh's placeholders filled in).
func TestDeployExamples(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "deploy", "*.yaml"))
	more, _ := filepath.Glob(filepath.Join("..", "deploy", "*", "*.yaml"))
	n := 0
	for _, f := range append(files, more...) {
		if filepath.Base(f) == "compose.yaml" || filepath.Base(filepath.Dir(f)) == "prometheus" { // not stockade's
			continue
		}
		n++
		t.Run(f, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			data = []byte(strings.NewReplacer("SENSOR_PUBLIC_KEY", key1, "CORRELATOR_PUBLIC_KEY", key1).Replace(string(data)))
			enf := strings.HasPrefix(filepath.Base(f), "enforce")
			if IsEnforcer(data) != enf {
				t.Errorf("detected as an enforcer's: %v", !enf)
			}
			if enf {
				_, err = ParseEnforcer(f, data)
			} else {
				_, err = Parse(f, data)
			}
			if err != nil {
				t.Fatal(err)
			}
		})
	}
	if n < 8 {
		t.Fatalf("only %d configurations in deploy/", n)
	}
}
