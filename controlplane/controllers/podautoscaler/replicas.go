package podautoscaler

import (
	"errors"
	"fmt"
	"math"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// The replica calculator: how many pods a metric asks for, as Kubernetes'
// replica_calculator.go computes it. Values are in milli-units (a CPU
// usage of 250m is 250), as Kubernetes counts them.

// podMetric is one pod's measured value and when and over what window it
// was measured.
type podMetric struct {
	value     int64
	timestamp time.Time
	window    time.Duration
}

// podMetrics are measured values by pod name.
type podMetrics map[string]podMetric

// calculator holds the algorithm's parameters.
type calculator struct {
	// tolerance is the relative change below which nothing is scaled
	// (Kubernetes' 10%).
	tolerance float64
	// cpuInitializationPeriod is how long after a pod starts its CPU
	// samples are judged by its readiness; initialReadinessDelay how long
	// after it starts a not-ready pod counts as never having been ready.
	cpuInitializationPeriod, initialReadinessDelay time.Duration
	now                                            time.Time
}

var (
	errNoPods      = errors.New("no pods returned by selector while calculating replica count")
	errNoPodMetric = errors.New("did not receive metrics for targeted pods (pods might be unready)")
)

// groupPods sorts pods as Kubernetes does: ignored (being deleted or
// failed), unready (pending, or for CPU not ready yet or measured before
// it was), missing (no metric) and ready (counted).
func (c calculator) groupPods(pods []*corev1.Pod, metrics podMetrics, resource corev1.ResourceName) (readyCount int, unready, missing, ignored map[string]bool) {
	unready, missing, ignored = map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, pod := range pods {
		if pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodFailed {
			ignored[pod.Name] = true
			continue
		}
		if pod.Status.Phase == corev1.PodPending {
			unready[pod.Name] = true
			continue
		}
		metric, found := metrics[pod.Name]
		if !found {
			missing[pod.Name] = true
			continue
		}
		if resource == corev1.ResourceCPU && c.cpuUnready(pod, metric) {
			unready[pod.Name] = true
			continue
		}
		readyCount++
	}
	return readyCount, unready, missing, ignored
}

// cpuUnready reports whether a pod's CPU sample does not count: a pod that
// is not ready and has never been, or that is starting and was measured
// before it became ready.
func (c calculator) cpuUnready(pod *corev1.Pod, metric podMetric) bool {
	var cond *corev1.PodCondition
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == corev1.PodReady {
			cond = &pod.Status.Conditions[i]
		}
	}
	if cond == nil || pod.Status.StartTime == nil {
		return true
	}
	start := pod.Status.StartTime.Time
	if start.Add(c.cpuInitializationPeriod).After(c.now) {
		return cond.Status == corev1.ConditionFalse || metric.timestamp.Before(cond.LastTransitionTime.Add(metric.window))
	}
	return cond.Status == corev1.ConditionFalse && start.Add(c.initialReadinessDelay).After(cond.LastTransitionTime.Time)
}

// requests is each pod's request of resource, summed over its containers
// (and restartable init containers); a container without one is an
// error, since utilization is measured against it.
func requests(pods []*corev1.Pod, resource corev1.ResourceName) (map[string]int64, error) {
	out := make(map[string]int64, len(pods))
	for _, pod := range pods {
		containers := pod.Spec.Containers
		for _, c := range pod.Spec.InitContainers {
			if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
				containers = append(containers[:len(containers):len(containers)], c)
			}
		}
		var sum int64
		for _, c := range containers {
			q, ok := c.Resources.Requests[resource]
			if !ok {
				return nil, fmt.Errorf("missing request for %s in container %s of Pod %s", resource, c.Name, pod.Name)
			}
			sum += q.MilliValue()
		}
		out[pod.Name] = sum
	}
	return out, nil
}

// utilization is the usage of the pods with requests as a percentage of
// those requests, its ratio to the target, and the raw average usage.
func utilization(metrics podMetrics, reqs map[string]int64, target int32) (ratio float64, percent int32, rawAverage int64, err error) {
	var used, requested int64
	n := 0
	for name, m := range metrics {
		r, ok := reqs[name]
		if !ok {
			continue
		}
		used += m.value
		requested += r
		n++
	}
	if requested == 0 {
		return 0, 0, 0, errors.New("no metrics returned matched known pods")
	}
	percent = int32(used * 100 / requested)
	return float64(percent) / float64(target), percent, used / int64(n), nil
}

// average is the mean value of metrics and its ratio to target.
func average(metrics podMetrics, target int64) (ratio float64, avg int64) {
	var sum int64
	for _, m := range metrics {
		sum += m.value
	}
	avg = sum / int64(len(metrics))
	return float64(avg) / float64(target), avg
}

// resourceReplicas is the replica count a Utilization target of a resource
// asks for, with the current utilization (percent) and raw average.
func (c calculator) resourceReplicas(current, target int32, resource corev1.ResourceName, pods []*corev1.Pod, metrics podMetrics) (int32, int32, int64, error) {
	if len(pods) == 0 {
		return 0, 0, 0, errNoPods
	}
	readyCount, unready, missing, ignored := c.groupPods(pods, metrics, resource)
	metrics = without(metrics, ignored, unready)
	if len(metrics) == 0 {
		return 0, 0, 0, errNoPodMetric
	}
	reqs, err := requests(pods, resource)
	if err != nil {
		return 0, 0, 0, err
	}
	ratio, percent, raw, err := utilization(metrics, reqs, target)
	if err != nil {
		return 0, 0, 0, err
	}
	// On a scale-down, a pod without a sample counts as using its whole
	// request (or the target, if higher); on a scale-up, as using nothing,
	// as does a pod not yet ready: neither may push the scale further.
	fill := func(name string, v int64) { metrics[name] = podMetric{value: v} }
	replicas := c.adjust(current, readyCount, ratio, len(unready), len(missing), func() (float64, int) {
		for name := range missing {
			if ratio < 1 {
				fill(name, reqs[name]*int64(max(100, target))/100)
			} else if ratio > 1 {
				fill(name, 0)
			}
		}
		if ratio > 1 {
			for name := range unready {
				fill(name, 0)
			}
		}
		r, _, _, _ := utilization(metrics, reqs, target)
		return r, len(metrics)
	})
	return replicas, percent, raw, nil
}

// plainReplicas is the replica count an AverageValue target asks for, with
// the current average.
func (c calculator) plainReplicas(current int32, target int64, resource corev1.ResourceName, pods []*corev1.Pod, metrics podMetrics) (int32, int64, error) {
	if len(pods) == 0 {
		return 0, 0, errNoPods
	}
	readyCount, unready, missing, ignored := c.groupPods(pods, metrics, resource)
	metrics = without(metrics, ignored, unready)
	if len(metrics) == 0 {
		return 0, 0, errNoPodMetric
	}
	ratio, usage := average(metrics, target)
	replicas := c.adjust(current, readyCount, ratio, len(unready), len(missing), func() (float64, int) {
		for name := range missing {
			if ratio < 1 {
				metrics[name] = podMetric{value: target}
			} else {
				metrics[name] = podMetric{value: 0}
			}
		}
		if ratio > 1 {
			for name := range unready {
				metrics[name] = podMetric{value: 0}
			}
		}
		r, _ := average(metrics, target)
		return r, len(metrics)
	})
	return replicas, usage, nil
}

// adjust turns a usage ratio into a replica count. With every pod ready
// and measured, it is ceil(ratio × ready pods), or the current count within
// the tolerance. Otherwise the ratio is computed again with the missing and
// unready pods filled in (refill), and the scale moves only if that still
// points the same way.
func (c calculator) adjust(current int32, readyCount int, ratio float64, unready, missing int, refill func() (float64, int)) int32 {
	withUnready := unready > 0 && ratio > 1
	if !withUnready && missing == 0 {
		if math.Abs(1-ratio) <= c.tolerance {
			return current
		}
		return int32(math.Ceil(ratio * float64(readyCount)))
	}
	newRatio, n := refill()
	if math.Abs(1-newRatio) <= c.tolerance || (ratio < 1 && newRatio > 1) || (ratio > 1 && newRatio < 1) {
		return current
	}
	replicas := int32(math.Ceil(newRatio * float64(n)))
	if (newRatio < 1 && replicas > current) || (newRatio > 1 && replicas < current) {
		return current
	}
	return replicas
}

// without is metrics less the pods in any of sets.
func without(metrics podMetrics, sets ...map[string]bool) podMetrics {
	out := make(podMetrics, len(metrics))
	for name, m := range metrics {
		drop := false
		for _, s := range sets {
			drop = drop || s[name]
		}
		if !drop {
			out[name] = m
		}
	}
	return out
}
