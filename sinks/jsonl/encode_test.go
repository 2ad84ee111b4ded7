package jsonl

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

// TestWriteEncoderBytes: the sink writes what a json.Encoder with
// SetEscapeHTML(false) wrote before it stopped using one (<, > and &
// as they are, U+2028 and control bytes escaped, one decision a line),
// and a decision json refuses stops the batch with nothing of it written.
func TestWriteEncoderBytes(t *testing.T) {
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	ds := []pipeline.Decision{
		{ID: "a", Action: pipeline.ActionBan, Target: pipeline.MustTarget("203.0.113.7"), Scope: pipeline.ScopeIP,
			Rule: "web", Reason: "GET /<script>&x\u2028\n\xff", At: at, Expires: at.Add(time.Hour), Duration: 3600,
			Evidence: []string{"a\"b\\c\x00"}},
		{ID: "b", Action: pipeline.ActionUnban, Target: pipeline.MustTarget("2001:db8::/64"), Scope: pipeline.ScopeRange,
			At: at, Expires: at, Simulated: true, Provenance: []pipeline.Provenance{{ID: "p", Origin: "<o>"}}},
	}
	var want bytes.Buffer
	enc := json.NewEncoder(&want)
	enc.SetEscapeHTML(false)
	for i := range ds {
		if err := enc.Encode(&ds[i]); err != nil {
			t.Fatal(err)
		}
	}
	var got bytes.Buffer
	s := New(&got)
	if err := s.Write(context.Background(), ds); err != nil {
		t.Fatal(err)
	}
	if got.String() != want.String() {
		t.Fatalf("got\n%s\nwant\n%s", got.String(), want.String())
	}
	bad := ds[0]
	bad.At = time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)
	got.Reset()
	err := s.Write(context.Background(), []pipeline.Decision{ds[1], bad, ds[0]})
	if err == nil || !strings.Contains(err.Error(), "year outside") {
		t.Fatalf("a decision json refuses: err %v", err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(got.String(), "\n"); n != 1 || !strings.Contains(got.String(), `"id":"b"`) {
		t.Fatalf("after the refused decision, want the one before it only:\n%s", got.String())
	}
}
