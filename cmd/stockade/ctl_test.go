package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/control"
)

// TestPrintStatusMemory: status names the memory limit and the heap when
// the daemon says them, and an older daemon's reply (none) prints as before.
func TestPrintStatusMemory(t *testing.T) {
	var b strings.Builder
	printStatus(&b, &control.Status{Since: time.Unix(0, 0), Memory: "224MiB (default)", HeapBytes: 150 << 20}, false)
	if !strings.Contains(b.String(), "|- Memory limit:\t224MiB (default), heap 150 MiB\n`- Rules:") {
		t.Errorf("status with a memory limit:\n%s", b.String())
	}
	b.Reset()
	printStatus(&b, &control.Status{Since: time.Unix(0, 0)}, false)
	if strings.Contains(b.String(), "Memory") || !strings.Contains(b.String(), "|- Tracked windows:\t0\n`- Rules:") {
		t.Errorf("status without one:\n%s", b.String())
	}
}
