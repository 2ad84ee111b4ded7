package bus

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/sources/suricata"
)

// newLinesSource is a source of lines from c, as the daemon opens one
// with payload: lines.
func newLinesSource(c Consumer) (*Source, error) {
	decisions, f, err := ParsePayload("lines", "")
	if err != nil {
		return nil, err
	}
	return NewSource(SourceConfig{Kind: "nats", Consumer: c, Close: func() {}, Decisions: decisions, Format: f,
		Self: "me", Loc: time.UTC, Log: quiet()})
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// sshdLine is a failed sshd login of addr, as daemon's tests write it.
func sshdLine(t time.Time, addr string, n int) string {
	return fmt.Sprintf("%s web1 sshd[%d]: Failed password for root from %s port %d ssh2\n",
		t.UTC().Format("2006-01-02T15:04:05.000000-07:00"), 1000+n%9000, addr, 40000+n%20000)
}

// busDecision is an unsigned ban by origin, as a sensor publishes it.
func busDecision(origin, rule, target string, at time.Time) []byte {
	b, _ := json.Marshal(pipeline.Decision{ID: origin + "-" + target, Action: pipeline.ActionBan, Target: pipeline.MustTarget(target), Rule: rule,
		At: at, Duration: 600, Expires: at.Add(10 * time.Minute), Origin: origin})
	return b
}

// stubConsumer hands fixed messages to the handler, then waits.
type stubConsumer struct{ msgs []*Delivery }

func (c stubConsumer) Run(ctx context.Context, h Handler) error {
	for _, m := range c.msgs {
		if err := h(ctx, m); err != nil {
			return err
		}
	}
	<-ctx.Done()
	return nil
}

func (c stubConsumer) RunBatch(ctx context.Context, h BatchHandler, max int) error {
	return c.Run(ctx, func(ctx context.Context, d *Delivery) error { return h(ctx, []*Delivery{d}) })
}

// events runs s over a stubConsumer's messages (delivered at once, then
// it waits for the end) for 200 ms and returns the events it made.
func events(t *testing.T, s *Source) []pipeline.Event {
	out := make(chan pipeline.Event, 10)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	s.Run(ctx, out)
	close(out)
	var evs []pipeline.Event
	for ev := range out {
		evs = append(evs, ev)
	}
	return evs
}

// TestBusLinesHostile: raw lines from a bus (a correlator judging other
// hosts' logs) may be megabytes long, binary or empty: each is counted as
// bad and skipped, and the good lines among them become events.
func TestBusLinesHostile(t *testing.T) {
	good := strings.TrimSuffix(sshdLine(time.Now(), "203.0.113.90", 1), "\n")
	msgs := []*Delivery{
		{Data: []byte(good + strings.Repeat(" A", 5<<20)), Format: "syslog"}, // 10 MB, well formed
		{Data: []byte("\x00\xff\xfe garbage"), Format: "syslog"},
		{Data: nil},
		{Data: []byte(good), Format: "no-such-format"},
		{Data: []byte(good), Format: "syslog", Subject: "logs.web1"},
	}
	s, err := newLinesSource(stubConsumer{msgs})
	if err != nil {
		t.Fatal(err)
	}
	evs := events(t, s)
	if len(evs) != 1 || evs[0].Line != good || evs[0].Source != "nats:logs.web1" {
		t.Fatalf("events %+v, want the one good line", evs)
	}
	if s.received.Load() != 5 || s.bad.Load() != 4 {
		t.Fatalf("received %d bad %d, want 5 and 4", s.received.Load(), s.bad.Load())
	}
}

// TestBusLinesCarryNoDecisions: a source of lines verifies nothing, so a
// decision arriving on it (its format header saying so, or detected) is
// refused: otherwise whoever may publish lines would feed the fleet pack
// unsigned decisions.
func TestBusLinesCarryNoDecisions(t *testing.T) {
	good := strings.TrimSuffix(sshdLine(time.Now(), "203.0.113.91", 1), "\n")
	forged := busDecision("sensorA", "sshd", "203.0.113.92", time.Now().UTC())
	msgs := []*Delivery{
		{Data: forged, Format: "decision"},
		{Data: forged},
		{Data: []byte(good), Format: "syslog"},
	}
	s, err := newLinesSource(stubConsumer{msgs})
	if err != nil {
		t.Fatal(err)
	}
	evs := events(t, s)
	if len(evs) != 1 || evs[0].Line != good {
		t.Fatalf("events %+v, want the one syslog line", evs)
	}
	if n := s.Stats().Refused[RefusedUnsigned]; n != 2 {
		t.Errorf("%d refused as unsigned, want 2", n)
	}
	if _, _, err := ParsePayload("lines", "decision"); err == nil {
		t.Error("a source of lines in the decision format was accepted")
	}
}

// eveAlert is an eve.json alert, as daemon's tests write it.
func eveAlert(src string, sport int, dst string, dport int, sig, class, direction string) string {
	client, server, cport, sport2 := src, dst, sport, dport
	if direction == "to_client" {
		client, server, cport, sport2 = dst, src, dport, sport
	}
	now := time.Now().UTC().Format("2006-01-02T15:04:05.000000-0700")
	return fmt.Sprintf(`{"timestamp":%q,"flow_id":%d,"in_iface":"eth0","event_type":"alert","src_ip":%q,"src_port":%d,"dest_ip":%q,"dest_port":%d,"proto":"TCP","pkt_src":"wire/pcap","alert":{"action":"allowed","gid":1,"signature_id":2019647,"rev":3,"signature":%q,"category":%q,"severity":1},"direction":%q,"flow":{"pkts_toserver":4,"pkts_toclient":6,"bytes_toserver":500,"bytes_toclient":9000,"start":%q,"src_ip":%q,"dest_ip":%q,"src_port":%d,"dest_port":%d}}`+"\n",
		now, time.Now().UnixNano()&0xffffffffffff, src, sport, dst, dport, sig, class, direction, now, client, server, cport, sport2)
}

// TestBusLinesHomeNet: eve.json shipped over a bus is judged with the
// daemon's home net, as a followed file is.
func TestBusLinesHomeNet(t *testing.T) {
	inside := strings.TrimSuffix(eveAlert("192.168.0.53", 50300, "192.168.0.10", 445, "ET EXPLOIT Possible ETERNALBLUE MS17-010 Echo Request", "Attempted Administrator Privilege Gain", "to_server"), "\n")
	landing := strings.TrimSuffix(eveAlert("203.0.113.50", 80, "192.168.0.54", 49322, "ET CURRENT_EVENTS Nuclear EK Landing", "A Network Trojan was detected", "to_client"), "\n")
	msgs := []*Delivery{{Data: []byte(inside), Format: "eve"}, {Data: []byte(landing), Format: "eve"}}
	s, err := newLinesSource(stubConsumer{msgs})
	if err != nil {
		t.Fatal(err)
	}
	if s.cfg.HomeNet, err = suricata.ParseHomeNet("192.168.0.0/16"); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range events(t, s) {
		got = append(got, ev.Addr.String()+" "+ev.SideReason)
	}
	if want := "invalid IP home_net_both, 203.0.113.50 client_side"; strings.Join(got, ", ") != want {
		t.Errorf("events %q, want %q", strings.Join(got, ", "), want)
	}
}

// believeAll is a Verifier that believes every decision that decodes.
type believeAll struct{}

func (believeAll) VerifyDelivery(d *Delivery, x *pipeline.Decision) string {
	if json.Unmarshal(d.Data, x) != nil {
		return "malformed"
	}
	return ""
}

// TestBusDecisionsUpToAMegabyte: a decision is not a log line. One of
// 250 KB (a rule keeping 20 lines of evidence of an attacker who wrote
// them full of control bytes, each escaped as six) reaches a correlator
// as the sinks send it, up to the megabyte they fit decisions in. Before,
// a decision over 64 KB was counted as a bad line and never counted: an
// attacker could keep its bans out of the fleet's correlation.
func TestBusDecisionsUpToAMegabyte(t *testing.T) {
	at := time.Now().UTC()
	d := pipeline.Decision{ID: "sensorA-big", Action: pipeline.ActionBan, Target: pipeline.MustTarget("203.0.113.93"), Rule: "sshd",
		At: at, Duration: 600, Expires: at.Add(10 * time.Minute), Origin: "sensorA"}
	for i := range 20 {
		d.Evidence = append(d.Evidence, fmt.Sprintf("%02d", i)+strings.Repeat("\x01", 2046))
	}
	big, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if len(big) < 200<<10 {
		t.Fatalf("the decision is %d bytes", len(big))
	}
	huge := busDecision("sensorA", "sshd", "203.0.113.94", at)
	huge = append(huge[:len(huge)-1], []byte(`,"reason":"`+strings.Repeat("x", 2<<20)+`"}`)...)
	msgs := []*Delivery{
		{Data: big, Format: "decision"},
		{Data: huge, Format: "decision"}, // 2 MB: more than a sink sends
		{Data: busDecision("sensorA", "sshd", "203.0.113.95", at), Format: "decision"},
	}
	s, err := NewSource(SourceConfig{Kind: "nats", Consumer: stubConsumer{msgs}, Close: func() {}, Decisions: true,
		Format: pipeline.FormatDecision, Verifier: believeAll{}, Self: "me", Loc: time.UTC, Log: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range events(t, s) {
		got = append(got, ev.Addr.String())
	}
	if fmt.Sprint(got) != "[203.0.113.93 203.0.113.95]" || s.bad.Load() != 1 {
		t.Fatalf("events for %v, %d bad; want 203.0.113.93 and .95, the 2 MB one bad", got, s.bad.Load())
	}
}
