package controllertest

import (
	"errors"
	"testing"
	"time"

	"github.com/shoalmesh/shoal/internal/testenv"
)

// Eventually polls cond (testenv.Eventually) until it holds, failing the
// test with cond's last explanation of why not after 20 s.
func Eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	testenv.Eventually(t, 20*time.Second, what, func() error {
		if ok, why := cond(); !ok {
			return errors.New(why)
		}
		return nil
	})
}
