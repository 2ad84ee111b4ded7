package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestRunRefusesWorldWritablePacks: `stockade run` on a pack every user
// can write exits with code 2, a bad configuration.
func TestRunRefusesWorldWritablePacks(t *testing.T) {
	dir := t.TempDir()
	packs := filepath.Join(dir, "rules")
	os.Mkdir(packs, 0o755)
	src, err := os.ReadFile(filepath.Join("..", "..", "rules", "packs", "sshd.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	pack := filepath.Join(packs, "sshd.yaml")
	if err := os.WriteFile(pack, src, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(pack, 0o666)
	cfg := filepath.Join(dir, "stockade.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("state_dir: %s\nsocket: %s\norigin: test\nrules: [%s]\nsources:\n  - files: [%s]\nsinks:\n  - jsonl: %s\n",
		filepath.Join(dir, "state"), filepath.Join(dir, "s.sock"), packs, filepath.Join(dir, "auth.log"), filepath.Join(dir, "out.jsonl"))), 0o644)
	var ee *exitError
	if err := run(t.Context(), []string{"run", "--config", cfg}, io.Discard, io.Discard); !errors.As(err, &ee) || ee.code != 2 {
		t.Fatalf("stockade run on a world-writable pack: %v, want exit code 2", err)
	}
}
