//go:build !linux

package listen

import (
	"context"
	"errors"

	"github.com/stockade-ids/stockade/pipeline"
)

// The writer's credentials (SO_PEERCRED, SCM_CREDENTIALS) are what make a
// local socket worth trusting, and they are Linux's.
var errEveLinux = errors.New("listen: eve_socket needs Linux (SO_PEERCRED)")

func (s *EveSocket) runStream(context.Context, chan<- pipeline.Event) error {
	s.markReady()
	return errEveLinux
}

func (s *EveSocket) runDgram(context.Context, chan<- pipeline.Event) error {
	s.markReady()
	return errEveLinux
}
