package nodeagent

import (
	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// CPU arithmetic of the kubelet (pkg/kubelet/cm): 1024 shares a CPU, at
// least 2; a CFS quota per 100 ms period, at least 1 ms.
const (
	sharesPerCPU   = 1024
	minShares      = 2
	quotaPeriod    = 100000 // µs
	minQuotaPeriod = 1000   // µs
)

// containerResources are c's cgroup limits as the kubelet sets them: CPU
// shares from its request (its limit when it has no request), a CFS quota
// from its CPU limit, and its memory limit.
func containerResources(c *corev1.Container) *runtimeapi.LinuxContainerResources {
	r := &runtimeapi.LinuxContainerResources{}
	req, hasReq := c.Resources.Requests[corev1.ResourceCPU]
	lim, hasLim := c.Resources.Limits[corev1.ResourceCPU]
	switch {
	case hasReq && !req.IsZero():
		r.CpuShares = milliToShares(req.MilliValue())
	case hasLim:
		r.CpuShares = milliToShares(lim.MilliValue())
	default:
		r.CpuShares = minShares
	}
	if hasLim && !lim.IsZero() {
		r.CpuPeriod = quotaPeriod
		r.CpuQuota = max(lim.MilliValue()*quotaPeriod/1000, minQuotaPeriod)
	}
	if mem, ok := c.Resources.Limits[corev1.ResourceMemory]; ok {
		r.MemoryLimitInBytes = mem.Value()
	}
	return r
}

func milliToShares(milli int64) int64 {
	return max(milli*sharesPerCPU/1000, minShares)
}
