package l4

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoalmesh/shoal/internal/metrics"
)

// Metrics of every L4 listener of the process, by service (the xDS
// cluster name); the other labels are small fixed sets.
var (
	connectionsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "shoal", Subsystem: "proxy", Name: "connections_total",
		Help: "Downstream TCP connections handled, by service and result (proxied, no_endpoint, connect_failed).",
	}, []string{"service", "result"})
	activeConnections = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "shoal", Subsystem: "proxy", Name: "active_connections",
		Help: "Downstream TCP connections open now, by service.",
	}, []string{"service"})
	bytesTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "shoal", Subsystem: "proxy", Name: "bytes_total",
		Help: "Bytes proxied, by service and direction (upstream: client to endpoint, downstream: endpoint to client).",
	}, []string{"service", "direction"})
	connectFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "shoal", Subsystem: "proxy", Name: "connect_failures_total",
		Help: "Failed connects to an endpoint, each retry counted, by service.",
	}, []string{"service"})
	connectionDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "shoal", Subsystem: "proxy", Name: "connection_duration_seconds",
		Help:    "Lifetime of proxied TCP connections, from accept to close, by service.",
		Buckets: []float64{.001, .005, .01, .05, .1, .5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600},
	}, []string{"service"})

	series = metrics.NewServiceSeries(connectionsTotal, activeConnections, bytesTotal, connectFailures, connectionDuration)
)

// RegisterMetrics adds the L4 proxy's metrics to reg (the process's
// registry, served on the agent's /metrics). Registering twice is not an
// error.
func RegisterMetrics(reg prometheus.Registerer) error {
	return metrics.Register(reg, connectionsTotal, activeConnections, bytesTotal, connectFailures, connectionDuration)
}

// serviceMetrics are one service's series, resolved once so that the hot path
// does no label lookup.
type serviceMetrics struct {
	service                            string
	proxied, noEndpoint, connectFailed prometheus.Counter
	active                             prometheus.Gauge
	bytesUpstream, bytesDownstream     prometheus.Counter
	connectFailures                    prometheus.Counter
	duration                           prometheus.Observer
	releaseOnce                        sync.Once
}

// acquireMetrics returns service's series, creating them if needed.
func acquireMetrics(service string) *serviceMetrics {
	service = series.Acquire(service)
	return &serviceMetrics{
		service:         service,
		proxied:         connectionsTotal.WithLabelValues(service, "proxied"),
		noEndpoint:      connectionsTotal.WithLabelValues(service, "no_endpoint"),
		connectFailed:   connectionsTotal.WithLabelValues(service, "connect_failed"),
		active:          activeConnections.WithLabelValues(service),
		bytesUpstream:   bytesTotal.WithLabelValues(service, "upstream"),
		bytesDownstream: bytesTotal.WithLabelValues(service, "downstream"),
		connectFailures: connectFailures.WithLabelValues(service),
		duration:        connectionDuration.WithLabelValues(service),
	}
}

// release drops m's proxy from its service's users (once) and deletes the
// service's series when it was the last.
func (m *serviceMetrics) release() {
	m.releaseOnce.Do(func() { series.Release(m.service) })
}
