//go:build linux

package hugepages

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"
)

// TestHeapHugePages: after Heap, what the heap allocates next is backed
// by huge pages, touched with a fraction of the page faults 4 KB pages
// take.
func TestHeapHugePages(t *testing.T) {
	mode, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	if err != nil || strings.Contains(string(mode), "[never]") {
		t.Skipf("transparent huge pages are off here (%q, %v): nothing to test", strings.TrimSpace(string(mode)), err)
	}
	if disabled(os.Getenv) {
		t.Skip("GODEBUG has disablethp=1")
	}
	if !Heap(64 << 20) {
		t.Fatal("Heap(64 MiB): the kernel refused MADV_HUGEPAGE")
	}
	const chunk, n = 2 << 20, 8
	var r0, r1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &r0)
	held := make([][]byte, n)
	for i := range held {
		held[i] = make([]byte, chunk)
		for j := 0; j < chunk; j += 4096 {
			held[i][j] = 1
		}
	}
	syscall.Getrusage(syscall.RUSAGE_SELF, &r1)
	faults := r1.Minflt - r0.Minflt
	small := int64(n * chunk / 4096)
	huge := hugeBytes(t, held)
	t.Logf("%d MiB touched: %d page faults (%d with 4 KB pages), %d MiB of it on huge pages", n*chunk>>20, faults, small, huge>>20)
	if huge == 0 {
		t.Errorf("no huge page backs the %d MiB allocated after Heap", n*chunk>>20)
	}
	if raceEnabled {
		t.Log("race detector: its shadow memory's faults are counted too; faults not checked")
	} else if faults*2 > small {
		t.Errorf("%d page faults to touch %d MiB: 4 KB pages (%d faults) would take about as many", faults, n*chunk>>20, small)
	}
}

// hugeBytes adds up AnonHugePages of the mappings that hold the first
// byte of a slice of held.
func hugeBytes(t *testing.T, held [][]byte) int64 {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	in := func(lo, hi uint64) bool {
		for _, b := range held {
			if p := uint64(uintptr(unsafe.Pointer(unsafe.SliceData(b)))); p >= lo && p < hi {
				return true
			}
		}
		return false
	}
	var total int64
	counting := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if lo, hi, ok := strings.Cut(fields[0], "-"); ok && !strings.HasSuffix(fields[0], ":") {
			l, err1 := strconv.ParseUint(lo, 16, 64)
			h, err2 := strconv.ParseUint(hi, 16, 64)
			if err1 == nil && err2 == nil {
				counting = in(l, h)
				continue
			}
		}
		if counting && fields[0] == "AnonHugePages:" && len(fields) >= 2 {
			kb, _ := strconv.ParseInt(fields[1], 10, 64)
			total += kb << 10
		}
	}
	return total
}
