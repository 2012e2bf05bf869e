package scheduler

import (
	corev1 "k8s.io/api/core/v1"
)

// resources are what a pod asks for, or a node has, in the units the
// scheduler compares: milli-cores and bytes.
type resources struct {
	milliCPU int64
	memory   int64
}

func (r resources) plus(o resources) resources {
	return resources{milliCPU: r.milliCPU + o.milliCPU, memory: r.memory + o.memory}
}

func (r resources) minus(o resources) resources {
	return resources{milliCPU: r.milliCPU - o.milliCPU, memory: r.memory - o.memory}
}

// What kube-scheduler assumes a container uses when it asks for nothing, so
// that scoring still spreads such pods (its GetNonzeroRequests).
const (
	defaultMilliCPURequest int64 = 100
	defaultMemoryRequest   int64 = 200 << 20
)

func listResources(l corev1.ResourceList) resources {
	var r resources
	if q, ok := l[corev1.ResourceCPU]; ok {
		r.milliCPU = q.MilliValue()
	}
	if q, ok := l[corev1.ResourceMemory]; ok {
		r.memory = q.Value()
	}
	return r
}

// containerRequests is what a container asks for: its requests, or its
// limits where it states only those (as Kubernetes' defaulting makes them).
func containerRequests(c *corev1.Container) resources {
	r := listResources(c.Resources.Requests)
	lim := listResources(c.Resources.Limits)
	if _, ok := c.Resources.Requests[corev1.ResourceCPU]; !ok {
		r.milliCPU = lim.milliCPU
	}
	if _, ok := c.Resources.Requests[corev1.ResourceMemory]; !ok {
		r.memory = lim.memory
	}
	return r
}

// podRequests is what a pod needs on a node, as Kubernetes computes it: the
// sum over its containers or the largest init container, whichever is
// larger, plus its overhead. nonzero is the same with kube-scheduler's
// defaults for containers that ask for nothing, which scoring uses.
func podRequests(pod *corev1.Pod) (req, nonzero resources) {
	for i := range pod.Spec.Containers {
		c := containerRequests(&pod.Spec.Containers[i])
		req = req.plus(c)
		nonzero = nonzero.plus(withDefaults(c))
	}
	for i := range pod.Spec.InitContainers {
		c := containerRequests(&pod.Spec.InitContainers[i])
		req = maxResources(req, c)
		nonzero = maxResources(nonzero, withDefaults(c))
	}
	if pod.Spec.Overhead != nil {
		o := listResources(pod.Spec.Overhead)
		req, nonzero = req.plus(o), nonzero.plus(o)
	}
	return req, nonzero
}

func withDefaults(r resources) resources {
	if r.milliCPU == 0 {
		r.milliCPU = defaultMilliCPURequest
	}
	if r.memory == 0 {
		r.memory = defaultMemoryRequest
	}
	return r
}

func maxResources(a, b resources) resources {
	return resources{milliCPU: max(a.milliCPU, b.milliCPU), memory: max(a.memory, b.memory)}
}
