package memlimit

import (
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	for in, want := range map[string]Setting{
		"": {}, "off": {Off: true}, "-1": {Off: true}, "256MiB": {Bytes: 256 << 20},
		"1GiB": {Bytes: 1 << 30}, "1.5GiB": {Bytes: 3 << 29}, "512MB": {Bytes: 512e6}, "300M": {Bytes: 300 << 20},
		"80%": {Percent: 80},
	} {
		got, err := Parse(in)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"256", "lots", "0MiB", "-5MiB", "1MiB", "0%", "101%", "12XB", "1e30GiB"} {
		if s, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) = %+v, want an error", in, s)
		}
	}
}

// fakeRoot makes a /proc/self/cgroup and a cgroup v2 tree whose leaf and
// parent set the limits given ("" leaves a file out).
func fakeRoot(t *testing.T, leafMax, parentHigh string) string {
	root := t.TempDir()
	write := func(p, v string) {
		if v == "" {
			return
		}
		p = filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("proc/self/cgroup", "0::/system.slice/stockade.service")
	write("sys/fs/cgroup/system.slice/stockade.service/memory.max", leafMax)
	write("sys/fs/cgroup/system.slice/memory.high", parentHigh)
	return root
}

func TestResolve(t *testing.T) {
	none := func(string) string { return "" }
	const def = 256 << 20
	cases := []struct {
		name             string
		set              Setting
		leafMax, parentH string
		want             int64
		source           string
	}{
		{"default, no cgroup limit", Setting{}, "max", "", def, "default"},
		{"default under a big cgroup", Setting{}, "4294967296", "max", def, "default"},
		{"default kept under 90% of a small cgroup", Setting{}, "209715200", "", 188743680, "default: 90% of the cgroup's 200MiB"},
		{"the parent's memory.high counts", Setting{}, "max", "104857600", 94371840, "default: 90% of the cgroup's 100MiB"},
		{"a size wins over the cgroup", Setting{Bytes: 1 << 30}, "209715200", "", 1 << 30, "memory_limit"},
		{"a share of the cgroup", Setting{Percent: 50}, "1073741824", "", 1 << 29, "memory_limit: 50% of the cgroup's 1GiB"},
		{"a share without a cgroup limit", Setting{Percent: 50}, "max", "", def, "default: no cgroup memory limit for 50%"},
		{"off", Setting{Off: true}, "209715200", "", math.MaxInt64, "off"},
	}
	for _, c := range cases {
		l := Resolve(c.set, def, none, fakeRoot(t, c.leafMax, c.parentH))
		if l.Bytes != c.want || l.Source != c.source {
			t.Errorf("%s: got %d (%s), want %d (%s)", c.name, l.Bytes, l.Source, c.want, c.source)
		}
	}
	// cgroup v1: the memory controller's own hierarchy, "no limit" as a
	// huge number, a parent's limit counting.
	root := t.TempDir()
	for p, v := range map[string]string{
		"proc/self/cgroup": "4:memory:/box/stockade\n1:cpu:/\n0::/\n",
		"sys/fs/cgroup/memory/box/stockade/memory.limit_in_bytes": "9223372036854771712",
		"sys/fs/cgroup/memory/box/memory.limit_in_bytes":          "314572800",
	} {
		os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755)
		if err := os.WriteFile(filepath.Join(root, p), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got := CgroupLimit(root); got != 314572800 {
		t.Errorf("cgroup v1: got %d, want the parent's 314572800", got)
	}
	env := func(k string) string {
		if k == "GOMEMLIMIT" {
			return "123MiB"
		}
		return ""
	}
	if l := Resolve(Setting{Bytes: 1 << 30}, def, env, fakeRoot(t, "max", "")); l.Source != "GOMEMLIMIT" || l.Bytes != debug.SetMemoryLimit(-1) {
		t.Errorf("GOMEMLIMIT set: got %+v, want the runtime's own limit from GOMEMLIMIT", l)
	}
}

// TestLimitBelowLiveHeapMakesProgress holds a live heap four times the
// soft limit and keeps allocating: the runtime must not spiral into
// collecting without end. It caps the collector's CPU at about half, so
// the allocating loop keeps getting work done; the GC's share of CPU,
// read from runtime/metrics, is shown and bounded.
func TestLimitBelowLiveHeapMakesProgress(t *testing.T) {
	old := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(old)
	live := make([][]byte, 64<<10) // 64 MiB live, 1 KiB each
	for i := range live {
		live[i] = make([]byte, 1<<10)
	}
	runtime.GC()
	debug.SetMemoryLimit(16 << 20)
	defer debug.SetMemoryLimit(math.MaxInt64)
	before := cpuClasses()
	start := time.Now()
	var done int
	var sink []byte
	// Bounded in time: allocate garbage for 2 s and count the rounds.
	for time.Since(start) < 2*time.Second {
		for range 1000 {
			sink = make([]byte, 4<<10)
		}
		live[done%len(live)] = sink[:1<<10]
		done++
	}
	after := cpuClasses()
	gc, total := after[0]-before[0], after[1]-before[1]
	share := gc / total
	t.Logf("limit 16 MiB under a 64 MiB live heap: %d rounds of 1,000 allocations in 2 s; GC %.2f of %.2f CPU-s (%.0f%%)", done, gc, total, share*100)
	if done < 100 {
		t.Errorf("only %d rounds in 2 s: the collector starves the program", done)
	}
	// The runtime's cap is 50 % of GOMAXPROCS over a window; leave room
	// for the accounting's lag.
	if share > 0.65 {
		t.Errorf("GC took %.0f%% of the CPU: want the runtime's cap (about 50%%)", share*100)
	}
	runtime.KeepAlive(live)
}

// cpuClasses is the GC's CPU seconds and the total available so far.
func cpuClasses() [2]float64 {
	s := []metrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}, {Name: "/cpu/classes/total:cpu-seconds"}}
	metrics.Read(s)
	return [2]float64{s[0].Value.Float64(), s[1].Value.Float64()}
}

func TestFollow(t *testing.T) {
	const mib = 1 << 20
	def := Limit{Bytes: 224 * mib, Source: "default"}
	for _, tc := range []struct {
		name string
		l    Limit
		live int64
		want int64
	}{
		{"a small heap keeps the default", def, 100 * mib, 224 * mib},
		{"a heap a tenth under it keeps the default", def, 200 * mib, 224 * mib},
		// The bench's flood of a million windows, the default's own
		// bound: 206 MiB live, a limit 1 % over the default, which the
		// watch leaves as it is (it moves the limit by a sixteenth at
		// least).
		{"the windows' bound", def, 206 * mib, 206 * mib * 11 / 10},
		{"a heap at it raises it by a tenth", def, 224 * mib, 224 * mib * 11 / 10},
		{"just past it, by a tenth", def, 240 * mib, 264 * mib},
		{"past it, by what is past it", def, 400 * mib, 576 * mib},
		{"twice it, by half", Limit{Bytes: 32 * mib, Source: "default"}, 64 * mib, 96 * mib},
		{"far past it, by half at most", def, 2000 * mib, 3000 * mib},
		{"a cgroup caps it", Limit{Bytes: 224 * mib, Source: "default", Cgroup: 512 * mib}, 400 * mib, 512 * mib * 9 / 10},
		{"memory_limit: is kept", Limit{Bytes: 224 * mib, Source: "memory_limit"}, 400 * mib, 224 * mib},
		{"GOMEMLIMIT is kept", Limit{Bytes: 224 * mib, Source: "GOMEMLIMIT"}, 400 * mib, 224 * mib},
	} {
		if got := Follow(tc.l, tc.live); got < tc.want-mib || got > tc.want+mib {
			t.Errorf("%s: %s for a live heap of %s, want %s", tc.name, Size(got), Size(tc.live), Size(tc.want))
		}
	}
}

// TestDefaultFollowsLiveHeap: a process holding more than its default
// limit (a daemon with 200,000 bans held about 290 MB under 224 MiB)
// collected without end: each cycle found the live heap over the limit.
// The default now moves above the live heap; a little garbage made over
// a second costs a few cycles, not hundreds.
func TestDefaultFollowsLiveHeap(t *testing.T) {
	const mib = 1 << 20
	t.Cleanup(func() {
		Apply(Limit{Bytes: math.MaxInt64, Source: "off"})
	})
	live := make([][]byte, 64)
	for i := range live {
		live[i] = make([]byte, mib)
	}
	Apply(Limit{Bytes: 32 * mib, Source: "default"})
	runtime.GC()
	runtime.GC() // the first cycle's finalizer sets the limit the second sees
	cycles := func() uint64 {
		s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	before := cycles()
	var sink []byte
	end := time.Now().Add(time.Second)
	for time.Now().Before(end) {
		for range 16 {
			sink = make([]byte, 64<<10) // a megabyte of garbage a round
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = sink
	n := cycles() - before
	t.Logf("a live heap of 64 MiB under a 32 MiB default: limit now %s, %d cycles for about 100 MiB of garbage", Size(Current()), n)
	if lim := debug.SetMemoryLimit(-1); lim < 64*mib {
		t.Errorf("the limit stayed at %s under a live heap of 64 MiB", Size(lim))
	}
	if n > 20 {
		t.Errorf("%d collections in a second: the limit is under the live heap", n)
	}
	runtime.KeepAlive(live)
}
