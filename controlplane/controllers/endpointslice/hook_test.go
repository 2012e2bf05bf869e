package endpointslice

import (
	"testing"

	"github.com/shoalmesh/shoal/controlplane/controllers/controllertest"
)

// countSyncs counts, by key, the reconciles that end without error of every
// controller of this package from now until the test ends. Start the
// controller to observe after calling it.
func countSyncs(t *testing.T) *controllertest.Counts {
	var c controllertest.Counts
	hook := c.Add
	syncedHook.Store(&hook)
	t.Cleanup(func() { syncedHook.Store(nil) })
	return &c
}
