package scheduler

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/shoalmesh/shoal/internal/metrics"
)

// Results of a scheduling attempt, the values of the result label.
const (
	resultScheduled     = "scheduled"
	resultUnschedulable = "unschedulable"
	resultError         = "error"
)

var (
	attempts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "shoal", Subsystem: "scheduler", Name: "schedule_attempts_total",
		Help: "Attempts to schedule a pod, by result (scheduled, unschedulable, error).",
	}, []string{"result"})
	attemptSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "shoal", Subsystem: "scheduler", Name: "attempt_duration_seconds",
		Help:    "Time of one scheduling attempt, from taking the pod off the queue to its binding (or its Unschedulable status), by result.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
	}, []string{"result"})
	podSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "shoal", Subsystem: "scheduler", Name: "pod_scheduling_duration_seconds",
		Help:    "Time from the scheduler first seeing a pod pending to its binding, across attempts.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
	})
	unschedulablePods = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "shoal", Subsystem: "scheduler", Name: "unschedulable_pods",
		Help: "Pods that fit no node at their last attempt and wait for a change or their back-off.",
	})
)

// RegisterMetrics adds the scheduler's metrics to reg (the process's
// registry, served on the API server's /metrics).
func RegisterMetrics(reg prometheus.Registerer) error {
	return metrics.Register(reg, attempts, attemptSeconds, podSeconds, unschedulablePods)
}
