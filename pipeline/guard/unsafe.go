package guard

import "unsafe"

// unsafePointer views the start of b as a netlink header or payload
// struct; b is always at least as long as the struct (checked by callers).
func unsafePointer(b []byte) unsafe.Pointer { return unsafe.Pointer(&b[0]) }
