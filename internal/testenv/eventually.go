package testenv

import (
	"errors"
	"testing"
	"time"
)

// errNotYet is what a bool condition of Eventually reports while it is false.
var errNotYet = errors.New("condition not met")

// Eventually polls cond until it holds, failing t with what and cond's last
// error once timeout has passed. cond is a func() error (nil when it holds;
// the error says what is still wrong) or a func() bool. Polls start 1 ms
// apart and back off to 50 ms, so a quick condition costs little time and a
// slow one little CPU. Use it for state with nothing to wait on; where there
// is a channel or an event, wait on that.
func Eventually[C func() error | func() bool](t testing.TB, timeout time.Duration, what string, cond C) {
	t.Helper()
	check := func() error {
		switch c := any(cond).(type) {
		case func() error:
			return c()
		case func() bool:
			if c() {
				return nil
			}
		}
		return errNotYet
	}
	start := time.Now()
	for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		err := check()
		if err == nil {
			return
		}
		if time.Since(start) > timeout {
			t.Fatalf("%s: still not so after %v: %v", what, timeout, err)
		}
		time.Sleep(wait)
	}
}
