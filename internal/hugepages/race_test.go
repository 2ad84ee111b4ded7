//go:build race

package hugepages

// raceEnabled: under the race detector every write also touches its
// shadow memory, 4 KB pages of the detector's own, so page faults do not
// count the heap's alone.
const raceEnabled = true
