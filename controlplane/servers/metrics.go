package servers

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoalmesh/shoal/internal/metrics"
)

// Membership metrics; labels from small fixed sets.
var (
	joins = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "shoal", Subsystem: "servers", Name: "joins_total",
		Help: "Servers asking to join through this one, by result: added, refused_token, bad_request, conflict, error.",
	}, []string{"result"})
	promotions = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "shoal", Subsystem: "servers", Name: "promotions_total",
		Help: "etcd learners (joining servers) this server promoted to voting members.",
	})
	removals = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "shoal", Subsystem: "servers", Name: "removals_total",
		Help: "Servers removed through this one, by result: removed, not_found, refused, error.",
	}, []string{"result"})
)

// RegisterMetrics adds the membership metrics to reg.
func RegisterMetrics(reg prometheus.Registerer) error {
	return metrics.Register(reg, joins, promotions, removals)
}
