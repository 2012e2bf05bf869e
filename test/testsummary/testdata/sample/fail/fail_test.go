package fail

import "testing"

func TestFail(t *testing.T) {
	t.Log("what the test saw")
	t.Error("boom")
}

func TestQuiet(t *testing.T) { t.Log("passing chatter is not printed") }
