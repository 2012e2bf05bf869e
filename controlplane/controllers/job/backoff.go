package job

import (
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Back-off after pod failures, as Kubernetes' backoff_utils.go: a Job whose
// pods failed n times since its last success creates no replacement until
// base·2^(n-1) (at most max) has passed since the last failure.

// backoffRecord is one Job's failures since its last success.
type backoffRecord struct {
	failures    int32
	lastFailure time.Time
}

// remaining is how long the Job still waits before creating a pod, at now.
func (b backoffRecord) remaining(now time.Time, base, maxDelay time.Duration) time.Duration {
	if b.failures == 0 {
		return 0
	}
	delay := base
	for i := int32(1); i < b.failures; i++ {
		delay *= 2
		if delay >= maxDelay {
			delay = maxDelay
			break
		}
	}
	if elapsed := now.Sub(b.lastFailure); elapsed < delay {
		return delay - elapsed
	}
	return 0
}

// next is the record after the pods that newly succeeded and failed: a
// success resets the count to the failures after it.
func (b backoffRecord) next(succeeded, failed []*corev1.Pod) backoffRecord {
	if len(failed) == 0 && len(succeeded) == 0 {
		return b
	}
	times := func(pods []*corev1.Pod) []time.Time {
		out := make([]time.Time, len(pods))
		for i, p := range pods {
			out[i] = finishedAt(p)
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
		return out
	}
	ft := times(failed)
	if len(succeeded) == 0 {
		return backoffRecord{failures: b.failures + int32(len(ft)), lastFailure: ft[len(ft)-1]}
	}
	st := times(succeeded)
	lastSuccess := st[len(st)-1]
	var out backoffRecord
	for i := len(ft) - 1; i >= 0 && ft[i].After(lastSuccess); i-- {
		if out.failures == 0 {
			out.lastFailure = ft[i]
		}
		out.failures++
	}
	return out
}

// finishedAt is when a pod finished: its last container's end, else when
// it stopped being ready, else when it was deleted, else when it was made.
func finishedAt(p *corev1.Pod) time.Time {
	var latest time.Time
	for _, s := range append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...) {
		if t := s.State.Terminated; t != nil && t.FinishedAt.After(latest) {
			latest = t.FinishedAt.Time
		}
	}
	if !latest.IsZero() {
		return latest
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionFalse && !c.LastTransitionTime.IsZero() {
			return c.LastTransitionTime.Time
		}
	}
	if p.DeletionTimestamp != nil {
		return p.DeletionTimestamp.Time
	}
	return p.CreationTimestamp.Time
}

// backoffs holds the records of every Job by key. They live in memory, as
// in Kubernetes: a new leader starts without back-off.
type backoffs struct {
	mu sync.Mutex
	m  map[string]backoffRecord
}

func (b *backoffs) get(key string) backoffRecord {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.m[key]
}

func (b *backoffs) set(key string, r backoffRecord) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = map[string]backoffRecord{}
	}
	if r.failures == 0 {
		delete(b.m, key)
		return
	}
	b.m[key] = r
}
