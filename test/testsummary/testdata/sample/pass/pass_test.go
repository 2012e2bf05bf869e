package pass

import "testing"

func TestPass(t *testing.T) {}

func TestSkip(t *testing.T) { t.Skip("needs kubectl: kubectl not on the PATH") }

func TestSub(t *testing.T) {
	t.Run("skipped", func(t *testing.T) { t.Skipf("no %s here", "python3") })
	t.Run("passed", func(t *testing.T) {})
}
