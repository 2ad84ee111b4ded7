package sign

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nkeys"
)

func TestSignVerify(t *testing.T) {
	seed, pub, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSigner(seed)
	if err != nil {
		t.Fatal(err)
	}
	if s.PublicKey() != pub || !ValidPublicKey(pub) {
		t.Fatalf("public key %q, want %q", s.PublicKey(), pub)
	}
	payload := []byte(`{"action":"ban","target":"203.0.113.7","origin":"web1"}`)
	sig, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(pub, payload, sig); err != nil {
		t.Fatalf("a good signature: %v", err)
	}
	_, other, _ := Generate()
	for _, tc := range []struct {
		name         string
		pub, payload string
		sig          string
		want         error
	}{
		{"altered target", pub, `{"action":"ban","target":"203.0.113.8","origin":"web1"}`, sig, ErrForged},
		{"turned into an unban", pub, `{"action":"unban","target":"203.0.113.7","origin":"web1"}`, sig, ErrForged},
		{"another sensor's key", other, string(payload), sig, ErrForged},
		{"no signature", pub, string(payload), "", ErrUnsigned},
		{"no key", "", string(payload), sig, ErrUnsigned},
		{"garbage key", "NOTAKEY", string(payload), sig, ErrBadKey},
		{"a seed instead of a public key", string(seed), string(payload), sig, ErrBadKey},
		{"garbage signature", pub, string(payload), "!!!", ErrForged},
		{"truncated signature", pub, string(payload), sig[:20], ErrForged},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := Verify(tc.pub, []byte(tc.payload), tc.sig); !errors.Is(err, tc.want) {
				t.Fatalf("Verify: %v, want %v", err, tc.want)
			}
		})
	}
}

func TestLoadSignerRefusesReadableSeed(t *testing.T) {
	seed, pub, _ := Generate()
	p := filepath.Join(t.TempDir(), "sensor.nk")
	if err := os.WriteFile(p, append(seed, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSigner(p); err == nil {
		t.Fatal("a world-readable seed was accepted")
	}
	os.Chmod(p, 0o600)
	s, err := LoadSigner(p)
	if err != nil {
		t.Fatal(err)
	}
	if s.PublicKey() != pub {
		t.Fatalf("public key %q, want %q", s.PublicKey(), pub)
	}
	if _, err := NewSigner([]byte("SNOTASEED")); err == nil {
		t.Fatal("a bad seed was accepted")
	}
}

// TestUserKeys: new keys are NATS user keys; a server key made by an older
// `stockade keygen` still signs, and is the same key pair under the user
// prefix, so it can identify its sensor to NATS too.
func TestUserKeys(t *testing.T) {
	seed, pub, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(seed), "SU") || !nkeys.IsValidPublicUserKey(pub) {
		t.Fatalf("Generate made %.2s…/%.1s…, want a user key (SU…/U…)", seed, pub)
	}
	if u, err := UserPublicKey(pub); err != nil || u != pub {
		t.Fatalf("UserPublicKey(user key) = %q, %v; want it unchanged", u, err)
	}

	old, err := nkeys.CreateServer()
	if err != nil {
		t.Fatal(err)
	}
	oldSeed, _ := old.Seed()
	oldPub, _ := old.PublicKey()
	s, err := NewSigner(oldSeed)
	if err != nil {
		t.Fatal(err)
	}
	payload := []byte(`{"target":"203.0.113.7"}`)
	sig, _ := s.Sign(payload)
	if err := Verify(oldPub, payload, sig); err != nil {
		t.Fatalf("an old server key no longer signs: %v", err)
	}
	kp, err := UserSeed(oldSeed)
	if err != nil {
		t.Fatal(err)
	}
	userPub, _ := kp.PublicKey()
	if want, err := UserPublicKey(oldPub); err != nil || userPub != want || !nkeys.IsValidPublicUserKey(userPub) {
		t.Fatalf("UserSeed's public key %q, UserPublicKey %q (%v): want the same user key", userPub, want, err)
	}
	raw, _ := kp.Sign(payload)
	if old.Verify(payload, raw) != nil {
		t.Fatal("the user form of an old key is not the same key pair")
	}
	acct, _ := nkeys.CreateAccount()
	apub, _ := acct.PublicKey()
	if _, err := UserPublicKey(apub); err == nil {
		t.Fatal("an account key was taken for a user key")
	}
}

func BenchmarkVerify(b *testing.B) {
	seed, pub, _ := Generate()
	s, _ := NewSigner(seed)
	payload := []byte(`{"id":"4f0c5e2a9d3b7c1e8f6a2b4c6d8e0f12","action":"ban","target":"203.0.113.7","scope":"ip","rule":"sshd"}`)
	sig, _ := s.Sign(payload)
	b.ReportAllocs()
	for b.Loop() {
		if err := Verify(pub, payload, sig); err != nil {
			b.Fatal(err)
		}
	}
}
