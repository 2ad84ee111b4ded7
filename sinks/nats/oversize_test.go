package nats

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stockade-ids/stockade/internal/testkit"
	"github.com/stockade-ids/stockade/internal/testservers"
	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/pipeline/sign"
)

// oversize makes d larger than a NATS server takes by default (1 MB): a
// rule keeping 100 lines of evidence (the most a pack may ask) of an
// attacker who wrote them full of control bytes, each escaped as six.
func oversize(d *pipeline.Decision) {
	d.Evidence = make([]string, 100)
	for i := range d.Evidence {
		d.Evidence[i] = fmt.Sprintf("%03d", i) + strings.Repeat("\x01", 2045)
	}
}

// fitted checks that got is want with the last of want's evidence lines,
// fewer than all and at least one.
func fitted(t *testing.T, got, want *pipeline.Decision) {
	t.Helper()
	n := len(got.Evidence)
	if got.ID != want.ID || got.Target != want.Target || !got.Expires.Equal(want.Expires) || got.Reason != want.Reason {
		t.Fatalf("decision %s arrived as %s (%s until %v)", want.ID, got.ID, got.Target, got.Expires)
	}
	if n == 0 || n >= len(want.Evidence) || !slices.Equal(got.Evidence, want.Evidence[len(want.Evidence)-n:]) {
		t.Fatalf("decision %s arrived with %d lines of evidence, want the last ones that fit", want.ID, n)
	}
}

// TestOversizeDecisionDoesNotBlock: a decision larger than the server's
// max_payload must not hold up the ones behind it. Before, the server
// refused it at every try and the queue retried it forever: no ban
// reached any firewall again, even after a restart (the queue is on
// disk). It is now sent with as much of its evidence as fits.
func TestOversizeDecisionDoesNotBlock(t *testing.T) {
	url, sub, msgs := coreServer(t)
	s := openSink(t, testConfig(t, url), t.TempDir())
	ds := testkit.Decisions(0, 3)
	oversize(&ds[1])
	if err := s.Write(t.Context(), ds); err != nil {
		t.Fatal(err)
	}
	// Core NATS: a batch sent again after a failure repeats the ones
	// before; the ids tell the copies.
	var got []pipeline.Decision
	deadline := time.After(10 * time.Second)
	for len(got) < len(ds) {
		select {
		case m := <-msgs:
			var d pipeline.Decision
			if err := json.Unmarshal(m.Data, &d); err != nil {
				t.Fatal(err)
			}
			if int64(len(m.Data)) > sub.MaxPayload() {
				t.Fatalf("a message of %d bytes", len(m.Data))
			}
			if len(got) == 0 || got[len(got)-1].ID != d.ID {
				got = append(got, d)
			}
		case <-deadline:
			t.Fatalf("in 10 s, %d of 3 decisions arrived (%d waiting, %d failures)", len(got), s.Depth(), s.Failures())
		}
	}
	for i := range ds {
		if got[i].ID != ds[i].ID {
			t.Fatalf("decision %d arrived as %s", i, got[i].ID)
		}
	}
	fitted(t, &got[1], &ds[1])
	testkit.WaitFor(t, "the acks", func() bool { return s.Depth() == 0 && s.Delivered() == 3 && s.Dropped() == 0 })
}

// TestQueuedBeforeALowerMaxPayload: decisions queued while the server was
// away, then served with a max_payload of 64 KB, go out encoded again
// with what fits of their evidence; one too large even without evidence
// (a reason of 100 KB) is dropped, logged and counted, and the ones
// behind it are delivered, in order, on a JetStream stream. What is
// encoded again is signed again, over the bytes sent.
func TestQueuedBeforeALowerMaxPayload(t *testing.T) {
	url, opts := stoppedServer(t)
	cfg := testConfig(t, url)
	cfg.Stream = "STOCKADE"
	seed, pub, _ := sign.Generate()
	cfg.Signer, _ = sign.NewSigner(seed)
	s := openSink(t, cfg, t.TempDir())
	ds := testkit.Decisions(0, 5)
	for i := range 40 {
		ds[1].Evidence = append(ds[1].Evidence, fmt.Sprintf("%03d", i)+strings.Repeat("\x01", 2045))
	}
	ds[3].Reason = strings.Repeat("r", 100<<10)
	if err := s.Write(t.Context(), ds); err != nil {
		t.Fatal(err)
	}
	if s.Depth() != 5 {
		t.Fatalf("%d queued, want 5", s.Depth())
	}

	opts.MaxPayload = 64 << 10
	testservers.RunNATS(t, opts)
	testkit.WaitFor(t, "the backlog", func() bool { return s.Depth() == 0 })
	if got := streamIDs(t, url, "STOCKADE"); fmt.Sprint(got) != "[0 1 2 4]" {
		t.Fatalf("stream holds %v, want 0 1 2 4", got)
	}
	if s.Delivered() != 4 || s.Dropped() != 1 {
		t.Fatalf("delivered %d, dropped %d; want 4 and 1", s.Delivered(), s.Dropped())
	}
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := nc.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	m, err := js.GetMsg("STOCKADE", 2)
	if err != nil {
		t.Fatal(err)
	}
	var d pipeline.Decision
	if err := json.Unmarshal(m.Data, &d); err != nil {
		t.Fatal(err)
	}
	fitted(t, &d, &ds[1])
	// Signed anew, over the bytes sent: a firewall takes it.
	if m.Header.Get(sign.HeaderKey) != pub || sign.Verify(pub, m.Data, m.Header.Get(sign.HeaderSig)) != nil {
		t.Fatal("the decision encoded again is not signed over what was sent")
	}
	if len(m.Data)+len(m.Header.Get(nats.MsgIdHdr)) > 64<<10 {
		t.Fatalf("stored %d bytes", len(m.Data))
	}
}
