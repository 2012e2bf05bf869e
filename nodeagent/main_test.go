package nodeagent_test

import (
	"os"
	"testing"

	"github.com/shoalmesh/shoal/nodeagent/cni"
)

func TestMain(m *testing.M) {
	// containerd runs the test binary as the pod network's CNI plugin.
	cni.Main()
	code := m.Run()
	removeTestCgroups()
	os.Exit(code)
}
