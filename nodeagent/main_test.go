package nodeagent_test

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	code := m.Run()
	removeTestCgroups()
	os.Exit(code)
}
