// Package sign seals decisions for the bus: a sensor signs the exact bytes
// of each decision it publishes with an ed25519 key (an nkey, as NATS uses
// for its own identities), and a firewall that enforces them verifies the
// signature against the key it trusts for the decision's origin. Neither
// the bus nor anyone who can publish on it can then forge or alter a
// decision.
//
// The signature travels beside the payload, in message headers (NATS
// headers, Kafka record headers), so the payload stays the decision's JSON
// contract, byte for byte.
package sign

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nkeys"
)

// Header names on NATS messages and Kafka records.
const (
	HeaderKey = "Stockade-Signer"    // the signer's public nkey
	HeaderSig = "Stockade-Signature" // base64url (unpadded) of the ed25519 signature
)

// Errors Verify returns, for counting rejections by reason.
var (
	ErrUnsigned = errors.New("unsigned")
	ErrBadKey   = errors.New("malformed public key")
	ErrForged   = errors.New("signature does not verify")
)

// Signer holds a sensor's private key.
type Signer struct {
	kp  nkeys.KeyPair
	pub string
}

// NewSigner takes an nkey seed ("SN…", "SU…", …).
func NewSigner(seed []byte) (*Signer, error) {
	kp, err := nkeys.FromSeed(bytes.TrimSpace(seed))
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	pub, err := kp.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	return &Signer{kp: kp, pub: pub}, nil
}

// LoadSigner reads a seed file, refusing one that others than its owner
// can read or write: a seed anyone on the host can read lets them sign
// bans for every firewall that trusts this sensor.
func LoadSigner(path string) (*Signer, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("signing key %s: mode %#o lets others read or write it; chmod 600 it", path, fi.Mode().Perm())
	}
	seed, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	s, err := NewSigner(seed)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	return s, nil
}

// Generate makes a new key pair and returns its seed (keep it secret, mode
// 0600) and its public key (give it to the firewalls, and to the NATS
// server that lists this sensor).
//
// It is a NATS user key (seed "SU…", public key "U…"), so one key both
// signs a sensor's decisions and identifies the sensor to NATS, which
// accepts only user keys as users. Keys made before were server keys
// ("SN…", "N…"); they sign as well as ever, and UserPublicKey and UserSeed
// turn them into the same key pair under the user prefix.
func Generate() (seed []byte, public string, err error) {
	kp, err := nkeys.CreatePair(nkeys.PrefixByteUser)
	if err != nil {
		return nil, "", err
	}
	seed, err = kp.Seed()
	if err != nil {
		return nil, "", err
	}
	public, err = kp.PublicKey()
	return seed, public, err
}

// PublicKey is what firewalls configure to trust this signer.
func (s *Signer) PublicKey() string { return s.pub }

// Sign returns the signature of payload, encoded for a header.
func (s *Signer) Sign(payload []byte) (string, error) {
	sig, err := s.kp.Sign(payload)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(sig), nil
}

// Verify checks sig over payload against the public key pub.
func Verify(pub string, payload []byte, sig string) error {
	if pub == "" || sig == "" {
		return ErrUnsigned
	}
	kp, err := nkeys.FromPublicKey(pub)
	if err != nil {
		return ErrBadKey
	}
	raw, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return ErrForged
	}
	if kp.Verify(payload, raw) != nil {
		return ErrForged
	}
	return nil
}

// UserPublicKey is pub as a NATS user's public key: a user key as it is,
// a server key (what `stockade keygen` made before) re-encoded under the
// user prefix. The ed25519 key is the same, so the sensor holding its seed
// proves it to the NATS server as it proves its decisions to firewalls.
func UserPublicKey(pub string) (string, error) {
	if nkeys.IsValidPublicUserKey(pub) {
		return pub, nil
	}
	if !nkeys.IsValidPublicServerKey(pub) {
		return "", fmt.Errorf("%q is not a public user (U…) or server (N…) nkey", pub)
	}
	raw, err := nkeys.Decode(nkeys.PrefixByteServer, []byte(pub))
	if err != nil {
		return "", err
	}
	u, err := nkeys.Encode(nkeys.PrefixByteUser, raw)
	return string(u), err
}

// UserSeed is seed as a NATS user's seed, re-encoded like UserPublicKey
// when it is a server seed.
func UserSeed(seed []byte) (nkeys.KeyPair, error) {
	seed = bytes.TrimSpace(seed)
	prefix, raw, err := nkeys.DecodeSeed(seed)
	if err != nil {
		return nil, err
	}
	switch prefix {
	case nkeys.PrefixByteUser:
		return nkeys.FromSeed(seed)
	case nkeys.PrefixByteServer:
		u, err := nkeys.EncodeSeed(nkeys.PrefixByteUser, raw)
		if err != nil {
			return nil, err
		}
		return nkeys.FromSeed(u)
	}
	return nil, errors.New("not a user (SU…) or server (SN…) seed")
}

// ValidPublicKey reports whether pub is a public nkey (for configuration
// checks).
func ValidPublicKey(pub string) bool {
	_, err := nkeys.FromPublicKey(pub)
	return err == nil
}

// Each runs f(0) … f(n-1) on every core: signing or verifying a batch of
// decisions is CPU-bound, tens of microseconds each. Small batches run in
// the caller's goroutine.
func Each(n int, f func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n/8)
	if workers <= 1 {
		for i := range n {
			f(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				f(i)
			}
		})
	}
	wg.Wait()
}
