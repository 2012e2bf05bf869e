package nodeagent

import "k8s.io/apimachinery/pkg/types"

// What the integration tests (package nodeagent_test, which can import
// cluster/clustertest) need to see of an agent.

// InitPid is the PID of the init of the pod's running container, or 0.
func InitPid(a *Agent, uid types.UID, container string) int {
	w := a.worker(uid)
	if w == nil {
		return 0
	}
	for _, r := range w.loadView().runs {
		if r.Spec().Name == container {
			return r.Pid()
		}
	}
	return 0
}

// SetKeepPodsOnStop changes, before it stops, whether a running agent
// keeps its pods.
func SetKeepPodsOnStop(a *Agent, keep bool) { a.cfg.KeepPodsOnStop = keep }
