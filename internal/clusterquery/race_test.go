//go:build race

package clusterquery

// raceEnabled skips allocation checks: the race detector allocates, and
// empties sync.Pools at random.
const raceEnabled = true
