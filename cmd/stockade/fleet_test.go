package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/stockade-ids/stockade/enforce"
	"github.com/stockade-ids/stockade/internal/testservers"
	"github.com/stockade-ids/stockade/pipeline"
)

// TestFleetStatusKafka: `fleet status --kafka` reads the decisions' topic
// and stockade-acks: one firewall acknowledged one of two decisions.
func TestFleetStatusKafka(t *testing.T) {
	cluster := testservers.RunKafka(t, "stockade-decisions", 2, kfake.SeedTopics(1, enforce.AckTopic))
	brokers := cluster.ListenAddrs()
	write := func(topic string, msgs ...kafka.Message) {
		t.Helper()
		w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: topic, BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll}
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

// TestFleetWhyKafkaConfig: `fleet why --config FILE` reads Kafka as the
// daemon's kafka sink reaches it (SASL here: the broker refuses anyone
// else), and says the address is blocked on the firewall that
// acknowledged its ban; --kafka alone, without the credentials, is
// refused by the broker.
func TestFleetWhyKafkaConfig(t *testing.T) {
	cluster := testservers.RunKafka(t, "stockade-decisions", 2, kfake.SeedTopics(1, enforce.AckTopic),
		kfake.EnableSASL(), kfake.Superuser("PLAIN", "sensor", "s3cret"))
	brokers := cluster.ListenAddrs()
	write := func(topic string, msgs ...kafka.Message) {
		t.Helper()
		w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: topic, BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll,
			Transport: &kafka.Transport{SASL: plain.Mechanism{Username: "sensor", Password: "s3cret"}}}
		defer w.Close()
		if err := w.WriteMessages(t.Context(), msgs...); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().UTC()
	d, _ := json.Marshal(pipeline.Decision{ID: "a", Action: pipeline.ActionBan, Target: pipeline.MustTarget("203.0.113.1"), Rule: "sshd",
		At: now, Duration: 3600, Expires: now.Add(time.Hour), Origin: "web1"})
	write("stockade-decisions", kafka.Message{Key: []byte("203.0.113.1"), Value: d, Headers: []kafka.Header{{Key: "id", Value: []byte("a")}}})
	ack, _ := json.Marshal(enforce.Ack{Firewall: "fw-k", ID: "a", Target: "203.0.113.1", Action: "ban", Verdict: enforce.VerdictApplied,
		Origin: "web1", At: now, Applied: now, DecidedAt: now, Until: now.Add(time.Hour)})
	write(enforce.AckTopic, kafka.Message{Key: []byte("203.0.113.1"), Value: ack})

	cfg := filepath.Join(t.TempDir(), "sensor.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("sources: [{files: [/var/log/auth.log]}]\nsinks:\n  - kafka:\n      brokers: [%s]\n      sasl: {mechanism: plain, user: sensor, password: s3cret}\n", brokers[0])), 0o600)
	var out, errb bytes.Buffer
	if err := run(t.Context(), []string{"fleet", "why", "--config", cfg, "203.0.113.1"}, &out, &errb); err != nil {
		t.Fatalf("fleet why --config: %v\n%s", err, errb.String())
	}
	for _, w := range []string{"203.0.113.1: 1 decisions about it on the bus; 1 firewalls heard from", "fw-k: blocked: 203.0.113.1 banned by web1 (decision a)"} {
		if !strings.Contains(out.String(), w) {
			t.Fatalf("fleet why --config:\n%s\nwants %q", out.String(), w)
		}
	}
	t.Logf("$ stockade fleet why --config sensor.yaml 203.0.113.1\n%s", out.String())

	out.Reset()
	err := run(t.Context(), []string{"fleet", "why", "--kafka", strings.Join(brokers, ","), "203.0.113.1"}, &out, &errb)
	if err == nil {
		t.Fatalf("fleet why --kafka without the sink's SASL was not refused:\n%s", out.String())
	}
}
