package daemon

import (
	"math"
	"runtime/debug"
	"strings"
	"testing"
)

// TestDaemonMemoryLimit: memory_limit: sets the runtime's soft limit at
// start, the log says so, and status shows it with where it came from.
// GOMEMLIMIT in the environment would win: the test clears it.
func TestDaemonMemoryLimit(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	old := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(old) })
	for _, c := range []struct {
		set, want string
		bytes     int64
	}{
		{"300MiB", "300MiB (memory_limit)", 300 << 20},
		{"off", "none (off)", math.MaxInt64},
	} {
		h := newHarness(t)
		cfg := fileConfig(h)
		cfg.MemoryLimit = c.set
		l := startLive(t, cfg, nil)
		if got := l.status().Memory; got != c.want {
			t.Errorf("memory_limit: %s: status shows %q, want %q", c.set, got, c.want)
		}
		if !strings.Contains(l.logs.String(), "memory limit") {
			t.Errorf("memory_limit: %s: not logged at start:\n%s", c.set, l.logs)
		}
		if got := debug.SetMemoryLimit(-1); got != c.bytes {
			t.Errorf("memory_limit: %s: the runtime's limit is %d, want %d", c.set, got, c.bytes)
		}
		l.stop()
	}
}

// TestEnforcerMemoryLimit: the enforcer's memory_limit: is the runtime's
// once it runs.
func TestEnforcerMemoryLimit(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	old := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(old) })
	f := newFleet(t, "nats", 1)
	f.tune = func(c *EnforceConfig) { c.MemoryLimit = "200MiB" }
	f.startFirewall(0)
	if got := debug.SetMemoryLimit(-1); got != 200<<20 {
		t.Errorf("enforcer with memory_limit: 200MiB: the runtime's limit is %d, want %d", got, 200<<20)
	}
}
