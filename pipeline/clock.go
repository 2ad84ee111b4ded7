package pipeline

import (
	"sync"
	"time"
)

// Clock tells the engine what time it is. Windows, ban expiry and offense
// history all read it, never time.Now, so that a replay of last month
// decides exactly what the live daemon decided then.
type Clock interface {
	Now() time.Time
}

// EventClock is driven by event time: it reads the latest event time seen.
// Out-of-order lines (several writers to one syslog file) never move it
// backwards. Live mode also advances it from a wall-clock ticker so bans
// expire while the logs are quiet.
type EventClock struct {
	mu  sync.Mutex
	now time.Time
}

// Advance moves the clock to t if t is later; it returns the clock's time.
// Only the engine's goroutine advances the clock (others read it with
// Now), so it may read now without the lock: it takes the lock, two atomic
// operations, only to move it.
func (c *EventClock) Advance(t time.Time) time.Time {
	if !t.After(c.now) {
		return c.now
	}
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
	return t
}

func (c *EventClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}
