//go:build linux

package hugepages

import (
	"bytes"
	"math/bits"
	"os"
	"runtime"
	"syscall"
	"unsafe"
)

// madvHugepage is MADV_HUGEPAGE (asm-generic/mman-common.h), the same on
// every Linux architecture.
const madvHugepage = 14

func heap(size int) bool {
	if bits.UintSize < 64 || strictCommit() {
		return false
	}
	ok := advise(size)
	// The span is garbage now: collected, its pages go back to the
	// runtime's free pages still mapped, still advised.
	runtime.GC()
	return ok
}

// advise allocates size bytes, fresh address space the runtime maps in
// one piece (an allocation this large finds no free pages to reuse in a
// young heap), advises it MADV_HUGEPAGE and drops it. A large object starts
// on a page of its own: the address is page-aligned, as madvise wants.
//
//go:noinline
func advise(size int) bool {
	b := make([]byte, size)
	p := unsafe.Pointer(unsafe.SliceData(b))
	_, _, errno := syscall.Syscall(syscall.SYS_MADVISE, uintptr(p), uintptr(size), madvHugepage)
	runtime.KeepAlive(b)
	return errno == 0
}

// strictCommit reports whether the kernel counts mapped memory against a
// commit limit (vm.overcommit_memory = 2): there a mapping of size bytes,
// touched or not, could leave the rest of the run short of memory.
func strictCommit() bool {
	b, err := os.ReadFile("/proc/sys/vm/overcommit_memory")
	return err == nil && string(bytes.TrimSpace(b)) == "2"
}
