package controller

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/shoalmesh/shoal/internal/metrics"
)

// Metrics of every controller loop, labelled by the controller's name (a
// small fixed set), never by object.
var (
	reconciles = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "shoal", Subsystem: "controllers", Name: "reconciles_total",
		Help: "Reconciles of a key by controller and result (success or error).",
	}, []string{"controller", "result"})
	reconcileSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "shoal", Subsystem: "controllers", Name: "reconcile_duration_seconds",
		Help:    "Time to reconcile one key, by controller.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5},
	}, []string{"controller"})
	queueDepth = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "shoal", Subsystem: "controllers", Name: "queue_depth",
		Help: "Keys waiting in a controller's work queue.",
	}, []string{"controller"})
)

// RegisterMetrics adds the controllers' metrics to reg (the process's
// registry, served on the API server's /metrics).
func RegisterMetrics(reg prometheus.Registerer) error {
	return metrics.Register(reg, reconciles, reconcileSeconds, queueDepth)
}
