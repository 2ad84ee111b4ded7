//go:build !linux

package listen

import "syscall"

func setReadBuffer(c syscall.Conn, want int) (int, error) {
	if b, ok := c.(interface{ SetReadBuffer(int) error }); ok {
		return want, b.SetReadBuffer(want)
	}
	return 0, nil
}
