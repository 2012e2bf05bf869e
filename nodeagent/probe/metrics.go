package probe

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/shoalmesh/shoal/internal/metrics"
)

// Metrics of the Manager's probes, labelled by probe kind and result only
// (small fixed sets), never by pod or container.
var (
	probes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "shoal", Subsystem: "nodeagent", Name: "probe_total",
		Help: "Probes run, by probe_type (liveness, readiness, startup) and result (success, failure, unknown: could not be run).",
	}, []string{"probe_type", "result"})
	probeSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "shoal", Subsystem: "nodeagent", Name: "probe_duration_seconds",
		Help:    "Time one probe took, by probe_type.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"probe_type"})
)

// RegisterMetrics adds the probe metrics to reg (the agent's registry).
func RegisterMetrics(reg prometheus.Registerer) error {
	return metrics.Register(reg, probes, probeSeconds)
}
