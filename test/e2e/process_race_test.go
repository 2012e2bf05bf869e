//go:build race

package e2e

// raceEnabled builds the child shoal with -race too when the tests run with
// it, so a data race in the real binary fails the test that saw it.
const raceEnabled = true
