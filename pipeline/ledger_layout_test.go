package pipeline

import (
	"testing"
	"unsafe"
)

// TestActiveBanLayout: what Ban reads of a target's ban when the rule
// asks again (records, and its first record's rule and end) lies in the
// ban's first 64 bytes, and the ban is a size the allocator aligns to 64
// bytes, so that the check costs one cache line. A field added to
// activeBan or BanInfo changes the size: adjust banPad.
func TestActiveBanLayout(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("banPad is sized for 64-bit words")
	}
	var b activeBan
	hot := unsafe.Offsetof(b.one) + unsafe.Offsetof(b.one[0].expires) + unsafe.Sizeof(b.one[0].expires)
	if hot > 64 {
		t.Errorf("records and the first record end at byte %d of the ban, past its first cache line", hot)
	}
	if size := unsafe.Sizeof(b); size != 256 {
		t.Errorf("an activeBan is %d bytes, not 256 (banPad is %d): its size class no longer keeps it aligned to a cache line", size, banPad)
	}
}
