package bus

import "time"

// RefusalLogEvery is how often one reason of refusal is logged: a flood
// of forgeries must not flood the journal.
const RefusalLogEvery = 10 * time.Second

// RefusalLog rate-limits the logging of refused deliveries, per reason (a
// Source's, a firewall's). Its zero value is ready; it is not safe for
// concurrent use.
type RefusalLog struct {
	byReason map[string]*refusalLog
}

type refusalLog struct {
	last       time.Time
	suppressed int
}

// Due says whether a refusal for r may be logged now, and how many were
// not since the last one logged; when it may not, it counts this one.
func (l *RefusalLog) Due(r string, now time.Time) (suppressed int, due bool) {
	if l.byReason == nil {
		l.byReason = map[string]*refusalLog{}
	}
	rl := l.byReason[r]
	if rl == nil {
		rl = &refusalLog{}
		l.byReason[r] = rl
	}
	if now.Sub(rl.last) < RefusalLogEvery {
		rl.suppressed++
		return 0, false
	}
	suppressed = rl.suppressed
	rl.last, rl.suppressed = now, 0
	return suppressed, true
}
