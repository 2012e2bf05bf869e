package crash

import (
	"testing"
	"time"
)

func TestCrash(t *testing.T) {
	go func() { panic("crashed outside the test's goroutine") }()
	time.Sleep(10 * time.Second)
}
