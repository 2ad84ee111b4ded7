// Package testkit holds what the tests of several packages share: test
// decisions, polling, loggers and TLS material. Only tests import it.
package testkit

import (
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

// T0 is the event time of the first test decision.
var T0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// Decision is the i-th test decision; its id carries i in hex so order is
// checkable (IDNum reads it back).
func Decision(i int) pipeline.Decision {
	return pipeline.Decision{
		ID: fmt.Sprintf("%032x", i), Action: pipeline.ActionBan,
		Target: pipeline.TargetOf(netip.PrefixFrom(netip.AddrFrom4([4]byte{203, 0, byte(i / 250 % 250), byte(i % 250)}), 32)), Scope: pipeline.ScopeIP,
		Rule: "sshd-bruteforce", Pack: "core", Reason: "5 failures in 10m",
		At: T0.Add(time.Duration(i) * time.Second), Duration: 3600,
		Expires: T0.Add(time.Duration(i)*time.Second + time.Hour), Offense: 1,
		Origin: "fw1", Source: "/var/log/auth.log", Evidence: []string{"Failed password for root"},
	}
}

// Decisions are Decision(from) … Decision(to-1).
func Decisions(from, to int) []pipeline.Decision {
	ds := make([]pipeline.Decision, 0, to-from)
	for i := from; i < to; i++ {
		ds = append(ds, Decision(i))
	}
	return ds
}

// IDNum reads back the number a Decision id carries.
func IDNum(t testing.TB, id string) int {
	t.Helper()
	n, err := strconv.ParseInt(id, 16, 64)
	if err != nil {
		t.Fatalf("decision id %q: %v", id, err)
	}
	return int(n)
}

// Seq is from … to-1.
func Seq(from, to int) []int {
	var out []int
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

// Log writes debug logs to the test's output.
func Log(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// WaitFor polls cond every 5 ms for up to 15 s.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	WaitForWithin(t, 15*time.Second, what, cond)
}

// WaitForWithin polls cond every 5 ms for up to limit.
func WaitForWithin(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
