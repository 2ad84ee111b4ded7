// Package hugepages asks Linux to back the Go heap of a short run with
// transparent huge pages.
//
// A replay is a process that starts with an empty heap and grows it to
// tens or hundreds of MB in under a second, so every 4 KB page of it is
// touched for the first time: a page fault each, the kernel zeroing the
// page, and under a hypervisor the host backing it too. On the machine the
// performance figures come from, a page touched first costs about 11 µs
// (48 MB of fresh memory: 12,288 faults, 135 ms), a quarter of an
// eve.json replay's time; a huge page takes the place of 512 of those
// faults. Most Linux distributions leave transparent huge pages to the
// programs that ask for them (enabled = madvise, Debian's and Ubuntu's
// default), and Go's runtime does not ask for its heap.
//
// Heap asks for them the way the JVM's UseTransparentHugePages does: the
// heap's next size bytes of address space are mapped at once, advised
// MADV_HUGEPAGE and given back to the runtime, which then allocates from
// them lowest address first. The mapping is virtual: nothing is touched,
// and a huge page is faulted in only where the heap grows into it. It is
// meant for runs that touch all they allocate within seconds (replay); a
// long-running daemon's heap, which the collector keeps sparse and under a
// memory bound, is left to the kernel's defaults.
package hugepages

import (
	"os"
	"strings"
)

// disabled reports whether the environment turns huge pages off for the
// Go heap: GODEBUG's disablethp=1, the runtime's own switch for it.
func disabled(getenv func(string) string) bool {
	on := false
	for kv := range strings.SplitSeq(getenv("GODEBUG"), ",") {
		if k, v, ok := strings.Cut(strings.TrimSpace(kv), "="); ok && k == "disablethp" {
			on = v == "1" // the last setting wins, as in the runtime
		}
	}
	return on
}

// Heap makes the next size bytes of the Go heap eligible for transparent
// huge pages, unless GODEBUG says disablethp=1. It reports whether the
// kernel took the advice (false also where there is no such advice: other
// systems, 32-bit builds). It runs a collection, cheap at a run's start
// while the heap is small.
func Heap(size int) bool {
	if size <= 0 || disabled(os.Getenv) {
		return false
	}
	return heap(size)
}
