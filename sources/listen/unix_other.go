//go:build !linux

package listen

import (
	"context"
	"errors"
	"net"
)

// bindUnix fails: the sender's credentials on each datagram (SO_PASSCRED)
// are what make a local socket worth trusting, and they are Linux's.
func bindUnix(string) (*net.UnixConn, error) {
	return nil, errors.New("a unix listener needs Linux (SO_PASSCRED)")
}

func (s *Syslog) serveUnix(context.Context, *net.UnixConn, output) error {
	return errors.New("a unix listener needs Linux")
}
