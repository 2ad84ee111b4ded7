//go:build !linux

package listen

import "net"

const oobSize = 0

func setReadBuffer(c *net.UDPConn, want int) (int, error) {
	return want, c.SetReadBuffer(want)
}

// reportDrops is a no-op: the kernel drop count is a Linux socket option.
func reportDrops(*net.UDPConn) error { return nil }

func dropCount([]byte) (uint32, bool) { return 0, false }
