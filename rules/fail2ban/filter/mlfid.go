package filter

// fail2ban's multi-line failures (<F-MLFID>): the failure dict the lines
// of one connection build up, and the bounded cache that holds the open
// connections (fail2ban calls them sessions; here a Session is a log's
// whole state).

import "time"

// value is a Python value of a failure's dict: a string, or None; in
// says the key is in the dict at all.
type value struct {
	s       string
	set, in bool
}

func (v value) truthy() bool { return v.set && v.s != "" }

// failure is fail2ban's failure dict: the groups of the regexes that
// matched (a value per slot of the filter's names), and the connection's
// users and matched lines.
type failure struct {
	g             []value
	users         []string // a set, in insertion order
	matches       []string
	nofailMatches []string
	pending       bool // a failure that waits for the connection's address
}

func (f *failure) get(k int) value { return f.g[k] }

// updateUsers is fail2ban's _updateUsers: nil (None) unless user is set.
func (f *failure) updateUsers(user value) []string {
	if !user.truthy() {
		return nil
	}
	for _, u := range f.users {
		if u == user.s {
			return f.users
		}
	}
	f.users = append(f.users, user.s)
	return f.users
}

// Connections: fail2ban keeps at most 100, each for 5 minutes.
const (
	mlfMax = 100
	mlfTTL = 5 * time.Minute
)

type mlfEntry struct {
	key     string
	fail    *failure
	expires time.Time
}

// mlfCache is fail2ban's Utils.Cache for connections: FIFO, bounded, expiring
// (on event time here, so that replays are deterministic).
type mlfCache struct {
	order []*mlfEntry
	keys  keyTable
	// free holds entries dropped from the cache, for the next
	// connection: sshd opens one per client.
	free []*mlfEntry
	// fails holds the failures of entries dropped (with their groups
	// map and line slices), for the next match: the cache is the only
	// holder of a connection's failure, and what a Result reports of one
	// is a copy. Cleared when taken (see Session.takeFailure), not when
	// dropped: the failure of a connection forgotten (<F-MLFFORGET>) is
	// still read by the line that forgets it.
	fails []*failure
}

// drop returns an entry no longer in the cache, and its failure, to the
// free lists.
func (c *mlfCache) drop(e *mlfEntry) {
	if e.fail != nil && len(c.fails) < mlfMax {
		c.fails = append(c.fails, e.fail)
	}
	*e = mlfEntry{}
	if len(c.free) < mlfMax {
		c.free = append(c.free, e)
	}
}

func (c *mlfCache) get(k string, now time.Time) *failure {
	e := c.keys.get(k)
	if e == nil {
		return nil
	}
	if !now.Before(e.expires) {
		c.unset(k)
		return nil
	}
	return e.fail
}

func (c *mlfCache) set(k string, f *failure, now time.Time) {
	if e := c.keys.get(k); e != nil {
		e.fail, e.expires = f, now.Add(mlfTTL)
		return
	}
	c.add(k, f, now)
}

// add is set for a key the cache does not hold (get just said so): a
// look-up less on every line of a new connection.
func (c *mlfCache) add(k string, f *failure, now time.Time) {
	if len(c.order) >= mlfMax {
		// Drop from the oldest until one still alive leaves room.
		for len(c.order) > 0 {
			e := c.order[0]
			c.order = c.order[1:]
			c.keys.del(e.key)
			alive := e.expires.After(now)
			c.drop(e)
			if alive && len(c.order) < mlfMax {
				break
			}
		}
	}
	var e *mlfEntry
	if n := len(c.free); n > 0 {
		e, c.free = c.free[n-1], c.free[:n-1]
	} else {
		e = new(mlfEntry)
	}
	*e = mlfEntry{key: k, fail: f, expires: now.Add(mlfTTL)}
	c.order = append(c.order, e)
	c.keys.put(e)
}

func (c *mlfCache) unset(k string) {
	x := c.keys.del(k)
	if x == nil {
		return
	}
	for i, e := range c.order {
		if e == x {
			c.order = append(c.order[:i], c.order[i+1:]...)
			c.drop(e)
			break
		}
	}
}

// mergeFailure is fail2ban's _mergeFailure: the lines of one connection
// (<F-MLFID>) add up to one failure and its users are collected; a helper
// line (<F-NOFAIL>) or a success (<F-MLFGAINED>) keeps its lines back
// until a failure comes; a failure found before the connection's address is
// pending, and becomes a failure when a later line names the address; a
// connection's lines are counted in one failure only once. kept says the
// cache now holds fail as the connection's.
func (s *Session) mergeFailure(mlfid string, fail *failure, matched []string, now time.Time) (merged *failure, kept bool) {
	cached := s.mlf.get(mlfid, now)
	sl := &s.f.sl
	var users []string
	nf := 0
	if fail.get(sl.mlfgained).truthy() {
		nf |= 9
		if !fail.get(sl.nofail).truthy() {
			fail.g[sl.nofail] = fail.get(sl.mlfgained)
		}
	} else if fail.get(sl.nofail).truthy() {
		nf |= 1
	}
	if fail.pop(sl.mlfforget).truthy() {
		nf |= 2
	}
	if cached != nil {
		users = cached.updateUsers(fail.get(sl.user))
		if cached.pop(sl.nofail).truthy() {
			nf |= 4
		}
		if cached.pop(sl.mlfgained).truthy() {
			nf |= 4
		}
		if nf&4 == 0 && !cached.pending {
			// The lines so far were counted in a failure already.
			cached.matches = cached.matches[:0]
		}
		for k, v := range fail.g {
			if v.set {
				cached.g[k] = v
			}
		}
		fail = cached
		if nf&2 != 0 {
			s.mlf.unset(mlfid)
		}
	} else if nf&2 == 0 {
		users = fail.updateUsers(fail.get(sl.user))
		s.mlf.add(mlfid, fail, now)
		kept = true
	}
	pending := fail.pending
	fail.pending = false
	if pending || len(users) > 1 {
		// A pending failure, or another user tried: no longer a helper.
		fail.g[sl.nofail], fail.g[sl.mlfgained] = value{}, value{}
		nf &^= 9
	}
	switch {
	case nf&1 == 0:
		// The helper lines first; without any, the failure's own slice
		// (and its room) serves.
		m := fail.matches
		if len(fail.nofailMatches) > 0 {
			m = append(fail.nofailMatches, fail.matches...)
		}
		fail.nofailMatches = nil
		if nf&8 == 0 {
			m = append(m, matched...)
		}
		fail.matches = m
	case nf&3 == 1:
		fail.nofailMatches = append(fail.nofailMatches, matched...)
	}
	return fail, kept
}

func (f *failure) pop(k int) value {
	v := f.g[k]
	f.g[k] = value{}
	return v
}
