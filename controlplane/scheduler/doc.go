// Package scheduler places pending pods on nodes, as kube-scheduler does,
// and scores by measured load as well as by requests.
//
// It watches pods and nodes through the process's shared caches. A pending
// pod (no spec.nodeName, not finished, not being deleted, spec.schedulerName
// "default-scheduler") is filtered against every node: Ready, not cordoned
// (spec.unschedulable), NoSchedule and NoExecute taints tolerated,
// nodeSelector and required node affinity matched, CPU and memory requests
// (and the pod count) within allocatable minus what is placed. Placed means
// the pods bound to the node and not finished, plus those this scheduler has
// bound but the cache does not show yet (kube-scheduler's assumed pods), so
// that a burst of pods spreads without waiting for etcd. The feasible nodes
// are scored (see score.go) by LeastAllocated on requests and by the load the
// node agent measured (LoadSource; by default LeaseLoad, the reports on node
// Leases, format in api.LoadReport), and the pod is bound to the best one
// through registry.Bind: the pods/binding subresource without the HTTP.
//
// A pod that fits nowhere gets PodScheduled=False, reason Unschedulable, with
// kube-scheduler's message ("0/3 nodes are available: 1 node(s) had
// untolerated taint {k: v}, 2 Insufficient cpu."), and a FailedScheduling
// event. It is tried again at once when a node appears or changes or a placed
// pod goes away, and otherwise with exponential back-off (1 s to 10 s).
//
// One scheduler is active per cluster. It runs under its own leader election
// (ElectionKey, with controller.RunElection), not inside the controllers':
// the scheduler is the hot path of a scale-up (thousands of decisions and
// bindings a second) and a separate lease lets it lead on a different replica
// from the controllers, spreading that CPU; each part also fails over and
// restarts on its own, as kube-scheduler and kube-controller-manager do.
// The cost is one more etcd session per replica, a keep-alive every couple of
// seconds. Correctness does not depend on both running in one process:
// bindings are compare-and-swaps that refuse a bound pod.
package scheduler
