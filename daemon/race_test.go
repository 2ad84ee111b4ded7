//go:build race

package daemon

// raceEnabled: the race detector slows every memory access some tenfold,
// so tests that time work (a regex's cost a byte) do not hold under it.
const raceEnabled = true
