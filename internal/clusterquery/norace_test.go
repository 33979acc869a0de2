//go:build !race

package clusterquery

const raceEnabled = false
