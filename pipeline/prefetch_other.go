//go:build !amd64

package pipeline

import "unsafe"

// prefetch is a hint that only amd64 takes.
func prefetch(p unsafe.Pointer) {}
