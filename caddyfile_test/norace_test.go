//go:build !race

package caddyfile_test

// raceDetector is set when the tests run with -race, whose shadow memory
// multiplies a process's memory use.
const raceDetector = false
