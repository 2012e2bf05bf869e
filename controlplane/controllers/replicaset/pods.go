package replicaset

import (
	"sort"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// What a ReplicaSet's pods look like to its controllers, as Kubernetes'
// controller_utils.go and podutil judge them.

// podDeletionCost is the annotation by which an operator says which pods of
// a ReplicaSet to remove first on a scale-down (lower first).
const podDeletionCost = "controller.kubernetes.io/pod-deletion-cost"

// PodActive reports whether pod counts towards its ReplicaSet: it is not
// being deleted and has not ended.
func PodActive(pod *corev1.Pod) bool {
	return pod.DeletionTimestamp == nil &&
		pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed
}

// PodReady returns whether pod's Ready condition is True, and since when.
func PodReady(pod *corev1.Pod) (bool, time.Time) {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue, c.LastTransitionTime.Time
		}
	}
	return false, time.Time{}
}

// podAvailable reports whether pod has been ready for minReadySeconds at
// now; if it is ready but not yet available, wait is how long until it is.
func podAvailable(pod *corev1.Pod, minReadySeconds int32, now time.Time) (available bool, wait time.Duration) {
	ready, since := PodReady(pod)
	if !ready {
		return false, 0
	}
	if minReadySeconds == 0 {
		return true, 0
	}
	if since.IsZero() {
		return false, 0
	}
	at := since.Add(time.Duration(minReadySeconds) * time.Second)
	if at.Before(now) {
		return true, 0
	}
	return false, at.Sub(now) + time.Millisecond
}

// PodStats counts one ReplicaSet's pods.
type PodStats struct {
	Active    int32 // not being deleted, not ended
	Ready     int32 // active and Ready
	Available int32 // active and Ready for minReadySeconds
	Labeled   int32 // active and carrying every label of the template
	Present   int32 // not ended, including those being deleted
	// NextAvailable is how long until the next ready pod becomes
	// available (0: none is waiting).
	NextAvailable time.Duration
}

// CountPods counts the pods controlled by each of rsets.
func CountPods(rsets []*appsv1.ReplicaSet, pods []*corev1.Pod, now time.Time) map[types.UID]*PodStats {
	byUID := make(map[types.UID]*appsv1.ReplicaSet, len(rsets))
	out := make(map[types.UID]*PodStats, len(rsets))
	for _, rs := range rsets {
		byUID[rs.UID] = rs
		out[rs.UID] = &PodStats{}
	}
	for _, pod := range pods {
		ref := metav1.GetControllerOfNoCopy(pod)
		if ref == nil {
			continue
		}
		rs, ok := byUID[ref.UID]
		if !ok {
			continue
		}
		out[rs.UID].add(rs, pod, now)
	}
	return out
}

func (s *PodStats) add(rs *appsv1.ReplicaSet, pod *corev1.Pod, now time.Time) {
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return
	}
	s.Present++
	if !PodActive(pod) {
		return
	}
	s.Active++
	if labelsInclude(pod.Labels, rs.Spec.Template.Labels) {
		s.Labeled++
	}
	if ready, _ := PodReady(pod); ready {
		s.Ready++
	}
	available, wait := podAvailable(pod, rs.Spec.MinReadySeconds, now)
	if available {
		s.Available++
	} else if wait > 0 && (s.NextAvailable == 0 || wait < s.NextAvailable) {
		s.NextAvailable = wait
	}
}

func labelsInclude(have, want map[string]string) bool {
	for k, v := range want {
		if got, ok := have[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// podsForDeletion orders a ReplicaSet's surplus pods as Kubernetes'
// ActivePodsWithRanks does, the first to delete first: unscheduled before
// scheduled; Pending, Unknown, Running; not ready before ready; lower
// deletion cost; more pods of the set on the same node; ready for less time;
// more restarts; newer.
func podsForDeletion(pods []*corev1.Pod) []*corev1.Pod {
	onNode := map[string]int{}
	for _, p := range pods {
		if p.Spec.NodeName != "" {
			onNode[p.Spec.NodeName]++
		}
	}
	ranked := make([]rankedPod, len(pods))
	for i, p := range pods {
		ready, since := PodReady(p)
		cost, _ := strconv.ParseInt(p.Annotations[podDeletionCost], 10, 32)
		ranked[i] = rankedPod{pod: p, ready: ready, readySince: since, cost: cost,
			doubledUp: onNode[p.Spec.NodeName], restarts: maxRestarts(p)}
	}
	sort.SliceStable(ranked, func(i, j int) bool { return ranked[i].deleteBefore(&ranked[j]) })
	out := make([]*corev1.Pod, len(ranked))
	for i := range ranked {
		out[i] = ranked[i].pod
	}
	return out
}

type rankedPod struct {
	pod        *corev1.Pod
	ready      bool
	readySince time.Time
	cost       int64
	doubledUp  int
	restarts   int32
}

var deletionPhaseOrder = map[corev1.PodPhase]int{corev1.PodPending: 0, corev1.PodUnknown: 1, corev1.PodRunning: 2}

func (a *rankedPod) deleteBefore(b *rankedPod) bool {
	pa, pb := a.pod, b.pod
	if (pa.Spec.NodeName == "") != (pb.Spec.NodeName == "") {
		return pa.Spec.NodeName == ""
	}
	if deletionPhaseOrder[pa.Status.Phase] != deletionPhaseOrder[pb.Status.Phase] {
		return deletionPhaseOrder[pa.Status.Phase] < deletionPhaseOrder[pb.Status.Phase]
	}
	if a.ready != b.ready {
		return !a.ready
	}
	if a.cost != b.cost {
		return a.cost < b.cost
	}
	if a.doubledUp != b.doubledUp {
		return a.doubledUp > b.doubledUp
	}
	if a.ready && b.ready && !a.readySince.Equal(b.readySince) {
		return afterOrZero(a.readySince, b.readySince)
	}
	if a.restarts != b.restarts {
		return a.restarts > b.restarts
	}
	ca, cb := pa.CreationTimestamp.Time, pb.CreationTimestamp.Time
	if !ca.Equal(cb) {
		return afterOrZero(ca, cb)
	}
	return false
}

// afterOrZero reports whether a is later than b, a zero time being latest.
func afterOrZero(a, b time.Time) bool {
	if a.IsZero() || b.IsZero() {
		return a.IsZero()
	}
	return a.After(b)
}

func maxRestarts(p *corev1.Pod) int32 {
	var n int32
	for _, s := range p.Status.ContainerStatuses {
		n = max(n, s.RestartCount)
	}
	return n
}
