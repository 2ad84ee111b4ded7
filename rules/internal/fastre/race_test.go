//go:build race

package fastre

// raceEnabled: the race detector makes sync.Pool drop items at random, so
// tests of allocations and of pooled counters do not hold under it.
const raceEnabled = true
