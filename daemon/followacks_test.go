package daemon

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	fleetstatus "github.com/stockade-ids/stockade/fleet"
	"github.com/stockade-ids/stockade/internal/netlab"
)

// TestFollowAcksMetrics: a sensor with follow_acks exports how many of
// its firewalls are behind, and each one's lag: fw2 never comes (behind
// from the first ban); fw1 stops and misses the next ban (behind once
// grace is past); fw0 stays up to date.
func TestFollowAcksMetrics(t *testing.T) {
	f := newFleet(t, "nats", 3)
	nc, err := natsgo.Connect(f.natsSrv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := js.CreateStream(t.Context(), fleetstatus.StreamConfig()); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		f.sensorFleet = append(f.sensorFleet, netlab.HostV4(i).String())
	}
	f.sensorTune = func(c *Config) {
		c.FollowAcks = &fleetstatus.FollowConfig{Config: NATSConn{URL: f.natsSrv.ClientURL()}, Every: 50 * time.Millisecond,
			Grace: 500 * time.Millisecond, Firewalls: []string{"fw0", "fw1", "fw2"}}
	}
	f.startFirewall(0)
	f.startFirewall(1)
	f.startSensor()

	f.h.fail("203.0.113.50", 5)
	f.h.waitFor("the metrics: fw2, never heard from, alone behind; fw0 and fw1 up to date", func() bool {
		txt := f.h.metricsText()
		return sample(txt, "stockade_fleet_firewalls_behind") == 1 && sample(txt, "stockade_fleet_firewalls") == 2 &&
			sample(txt, `stockade_fleet_firewall_lag_seconds{firewall="fw0"}`) == 0 &&
			sample(txt, `stockade_fleet_firewall_lag_seconds{firewall="fw1"}`) == 0 &&
			sample(txt, `stockade_fleet_firewall_missing_decisions{firewall="fw2"}`) == 1
	})

	f.fw[1].stop()
	f.h.fail("203.0.113.51", 5)
	f.h.waitFor("the metrics: fw1 behind too, past grace, one decision missing", func() bool {
		txt := f.h.metricsText()
		return sample(txt, "stockade_fleet_firewalls_behind") == 2 &&
			sample(txt, `stockade_fleet_firewall_lag_seconds{firewall="fw1"}`) > 0.5 &&
			sample(txt, `stockade_fleet_firewall_missing_decisions{firewall="fw1"}`) == 1 &&
			sample(txt, `stockade_fleet_firewall_lag_seconds{firewall="fw0"}`) == 0
	})
	txt := f.h.metricsText()
	if sample(txt, `stockade_fleet_reads_total{result="ok"}`) < 1 {
		t.Fatalf("no reading counted:\n%s", txt)
	}
	t.Logf("$ curl -s 127.0.0.1:9477/metrics | grep '^stockade_fleet'\n%s", strings.Join(regexp.MustCompile(`(?m)^stockade_fleet.*$`).FindAllString(txt, -1), "\n"))
}

// sample is the value of the series named (with its labels) in a
// Prometheus text exposition; -1 when absent.
func sample(txt, series string) float64 {
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(txt)
	if m == nil {
		return -1
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return -1
	}
	return v
}
