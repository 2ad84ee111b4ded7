//go:build !linux

package hugepages

func heap(int) bool { return false }
