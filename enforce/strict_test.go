package enforce

import (
	"testing"
	"time"
)

// TestStrictDecoding: a signed decision means what a strict reader reads
// in it. Go's encoding/json matches keys regardless of case and keeps the
// last of duplicate keys, and a stream decoder stops after the first
// object: {"target":"A","Target":"B"} was a ban of B to the enforcer while
// any other reader (a log, an auditor, jq) saw A. Such messages are refused
// as malformed however well signed; unknown fields are not (fields are
// only ever added to the contract).
func TestStrictDecoding(t *testing.T) {
	web1 := newSensor(t, "web1")
	exp := now.Add(time.Hour).Format(time.RFC3339)
	head := `{"action":"ban","origin":"web1","expires":"` + exp + `",`
	for _, tc := range []struct {
		name, data string
		want       Reason
	}{
		{"normal", head + `"target":"203.0.113.7"}`, Accepted},
		{"unknown field", head + `"target":"203.0.113.8","newer_field":{"Target":"203.0.113.9"}}`, Accepted},
		{"case variant", head + `"target":"203.0.113.10","Target":"203.0.113.11"}`, RefusedMalformed},
		{"case variant alone", head + `"TARGET":"203.0.113.12"}`, RefusedMalformed},
		{"unicode fold", head + `"target":"203.0.113.13","ſcope":"range"}`, RefusedMalformed},
		{"escaped case variant", head + `"target":"203.0.113.14","\u0054arget":"203.0.113.15"}`, RefusedMalformed},
		{"duplicate key", head + `"target":"203.0.113.16","target":"203.0.113.17"}`, RefusedMalformed},
		{"escaped duplicate", head + `"target":"203.0.113.18","t\u0061rget":"203.0.113.19"}`, RefusedMalformed},
		{"trailing object", head + `"target":"203.0.113.20"}{"action":"unban"}`, RefusedMalformed},
		{"trailing garbage", head + `"target":"203.0.113.21"} x`, RefusedMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnforcer(t, Policy{Origins: []Origin{{Name: "web1", Key: web1.signer.PublicKey()}}}, &recorder{})
			sig, err := web1.signer.Sign([]byte(tc.data))
			if err != nil {
				t.Fatal(err)
			}
			if r := judge(t, e, []byte(tc.data), web1.signer.PublicKey(), sig); r != tc.want {
				t.Fatalf("%s: %s, want %s", tc.data, r, tc.want)
			}
		})
	}
}
