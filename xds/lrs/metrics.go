package lrs

import (
	"github.com/shoalmesh/shoal/internal/metrics"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics of the LRS server. None is labelled: node ids and IPs are not
// small fixed sets.
var (
	streamsGauge = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "shoal", Subsystem: "xds", Name: "lrs_streams",
		Help: "Open load reporting (LRS) streams.",
	})
	reportsTotal = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "shoal", Subsystem: "xds", Name: "lrs_reports_total",
		Help: "LoadStatsRequests received on established LRS streams.",
	})
	unattributedTotal = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "shoal", Subsystem: "xds", Name: "lrs_unattributed_total",
		Help: "Locality or endpoint stats ignored because they name no endpoint IP (a sub_zone or address that is not an IP).",
	})
	malformedTotal = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "shoal", Subsystem: "xds", Name: "lrs_malformed_total",
		Help: "Parts of load reports ignored as malformed (missing fields, absurd counts or intervals).",
	})
)

// RegisterMetrics adds the LRS server's metrics to reg (the process's
// registry, served on the API server's /metrics).
func RegisterMetrics(reg prometheus.Registerer) error {
	return metrics.Register(reg, streamsGauge, reportsTotal, unattributedTotal, malformedTotal)
}
