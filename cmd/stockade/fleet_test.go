package main

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/stockade-ids/stockade/enforce"
	"github.com/stockade-ids/stockade/internal/testservers"
)

// TestFleetStatusKafka: `fleet status --kafka` reads the decisions' topic
// and stockade-acks: one firewall acknowledged one of two decisions.
func TestFleetStatusKafka(t *testing.T) {
	cluster := testservers.RunKafka(t, "stockade-decisions", 2, kfake.SeedTopics(1, enforce.AckTopic))
	brokers := cluster.ListenAddrs()
	write := func(topic string, msgs ...kafka.Message) {
		t.Helper()
		w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: topic, BatchTimeout: time.Millisecond}
		defer w.Close()
		if err := w.WriteMessages(t.Context(), msgs...); err != nil {
			t.Fatal(err)
		}
	}
	write("stockade-decisions",
		kafka.Message{Key: []byte("203.0.113.1"), Value: []byte(`{}`), Headers: []kafka.Header{{Key: "id", Value: []byte("a")}}},
		kafka.Message{Key: []byte("203.0.113.2"), Value: []byte(`{}`), Headers: []kafka.Header{{Key: "id", Value: []byte("b")}}})
	now := time.Now()
	ack, _ := json.Marshal(enforce.Ack{Firewall: "fw-k", ID: "a", Target: "203.0.113.1", Action: "ban", Verdict: enforce.VerdictApplied,
		At: now, Applied: now, DecidedAt: now.Add(-time.Second)})
	write(enforce.AckTopic, kafka.Message{Key: []byte("203.0.113.1"), Value: ack})

	var out, errb bytes.Buffer
	if err := run(t.Context(), []string{"fleet", "status", "--kafka", strings.Join(brokers, ",")}, &out, &errb); err != nil {
		t.Fatalf("fleet status --kafka: %v\n%s", err, errb.String())
	}
	for _, w := range []string{"2 decisions on the bus", "1 firewalls heard from"} {
		if !strings.Contains(out.String(), w) {
			t.Fatalf("fleet status --kafka:\n%s\nwants %q", out.String(), w)
		}
	}
	// fw-k: judged 1, applied 1, missing 1 (b), unsigned.
	if !regexpMatch(`(?m)^fw-k +\d+s ago +1 +1 +0 +0 +0 +1 +\S+ +0 +1s/1s +no$`, out.String()) {
		t.Fatalf("fleet status --kafka:\n%s", out.String())
	}
	t.Logf("$ stockade fleet status --kafka %s\n%s", strings.Join(brokers, ","), out.String())
}

func regexpMatch(re, s string) bool { return regexp.MustCompile(re).MatchString(s) }
