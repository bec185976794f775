//go:build !race

package jwtgen

// raceEnabled tells whether the race detector is on: sync.Pool then drops
// items at random, so allocation counts are not checked.
const raceEnabled = false
