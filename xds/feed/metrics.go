package feed

import (
	"github.com/shoalmesh/shoal/internal/metrics"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	buildSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "shoal", Subsystem: "xds", Name: "build_duration_seconds",
		Help:    "Time to translate the services changed in one round and hand the changes to the server.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
	})
	updatedTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "shoal", Subsystem: "xds", Name: "resource_updates_total",
		Help: "Resources added or changed, by kind.",
	}, []string{"kind"})
	deletedTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "shoal", Subsystem: "xds", Name: "resource_deletes_total",
		Help: "Resources removed, by kind.",
	}, []string{"kind"})
)

// RegisterMetrics adds the feed's metrics to reg.
func RegisterMetrics(reg prometheus.Registerer) error {
	return metrics.Register(reg, buildSeconds, updatedTotal, deletedTotal)
}
