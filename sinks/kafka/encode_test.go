package kafka

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/pipeline/sign"
)

// TestEncodeSignsMarshalBytes: the message a decision becomes carries
// json.Marshal's bytes (HTML-escaped, U+2028 escaped), which firewalls
// verify the signature over: encoding without reflection changed none.
func TestEncodeSignsMarshalBytes(t *testing.T) {
	seed, pub, err := sign.Generate()
	if err != nil {
		t.Fatal(err)
	}
	signer, err := sign.NewSigner(seed)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2025, 3, 1, 12, 0, 0, 5, time.FixedZone("CET", 3600))
	d := pipeline.Decision{ID: "0123456789abcdef0123456789abcdef", Action: pipeline.ActionBan,
		Target: pipeline.MustTarget("2001:db8::/64"), Scope: pipeline.ScopeRange, Rule: "web<>&", Pack: "web",
		Reason: "GET /<script>\u2028\xff", At: at, Duration: 600, Expires: at.Add(10 * time.Minute), Offense: 2,
		Origin: "sensor\t1", Source: "/var/log/nginx/access.log", Evidence: []string{"\"GET /?a=<b>&c\x01\""},
		Provenance: []pipeline.Provenance{{ID: "ab", Origin: "web2", Signer: pub}}, Simulated: true}
	want, err := json.Marshal(&d)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Encode(&d, signer)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.Data, want) {
		t.Fatalf("signed bytes\n got %s\nwant %s", m.Data, want)
	}
	if err := sign.Verify(m.Signer, want, m.Sig); err != nil {
		t.Fatalf("signature over json.Marshal's bytes: %v", err)
	}
	bad := d
	bad.Expires = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := Encode(&bad, signer); err == nil {
		t.Fatal("a decision json.Marshal refuses was encoded")
	}
}
