//go:build race

package store

// raceEnabled: the race detector slows every memory access some tenfold;
// the tests of a store of tens of megabytes, which one goroutine reads
// and writes, are left to the plain run.
const raceEnabled = true
