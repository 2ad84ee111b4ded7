package enforce

import "time"

// RefusalLogEvery is how often one reason of refusal is logged: a flood
// of forgeries must not flood the journal.
const RefusalLogEvery = 10 * time.Second

// RefusalLog rate-limits the logging of refusals, per reason. Its zero
// value is ready; it is not safe for concurrent use.
type RefusalLog struct {
	byReason map[Reason]*refusalLog
}

type refusalLog struct {
	last       time.Time
	suppressed int
}

// Due says whether a refusal for r may be logged now, and how many were
// not since the last one logged; when it may not, it counts this one.
func (l *RefusalLog) Due(r Reason, now time.Time) (suppressed int, due bool) {
	if l.byReason == nil {
		l.byReason = map[Reason]*refusalLog{}
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
