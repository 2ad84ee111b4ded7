package daemon

import (
	"cmp"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/stockade-ids/stockade/config"
	"github.com/stockade-ids/stockade/enforce"
	"github.com/stockade-ids/stockade/internal/metrics"
	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/pipeline/guard"
	"github.com/stockade-ids/stockade/pipeline/sign"
	"github.com/stockade-ids/stockade/sinks/kafka"
	"github.com/stockade-ids/stockade/sinks/nats"
	"github.com/stockade-ids/stockade/sinks/queue"
	"github.com/stockade-ids/stockade/sources/bus"
	"github.com/stockade-ids/stockade/sources/decision"
	"github.com/stockade-ids/stockade/sources/suricata"
)

// openNATSSink starts a NATS sink whose backlog lives in the state
// directory.
func openNATSSink(c nats.Config, stateDir string, signer *sign.Signer, log *slog.Logger) (*queue.Sink, error) {
	c.Signer = signer
	return nats.Open(c, stateDir, log)
}

func openKafkaSink(c kafka.Config, stateDir string, signer *sign.Signer, log *slog.Logger) (*queue.Sink, error) {
	c.Signer = signer
	return kafka.Open(c, stateDir, log)
}

// newBusSource is a bus source of p's payload; a source of decisions
// verifies them under p's policy, consulting g (see busTrust).
func newBusSource(kind string, c bus.Consumer, closer func(), p config.BusPayload, g *guard.Guard, self string,
	loc *time.Location, home suricata.HomeNet, log *slog.Logger, topic uint16) (*bus.Source, error) {
	decisions, f, err := bus.ParsePayload(p.Payload, p.Format)
	if err != nil {
		return nil, err
	}
	trust, err := busTrust(p, g)
	if err != nil {
		return nil, err
	}
	cfg := bus.SourceConfig{Kind: kind, Consumer: c, Close: closer, Decisions: decisions, Format: f, Self: self, Loc: loc, HomeNet: home, Log: log, Topic: topic}
	if trust != nil {
		cfg.Verifier = trust
	}
	return bus.NewSource(cfg)
}

// busTrust is the verifier of a bus source's decisions; nil for a source
// of lines, which carry no signature. The configuration was checked when
// it was read (a source of decisions names the origins it trusts).
//
// g, when set, is the daemon's guard: what the daemon never bans (own
// addresses as they change, fleet, allowlist) a decision from the bus
// never makes it ban either.
func busTrust(p config.BusPayload, g *guard.Guard) (*enforce.Verifier, error) {
	if p.Payload == "lines" {
		return nil, nil
	}
	if p.Policy == nil {
		return nil, errors.New("policy: origins: none trusted")
	}
	pol, err := p.Policy.Policy()
	if err != nil {
		return nil, err
	}
	pol.Guard = g
	return enforce.NewVerifier(pol)
}

// provenance names, in each decision built from other decisions (a fleet
// ban: its evidence is decisions), the decisions it was built from: those
// the bus sources verified about its target by its time, with the key
// that signed each, and those its evidence quotes (without a signer when
// they came from a file, or before a restart). The decision is then
// signed with it, so a firewall or an auditor sees who asked for it.
// The order is by time, then origin and id: the same decision always
// names them alike.
func (d *Daemon) provenance(ds []pipeline.Decision) {
	for i := range ds {
		x := &ds[i]
		var quoted []pipeline.Provenance
		for _, line := range x.Evidence {
			if id, origin, ok := decision.Ref(line); ok {
				quoted = append(quoted, pipeline.Provenance{ID: id, Origin: origin})
			}
		}
		if len(quoted) == 0 {
			continue
		}
		var es []bus.Believed
		for _, b := range d.bus {
			es = b.About(es, x.Target.Prefix, x.At)
		}
		for _, q := range quoted {
			es = append(es, bus.Believed{Provenance: q, At: x.At})
		}
		// The first of each: a quoted decision that a source verified
		// keeps its signer.
		seen := map[[2]string]bool{}
		es = slices.DeleteFunc(es, func(e bus.Believed) bool {
			k := [2]string{e.Origin, e.ID}
			dup := seen[k]
			seen[k] = true
			return dup
		})
		slices.SortStableFunc(es, func(a, b bus.Believed) int {
			return cmp.Or(a.At.Compare(b.At), cmp.Compare(a.Origin, b.Origin), cmp.Compare(a.ID, b.ID))
		})
		for _, e := range es {
			x.Provenance = append(x.Provenance, e.Provenance)
		}
	}
}

// busRefusedMetrics counts the decisions bus sources refused, by reason.
var mBusRefused = metrics.Counter("stockade_bus_refused_total", "Decisions from the bus refused by the source's policy, by reason.", "bus", "reason")

func (d *Daemon) busRefusedMetrics(m *metrics.Emitter) {
	per := map[string]map[enforce.Reason]uint64{}
	for _, s := range d.bus {
		if per[s.Kind()] == nil {
			per[s.Kind()] = map[enforce.Reason]uint64{}
		}
		for r, c := range s.Stats().Refused {
			per[s.Kind()][enforce.Reason(r)] += c
		}
	}
	for _, k := range slices.Sorted(maps.Keys(per)) {
		for _, r := range enforce.VerifyRefusals {
			m.Emit(mBusRefused, float64(per[k][r]), k, string(r))
		}
	}
}
