//go:build !race

package fastre

const raceEnabled = false
