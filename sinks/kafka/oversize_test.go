package kafka

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/stockade-ids/stockade/internal/testkit"
)

// evidence is n lines of an attacker who wrote them full of control
// bytes, each escaped as six: 100 of them (the most a pack may keep) are
// over a megabyte of JSON.
func evidence(n int) []string {
	lines := make([]string, n)
	for i := range lines {
		lines[i] = fmt.Sprintf("%03d", i) + strings.Repeat("\x01", 2045)
	}
	return lines
}

// TestOversizeDecisionDoesNotBlock: a decision larger than a record may
// be goes out with the last of its evidence lines that fit, and the ones
// behind it follow. Before, the writer refused it at every try and the
// queue retried it forever: no ban reached a firewall again.
func TestOversizeDecisionDoesNotBlock(t *testing.T) {
	c := runCluster(t)
	s := openSink(t, testConfig(t, c), t.TempDir())
	ds := fiveTargets(0, 5)
	ds[2].Evidence = evidence(100)
	if err := s.Write(t.Context(), ds); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "the queue to drain", func() bool { return s.Depth() == 0 })
	recs := readAll(t, c, c.ListenAddrs())
	check(t, recs, testkit.Seq(0, 5), true)
	for _, r := range recs {
		if r.id == 2 {
			n := len(r.d.Evidence)
			if n == 0 || n >= 100 || !slices.Equal(r.d.Evidence, ds[2].Evidence[100-n:]) {
				t.Fatalf("the oversize decision arrived with %d lines of evidence, want the last ones that fit", n)
			}
		}
	}
	if s.Dropped() != 0 {
		t.Fatalf("%d dropped", s.Dropped())
	}
}

// TestBrokersRefuseLargeRecord: brokers whose message.max.bytes is 64 KB
// refuse a record of 500 KB at every try. It is dropped, logged and
// counted; the ones behind it, and those that shared its refused batch,
// are delivered.
func TestBrokersRefuseLargeRecord(t *testing.T) {
	c := runCluster(t, kfake.BrokerConfigs(map[string]string{"message.max.bytes": "65536"}))
	s := openSink(t, testConfig(t, c), t.TempDir())
	ds := fiveTargets(0, 5)
	ds[1].Evidence = evidence(40)
	if err := s.Write(t.Context(), ds); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "the queue to drain", func() bool { return s.Depth() == 0 })
	check(t, readAll(t, c, c.ListenAddrs()), []int{0, 2, 3, 4}, true)
	if s.Dropped() != 1 || s.Delivered() != 4 {
		t.Fatalf("dropped %d, delivered %d; want 1 and 4", s.Dropped(), s.Delivered())
	}
}
