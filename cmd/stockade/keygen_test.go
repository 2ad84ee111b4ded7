package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nkeys"
	"github.com/stockade-ids/stockade/pipeline/sign"
)

// TestKeygenNATSUser: keygen makes keys NATS takes as users, and shows an
// older server key (N…) in the user form a NATS server's configuration
// needs.
func TestKeygenNATSUser(t *testing.T) {
	dir := t.TempDir()
	var out, errOut strings.Builder
	if err := run(t.Context(), []string{"keygen", "--out", filepath.Join(dir, "new.nk")}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if pub := strings.TrimSpace(out.String()); !nkeys.IsValidPublicUserKey(pub) {
		t.Fatalf("keygen printed %q, want a user key", pub)
	}
	old, _ := nkeys.CreateServer()
	oldSeed, _ := old.Seed()
	oldPub, _ := old.PublicKey()
	os.WriteFile(filepath.Join(dir, "old.nk"), oldSeed, 0o600)
	out.Reset()
	if err := run(t.Context(), []string{"keygen", "--nats-user", filepath.Join(dir, "old.nk")}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	want, _ := sign.UserPublicKey(oldPub)
	if got := strings.TrimSpace(out.String()); got != want || !strings.HasPrefix(got, "U") {
		t.Fatalf("keygen --nats-user printed %q, want %q", got, want)
	}
}
