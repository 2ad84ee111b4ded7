// Package memlimit sets the Go runtime's soft memory limit
// (runtime/debug.SetMemoryLimit) for the daemon and the enforcer: from
// their memory_limit: setting, GOMEMLIMIT in the environment, or a default
// sized to what they hold and kept under the cgroup's memory.max and
// memory.high (systemd's MemoryMax= and MemoryHigh=).
//
// A soft limit makes the collector run sooner as the heap nears it,
// instead of letting a flood's garbage double the heap (GOGC=100) before
// it runs. It is soft: a live heap above it is not an error, and the
// runtime caps the collector at about half the CPU, so a limit set too low
// costs CPU, never progress.
package memlimit

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
)

// Setting is memory_limit: as written: a size, a share of the cgroup's
// limit, off, or unset (the zero Setting: the default).
type Setting struct {
	Bytes   int64   // a size ("300MiB")
	Percent float64 // a share of the cgroup's limit ("80%")
	Off     bool    // "off": no limit
}

// IsZero is whether memory_limit: is unset.
func (s Setting) IsZero() bool { return s == Setting{} }

var units = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1},
}

// minBytes refuses a limit that cannot be meant: below it the runtime
// would collect all the time for the daemon's few MB of code and buffers.
const minBytes = 16 << 20

// Parse reads memory_limit:: "256MiB", "1.5GiB", "512MB", "80%" (of the
// cgroup's limit), "off", or "" (the default).
func Parse(v string) (Setting, error) {
	v = strings.TrimSpace(v)
	switch {
	case v == "":
		return Setting{}, nil
	case strings.EqualFold(v, "off") || v == "-1":
		return Setting{Off: true}, nil
	case strings.HasSuffix(v, "%"):
		p, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(v, "%")), 64)
		if err != nil || !(p > 0 && p <= 100) {
			return Setting{}, fmt.Errorf("%q: want a share of the cgroup's memory limit over 0%% and up to 100%% (80%%)", v)
		}
		return Setting{Percent: p}, nil
	}
	for _, u := range units {
		num, ok := strings.CutSuffix(v, u.suffix)
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
		if err != nil || f <= 0 || math.IsInf(f, 0) || f*float64(u.mult) >= math.MaxInt64 {
			break
		}
		b := int64(f * float64(u.mult))
		if b < minBytes {
			return Setting{}, fmt.Errorf("%q: under 16MiB, the runtime would collect without end: want 256MiB or more", v)
		}
		return Setting{Bytes: b}, nil
	}
	return Setting{}, fmt.Errorf("%q: want a size (256MiB, 1GiB, 512MB), a share of the cgroup's memory limit (80%%) or off", v)
}

// Limit is the limit chosen and why, as logged and shown by status.
type Limit struct {
	Bytes  int64  // math.MaxInt64: none
	Source string // memory_limit, GOMEMLIMIT, default, cgroup, off
	// Cgroup is the lowest memory.max or memory.high of the process's
	// cgroup and its parents, 0 when none is set.
	Cgroup int64
}

func (l Limit) String() string {
	if l.Bytes == math.MaxInt64 {
		return "none (" + l.Source + ")"
	}
	return fmt.Sprintf("%s (%s)", Size(l.Bytes), l.Source)
}

// Size writes b as memory_limit: would (MiB, GiB); 0 and no limit are
// "none".
func Size(b int64) string {
	if b <= 0 || b == math.MaxInt64 {
		return "none"
	}
	if b >= 1<<30 && b%(1<<30) == 0 {
		return fmt.Sprintf("%dGiB", b>>30)
	}
	return fmt.Sprintf("%dMiB", (b+(1<<19))>>20)
}

// cgroupShare is the part of the cgroup's limit the default takes: the
// rest is for what the runtime's limit does not count (the binary, file
// pages of the state, the kernel's socket buffers).
const cgroupShare = 0.9

// Resolve chooses the limit: GOMEMLIMIT when the environment sets it
// (the runtime applied it already), else memory_limit:, else def kept
// under cgroupShare of the cgroup's limit. getenv and root are
// os.Getenv and "/" outside tests.
func Resolve(s Setting, def int64, getenv func(string) string, root string) Limit {
	cg := CgroupLimit(root)
	if v := getenv("GOMEMLIMIT"); v != "" {
		return Limit{Bytes: debug.SetMemoryLimit(-1), Source: "GOMEMLIMIT", Cgroup: cg}
	}
	switch {
	case s.Off:
		return Limit{Bytes: math.MaxInt64, Source: "off", Cgroup: cg}
	case s.Bytes > 0:
		return Limit{Bytes: s.Bytes, Source: "memory_limit", Cgroup: cg}
	case s.Percent > 0 && cg > 0:
		return Limit{Bytes: int64(float64(cg) * s.Percent / 100), Source: fmt.Sprintf("memory_limit: %g%% of the cgroup's %s", s.Percent, Size(cg)), Cgroup: cg}
	}
	l := Limit{Bytes: def, Source: "default", Cgroup: cg}
	if s.Percent > 0 {
		l.Source = "default: no cgroup memory limit for " + strconv.FormatFloat(s.Percent, 'g', -1, 64) + "%"
	}
	if c := int64(float64(cg) * cgroupShare); cg > 0 && c < l.Bytes {
		l = Limit{Bytes: c, Source: fmt.Sprintf("default: 90%% of the cgroup's %s", Size(cg)), Cgroup: cg}
	}
	return l
}

// Apply sets the runtime's soft limit to l (nothing to do for
// GOMEMLIMIT, which the runtime read at start). A default limit then
// follows the live heap (see Follow).
func Apply(l Limit) {
	if l.Source != "GOMEMLIMIT" {
		debug.SetMemoryLimit(l.Bytes)
	}
	applied.Store(&l)
	current.Store(l.Bytes)
	if l.IsDefault() && !watching.Swap(true) {
		watch()
	}
}

// IsDefault is whether l is a default, sized by the settings rather than
// set by memory_limit: or GOMEMLIMIT.
func (l Limit) IsDefault() bool { return strings.HasPrefix(l.Source, "default") }

// Follow is the limit a default l takes for a live heap of live bytes:
// l, or more when the live heap comes near it, but never over
// cgroupShare of the cgroup's limit (past it, the cgroup's own limit is
// near: collecting is all that is left to do).
//
// The default is sized for the windows, which are bounded; the bans are
// not, and a live heap over the limit made the collector run without
// end, at its cap of half the CPU: 200,000 imported bans held about
// 290 MB, and an idle daemon under the 224 MiB default burned 1.4 cores
// for nothing. So the limit stays above the live heap by what it holds
// past the default, by a tenth of it at least and half of it at most: a
// heap the default was sized for keeps the default, and a heap past it
// gets room to make garbage in before each collection marks it all
// again (twice the default live: 1.5 times it; only half of what was
// past the default left a 64 MiB heap 16 MiB, and a test 11 to 21
// collections a second where 4 to 6 do). Half the live heap above it
// from the first byte lifted the limit during the bench's flood of a
// million windows too (206 MiB live under 224 MiB), and the daemon's
// RSS from 218-226 MB to 272-325 MB.
func Follow(l Limit, live int64) int64 {
	if !l.IsDefault() {
		return l.Bytes
	}
	want := max(l.Bytes, live+min(live/2, max(live/10, live-l.Bytes)))
	if l.Cgroup > 0 {
		want = min(want, max(l.Bytes, int64(float64(l.Cgroup)*cgroupShare)))
	}
	return want
}

// Current is the soft limit in force: a default one moves with the live
// heap.
func Current() int64 { return current.Load() }

// Now is l as String writes it, and the limit in force when a default
// followed the live heap past it.
func (l Limit) Now() string {
	if c := Current(); l.IsDefault() && c != l.Bytes && c > 0 {
		return fmt.Sprintf("%s, now %s for the live heap", l, Size(c))
	}
	return l.String()
}

var (
	applied  atomic.Pointer[Limit]
	current  atomic.Int64
	watching atomic.Bool
)

// watch sets the limit at the end of every collection from the live heap
// it found (a finalizer runs once per cycle, on the runtime's finalizer
// goroutine, and arms the next).
func watch() {
	type sentinel struct{ _ [32]byte }
	s := new(sentinel)
	runtime.SetFinalizer(s, func(*sentinel) {
		if l := applied.Load(); l != nil && l.IsDefault() {
			want := Follow(*l, liveHeap())
			// Moved by a sixteenth at least: not a call at every cycle.
			if cur := current.Load(); want > cur+cur/16 || want < cur-cur/16 {
				debug.SetMemoryLimit(want)
				current.Store(want)
			}
		}
		watch()
	})
}

// liveHeap is the heap the last collection marked live.
func liveHeap() int64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int64(s[0].Value.Uint64())
}

// CgroupLimit is the lowest memory limit of the process's cgroup and its
// parents under root+"sys/fs/cgroup": memory.max or memory.high (cgroup
// v2), else memory.limit_in_bytes of the v1 memory controller; 0 when
// none is set.
func CgroupLimit(root string) int64 {
	data, err := os.ReadFile(filepath.Join(root, "proc/self/cgroup"))
	if err != nil {
		return 0
	}
	var v1, v2 string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		_, rest, _ := strings.Cut(sc.Text(), ":")
		ctrls, path, ok := strings.Cut(rest, ":")
		switch {
		case !ok:
		case ctrls == "":
			v2 = path
		case slices.Contains(strings.Split(ctrls, ","), "memory"):
			v1 = path
		}
	}
	base := filepath.Join(root, "sys/fs/cgroup")
	low := lowest(base, v2, "memory.max", "memory.high")
	if low == 0 && v1 != "" {
		low = lowest(filepath.Join(base, "memory"), v1, "memory.limit_in_bytes")
	}
	return low
}

// lowest is the lowest limit in files of the cgroup rel and its parents
// up to base, 0 when none is set.
func lowest(base, rel string, files ...string) int64 {
	if rel == "" {
		return 0
	}
	dir := filepath.Join(base, filepath.Clean("/"+rel))
	var low int64
	// Bounded: each step removes a path element, up to the mount point.
	for range 64 {
		for _, f := range files {
			if n := readLimit(filepath.Join(dir, f)); n > 0 && (low == 0 || n < low) {
				low = n
			}
		}
		if dir == base || !strings.HasPrefix(dir, base) {
			break
		}
		dir = filepath.Dir(dir)
	}
	return low
}

// readLimit reads a cgroup memory file: a byte count, or "max" (0).
func readLimit(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	// v1 writes "no limit" as the largest page-aligned int64.
	if err != nil || n <= 0 || n >= 1<<62 {
		return 0
	}
	return n
}
