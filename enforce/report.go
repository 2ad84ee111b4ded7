package enforce

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/pipeline/sign"
	"github.com/stockade-ids/stockade/sinks/kafka"
	"github.com/stockade-ids/stockade/sinks/nats"
	"github.com/stockade-ids/stockade/sinks/queue"
)

// Ack is what a firewall reports on the bus about a decision it judged, or
// about its administrator's override: on NATS the subject
// stockade.acks.<firewall>, on Kafka the topic stockade-acks keyed by the
// target; signed with the firewall's key when it has one.
type Ack struct {
	Firewall string `json:"firewall"`
	// ID, Origin and DecidedAt are the decision's ("" for an override).
	ID     string `json:"id,omitempty"`
	Origin string `json:"origin,omitempty"`
	Target string `json:"target,omitempty"`
	Action string `json:"action"` // ban, unban, or override
	// Verdict is applied, refused (Reason says why) or overridden.
	Verdict string    `json:"verdict"`
	Reason  string    `json:"reason,omitempty"`
	At      time.Time `json:"at"` // judged
	// Applied is when the kernel took it; DecidedAt the decision's own
	// time (the log line's): between them, a line's way to the kernel.
	Applied   time.Time `json:"applied,omitzero"`
	DecidedAt time.Time `json:"decided_at,omitzero"`
	Until     time.Time `json:"until,omitzero"` // an override's end; a ban's expiry as decided
	// Repaired counts the kernel elements a repair fixed.
	Repaired int `json:"repaired,omitempty"`
}

// Verdicts of an Ack.
const (
	VerdictApplied    = "applied"
	VerdictRefused    = "refused"
	VerdictOverridden = "overridden"
	VerdictDeferred   = "deferred" // over the origin's rate: applied later if still valid
	// VerdictLifted is a ban this firewall lifted by itself: its target is
	// protected now (allow add, a reload, an address it gained).
	VerdictLifted = "lifted"
	// VerdictRepaired is the kernel's sets found drifted and repaired.
	VerdictRepaired = "repaired"
)

// AckSubject is the NATS subject a firewall reports on; AckTopic the
// Kafka topic.
const (
	AckSubjectPrefix = "stockade.acks."
	AckTopic         = "stockade-acks"
)

// reporter queues acks for the bus: on disk while the bus is down, like a
// sensor's decisions, so an override made during an outage is still told.
type reporter struct {
	sink    *queue.Sink
	name    string
	subject string // "" on Kafka
	signer  *sign.Signer
	log     *slog.Logger
}

// openReporter connects a publisher of its own to the bus the firewall
// reads (a firewall that may read but not publish sees its reports wait
// in the queue, and says so).
func openReporter(cfg Config, log *slog.Logger) (*reporter, error) {
	r := &reporter{name: cfg.Name, signer: cfg.Signer, log: log}
	var pub queue.Publisher
	var err error
	var qname string
	if cfg.NATS != nil {
		r.subject = AckSubjectPrefix + subjectToken(cfg.Name)
		pub, err = nats.NewPublisher(nats.Config{Name: "acks", Config: cfg.NATS.Config}, log)
		qname = "nats-acks"
	} else {
		pub, err = kafka.NewPublisher(kafka.Config{Name: "acks", Config: cfg.Kafka.Config, Topic: AckTopic}, log)
		qname = "kafka-acks"
	}
	if err != nil {
		return nil, err
	}
	r.sink, err = queue.OpenSink(cfg.StateDir, qname, pub, queue.Config{Max: 100000}, queue.SinkConfig{}, log)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// subjectToken keeps a name one subject token.
func subjectToken(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c == '.' || c == '*' || c == '>' || c <= ' ' {
			b[i] = '_'
		}
	}
	return string(b)
}

// report queues acks; it never blocks the firewall for long (the queue
// drops the oldest when full).
func (r *reporter) report(acks []Ack) {
	if r == nil || len(acks) == 0 {
		return
	}
	ms := make([]queue.Message, 0, len(acks))
	for i := range acks {
		data, err := json.Marshal(&acks[i])
		if err != nil {
			continue
		}
		h := sha256.Sum256(append([]byte(acks[i].Firewall+"\x00"+acks[i].Verdict+"\x00"+acks[i].Target+"\x00"+acks[i].ID+"\x00"), acks[i].At.String()...))
		m := queue.Message{ID: hex.EncodeToString(h[:16]), Key: r.subject, Data: data}
		if r.subject == "" {
			m.Key = acks[i].Target
		}
		if r.signer != nil {
			if m.Sig, err = r.signer.Sign(data); err != nil {
				continue
			}
			m.Signer = r.signer.PublicKey()
		}
		ms = append(ms, m)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := r.sink.WriteMessages(ctx, ms); err != nil {
		r.log.Warn("acks not queued for the bus", "count", len(ms), "err", err)
	}
}

func (r *reporter) close() {
	if r == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	r.sink.Close(ctx)
}

// judgedAcks are the reports of a batch judged: one per decision that
// verified and decoded (a message that did not says nothing worth
// repeating: the refusal metrics count it).
func judgedAcks(name string, rs []Reason, ds []pipeline.Decision, applied, now time.Time) []Ack {
	out := make([]Ack, 0, len(rs))
	for i, r := range rs {
		d := &ds[i]
		if d.ID == "" && !d.Target.IsValid() {
			continue
		}
		a := Ack{Firewall: name, ID: d.ID, Origin: d.Origin, Target: d.Target.String(), Action: string(d.Action),
			Reason: string(r), At: now, DecidedAt: d.At}
		if d.Action == pipeline.ActionBan {
			a.Until = d.Expires // as decided: the policy may cap it
		}
		switch r {
		case Accepted, Lifted:
			a.Verdict, a.Applied = VerdictApplied, applied
		case AlreadyEnforced:
			a.Verdict = VerdictApplied // in force already, by an equal or longer ban
		case Deferred:
			a.Verdict = VerdictDeferred
		case RefusedOverride:
			a.Verdict = VerdictOverridden
		default:
			a.Verdict = VerdictRefused
		}
		out = append(out, a)
	}
	return out
}
