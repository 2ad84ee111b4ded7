//go:build race

package filter

// raceEnabled: the race detector makes sync.Pool (fastre keeps its
// machines in one) drop items at random, so counts of allocations do not
// hold under it.
const raceEnabled = true
