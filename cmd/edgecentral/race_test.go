//go:build race

package main

// raceEnabled: this test binary runs with the race detector, which takes
// 5-10 times the memory: RSS targets do not apply.
const raceEnabled = true
